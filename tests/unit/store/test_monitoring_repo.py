"""The monitoring repositories (feedback, monitor reports, alert rules and alerts).

Every test runs on a real SQLite file and on a throwaway PostgreSQL database.
"""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.migrations.populate_store import (
    EXPECTED_FEEDBACK_ID,
    EXPECTED_LABELS,
    EXPECTED_MODEL,
    EXPECTED_REPORT_ID,
    EXPECTED_RULE_ID,
    EXPECTED_SEGMENT,
    EXPECTED_VALUES,
)

from modelcycle.core.errors import Conflict, InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import (
    HEAD_REVISION,
    AlertKind,
    AlertRule,
    AlertState,
    DeliveryStatus,
    MonitorReport,
    SqlMetadataStore,
    open_metadata_store,
    upgrade,
)

ASSETS = Path(__file__).parent.parent.parent / "assets" / "stores"
V1, V2 = "a" * 32, "b" * 32


def _ids(n: int) -> list[str]:
    return sorted(new_id() for _ in range(n))


# -- feedback -----------------------------------------------------------------------------


def test_feedback_is_recorded_in_bulk_and_read_back(store: SqlMetadataStore) -> None:
    ids = _ids(5000)  # more than one statement's worth of ids
    versions = [V1 if i % 2 else V2 for i in range(len(ids))]
    labels = [str(i % 3) for i in range(len(ids))]
    write = store.feedback.record(ids, versions, labels, source="file", actor="ana", at=1000)
    assert (write.added, write.relabelled, write.recorded) == (5000, 0, 5000)
    got = store.feedback.get(ids[7])
    assert (got.label, got.model_version_id, got.at, got.source, got.actor, got.revision) == (
        1,
        V1,
        1000,
        "file",
        "ana",
        1,
    )
    assert store.feedback.count() == 5000
    assert store.feedback.count(model_version_ids=[V1]) == 2500
    columns = store.feedback.columns(model_version_ids=[V2])
    assert columns["prediction_id"] == ids[0::2]
    assert columns["label"] == labels[0::2]
    assert set(columns) == {
        "prediction_id",
        "model_version_id",
        "label",
        "at",
        "source",
        "actor",
        "revision",
    }
    narrow = store.feedback.columns(model_version_ids=[V1], names=("at", "prediction_id"))
    assert list(narrow) == ["at", "prediction_id"]
    assert narrow["prediction_id"] == ids[1::2]
    with pytest.raises(InvalidInput, match=r"feedback columns \['score'\] unknown"):
        store.feedback.columns(names=("score",))


def test_relabelling_keeps_the_newest_and_the_history(store: SqlMetadataStore) -> None:
    [first, second] = _ids(2)
    store.feedback.record([first, second], [V1, V1], ["0", "0"], source="sdk", actor="a", at=1)
    write = store.feedback.record([first], [V1], ['"yes"'], source="http", actor="b", at=2)
    assert (write.added, write.relabelled) == (0, 1)
    store.feedback.record([first], [V1], ["[1, 2]"], source="file", actor="c", at=3)
    current = store.feedback.get(first)
    assert (current.label, current.revision, current.actor, current.at) == ([1, 2], 3, "c", 3)
    history = store.feedback.history(first)
    assert [(f.label, f.revision, f.source, f.at) for f in history] == [
        (0, 1, "sdk", 1),
        ("yes", 2, "http", 2),
        ([1, 2], 3, "file", 3),
    ]
    assert [f.revision for f in store.feedback.history(second)] == [1]
    assert store.feedback.history(new_id()) == []
    assert store.feedback.count() == 2


def test_feedback_filters_by_version_id_range_and_arrival_time(store: SqlMetadataStore) -> None:
    ids = _ids(30)
    for i, chunk in enumerate((ids[:10], ids[10:20], ids[20:])):
        store.feedback.record(
            chunk, [V1 if i < 2 else V2] * 10, ["1"] * 10, source="sdk", actor="a", at=100 * i
        )

    def picked(**filters: object) -> list[str]:
        return [f.prediction_id for f in store.feedback.labels(**filters)]  # type: ignore[arg-type]

    assert picked() == ids
    assert picked(model_version_ids=[V2]) == ids[20:]
    assert picked(min_prediction_id=ids[5], max_prediction_id=ids[12]) == ids[5:13]
    assert picked(since_ms=100, until_ms=200) == ids[10:20]
    assert picked(model_version_ids=[V1], since_ms=100, limit=3) == ids[10:13]
    assert picked(model_version_ids=[]) == []
    assert store.feedback.columns(model_version_ids=["c" * 32])["label"] == []


def test_a_failed_batch_stores_nothing(store: SqlMetadataStore) -> None:
    ids = _ids(3)
    store.feedback.record(ids[:1], [V1], ["1"], source="sdk", actor="a")
    # The label is NOT NULL: the third row fails after the first two were sent.
    with pytest.raises(Conflict, match=r"(?i)null"):
        store.feedback.record(ids, [V1] * 3, ["2", "2", None], source="sdk", actor="a")  # type: ignore[list-item]
    assert store.feedback.get(ids[0]).label == 1
    assert store.feedback.find(ids[1]) is None
    assert store.feedback.history(ids[0])[0].revision == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["x" * 32], [V1], ["1"]), r"prediction id 'x{32}' is not a 32-character hex id"),
        ((["a" * 32, "a" * 32], [V1, V1], ["1", "2"]), r"'a{32}' appears more than once"),
        ((["a" * 32], [V1, V2], ["1"]), r"1 prediction ids, 2 model versions and 1 labels"),
    ],
)
def test_malformed_feedback_is_refused(
    store: SqlMetadataStore, args: tuple[list[str], list[str], list[str]], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.feedback.record(*args, source="sdk", actor="a")
    assert store.feedback.count() == 0


def test_feedback_source_and_actor_are_checked(store: SqlMetadataStore) -> None:
    with pytest.raises(
        InvalidInput, match=r"source 'email' is not one of \['file', 'http', 'sdk'\]"
    ):
        store.feedback.record(["a" * 32], [V1], ["1"], source="email", actor="a")
    with pytest.raises(InvalidInput, match="actor '' must be a non-empty str"):
        store.feedback.record(["a" * 32], [V1], ["1"], source="sdk", actor="")
    with pytest.raises(NotFound, match=r"prediction 'c{32}' has no feedback"):
        store.feedback.get("c" * 32)


# -- monitor reports ----------------------------------------------------------------------


def _report(project_id: int, version: str, at: int, share: float, **extra: object) -> MonitorReport:
    return MonitorReport(
        id="",
        project_id=project_id,
        model_version_id=version,
        rows=100,
        created_at=at,
        window_start=at - 3_600_000,
        window_end=at,
        drift_share=share,
        dataset_drifted=share > 0.5,
        summary=extra.get(
            "summary", {"columns": {"age": {"score": share}}, "quality": {"missing": {"age": 3}}}
        ),  # type: ignore[arg-type]
    )


def test_reports_and_their_values_form_a_series(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    added = []
    for i, share in enumerate([0.1, 0.6, 0.3]):
        values = {
            "drift.share": share,
            "drift.column.age": share * 2,
            "drift.column.zip": 1.0 - share,
            "metric.roc_auc": 0.9 - i / 10,
        }
        added.append(
            store.monitor_reports.add(_report(project_id, V1, 10_000 * (i + 1), share), values)
        )
    store.monitor_reports.add(_report(project_id, V2, 15_000, 0.9), {"drift.share": 0.9})
    assert all(len(r.id) == 32 for r in added)
    got = store.monitor_reports.get(added[1].id)
    assert got == added[1]
    assert got.summary == {"columns": {"age": {"score": 0.6}}, "quality": {"missing": {"age": 3}}}
    assert (got.dataset_drifted, got.window_start, got.window_end) == (
        True,
        20_000 - 3_600_000,
        20_000,
    )
    shares = store.monitor_reports.series(V1, "drift.share")
    assert [(p.at, p.value, p.report_id) for p in shares["drift.share"]] == [
        (10_000, 0.1, added[0].id),
        (20_000, 0.6, added[1].id),
        (30_000, 0.3, added[2].id),
    ]
    columns = store.monitor_reports.series(V1, prefix="drift.column.", since_ms=20_000)
    assert sorted(columns) == ["drift.column.age", "drift.column.zip"]
    assert [p.value for p in columns["drift.column.zip"]] == [pytest.approx(0.4), 0.7]
    both = store.monitor_reports.series(V1, ["drift.share", "metric.roc_auc"], until_ms=20_000)
    assert {k: [p.at for p in v] for k, v in both.items()} == {
        "drift.share": [10_000],
        "metric.roc_auc": [10_000],
    }
    assert store.monitor_reports.keys(V1) == [
        "drift.column.age",
        "drift.column.zip",
        "drift.share",
        "metric.roc_auc",
    ]
    assert store.monitor_reports.values(added[2].id)["metric.roc_auc"] == pytest.approx(0.7)
    newest = store.monitor_reports.reports(project_id=project_id)
    assert [r.created_at for r in newest] == [30_000, 20_000, 15_000, 10_000]
    assert [r.id for r in store.monitor_reports.reports(model_version_id=V1, limit=2)] == [
        added[2].id,
        added[1].id,
    ]
    window = store.monitor_reports.reports(since_ms=15_000, until_ms=30_000)
    assert [r.created_at for r in window] == [20_000, 15_000]
    latest = store.monitor_reports.latest(V1)
    assert latest is not None
    assert latest.id == added[2].id
    assert store.monitor_reports.latest("c" * 32) is None


def test_nan_values_read_back_as_none(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    report = store.monitor_reports.add(
        _report(project_id, V1, 5, math.nan), {"metric.r2": math.nan, "metric.mae": None}
    )
    assert store.monitor_reports.get(report.id).drift_share is None
    assert store.monitor_reports.values(report.id) == {"metric.mae": None, "metric.r2": None}


def test_a_report_with_a_bad_value_is_not_stored(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    with pytest.raises(InvalidInput, match=r"monitor value drift.share='high' is not a number"):
        store.monitor_reports.add(_report(project_id, V1, 5, 0.1), {"drift.share": "high"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="monitor value key '' must be a non-empty str"):
        store.monitor_reports.add(_report(project_id, V1, 5, 0.1), {"": 1.0})
    with pytest.raises(InvalidInput, match="summary is not JSON-encodable"):
        store.monitor_reports.add(_report(project_id, V1, 5, 0.1, summary={"x": object()}))
    assert store.monitor_reports.reports() == []
    with pytest.raises(NotFound, match=r"no monitor report with id 'c{32}'"):
        store.monitor_reports.get("c" * 32)


def test_a_report_id_is_used_once(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    report = store.monitor_reports.add(_report(project_id, V1, 5, 0.1), {"drift.share": 0.1})
    with pytest.raises(Conflict, match="the store refused a write"):
        store.monitor_reports.add(report, {"drift.share": 0.2})
    assert store.monitor_reports.values(report.id) == {"drift.share": 0.1}


# -- alert rules and alerts ---------------------------------------------------------------


def _rule(project_id: int, **changes: object) -> AlertRule:
    fields: dict[str, object] = {
        "id": "",
        "project_id": project_id,
        "model_name": "churn",
        "kind": AlertKind.DRIFT_SHARE,
        "threshold": 0.3,
        "webhook_url": "http://127.0.0.1:8000/hook",
        "created_by": "ana",
    }
    fields.update(changes)
    return AlertRule(**fields)  # type: ignore[arg-type]


def test_rules_are_stored_listed_toggled_and_deleted(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    other = store.projects.id_of("q", create=True)
    share = store.alerts.add_rule(_rule(project_id, created_at=1))
    column = store.alerts.add_rule(
        _rule(project_id, kind="column_score", column="age", webhook_url=None, created_at=2)
    )
    store.alerts.add_rule(_rule(project_id, model_name="fraud", kind="p99_latency", threshold=250))
    store.alerts.add_rule(_rule(other))
    assert store.alerts.get_rule(column.id) == column
    assert (column.kind, column.column) == (AlertKind.COLUMN_SCORE, "age")
    assert [r.id for r in store.alerts.rules(project_id, "churn")] == [share.id, column.id]
    assert len(store.alerts.rules(project_id)) == 3
    off = store.alerts.set_rule_enabled(share.id, False)
    assert off.enabled is False
    assert [r.id for r in store.alerts.rules(project_id, "churn", enabled=True)] == [column.id]
    store.alerts.open_alert(share.id, 0.5)
    store.alerts.delete_rule(share.id)
    with pytest.raises(NotFound, match=f"no alert rule with id '{share.id}'"):
        store.alerts.get_rule(share.id)
    assert store.alerts.alerts(rule_id=share.id) == []
    with pytest.raises(NotFound, match="no alert rule"):
        store.alerts.delete_rule(share.id)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "latency"}, r"alert kind 'latency' is not one of \['drift_share'"),
        ({"kind": "column_score"}, "a column_score rule needs the column it watches"),
        ({"threshold": math.inf}, "threshold=inf must be a finite number"),
        ({"threshold": "0.3"}, "threshold='0.3' must be a number"),
        ({"webhook_url": "file:///etc/passwd"}, "must be an http:// or https:// URL"),
        ({"created_by": ""}, r"records who created it \(created_by\)"),
        ({"model_name": ""}, "names the registered model it watches"),
    ],
)
def test_malformed_rules_are_refused(
    store: SqlMetadataStore, changes: dict[str, object], message: str
) -> None:
    project_id = store.projects.id_of("p", create=True)
    with pytest.raises(InvalidInput, match=message):
        store.alerts.add_rule(_rule(project_id, **changes))
    assert store.alerts.rules(project_id) == []


def test_a_breach_fires_once_until_it_is_resolved(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    rule = store.alerts.add_rule(_rule(project_id))
    report = store.monitor_reports.add(_report(project_id, V1, 50, 0.6))
    alert, opened = store.alerts.open_alert(
        rule.id, 0.6, model_version_id=V1, report_id=report.id, at=100
    )
    assert opened
    assert (alert.state, alert.value, alert.opened_at, alert.report_id) == (
        AlertState.FIRING,
        0.6,
        100,
        report.id,
    )
    assert alert.delivery_status is DeliveryStatus.PENDING
    again, opened_again = store.alerts.open_alert(rule.id, 0.7, at=200)
    assert (again, opened_again) == (alert, False)
    assert store.alerts.firing_alert(rule.id) == alert
    resolved = store.alerts.resolve(rule.id, at=300)
    assert resolved is not None
    assert (resolved.id, resolved.state, resolved.resolved_at) == (alert.id, "resolved", 300)
    assert store.alerts.get_alert(alert.id) == resolved
    assert store.alerts.resolve(rule.id) is None
    assert store.alerts.firing_alert(rule.id) is None
    second, opened_second = store.alerts.open_alert(rule.id, 0.8, at=400)
    assert opened_second
    assert second.id != alert.id
    history = store.alerts.alerts(rule_id=rule.id)
    assert [(a.id, a.state) for a in history] == [
        (second.id, AlertState.FIRING),
        (alert.id, AlertState.RESOLVED),
    ]
    assert [a.id for a in store.alerts.alerts(state=AlertState.RESOLVED)] == [alert.id]
    assert [a.id for a in store.alerts.alerts(model_version_id=V1)] == [alert.id]
    assert [a.id for a in store.alerts.alerts(project_id=project_id, since_ms=150)] == [second.id]
    assert store.alerts.alerts(project_id=project_id + 1) == []


def test_racing_runs_open_one_alert(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    rule = store.alerts.add_rule(_rule(project_id))
    start = threading.Barrier(6)
    results: list[tuple[str, bool]] = []

    def run() -> None:
        start.wait()
        alert, opened = store.alerts.open_alert(rule.id, 0.9)
        results.append((alert.id, opened))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({alert_id for alert_id, _ in results}) == 1
    assert sum(opened for _, opened in results) == 1
    assert len(store.alerts.alerts(rule_id=rule.id)) == 1


def test_the_database_refuses_a_second_firing_alert(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    rule = store.alerts.add_rule(_rule(project_id))
    store.alerts.open_alert(rule.id, 0.9)
    statement = text(
        "INSERT INTO alerts (id, rule_id, firing_rule_id, state, opened_at, delivery_status, "
        "delivery_attempts) VALUES (:id, :rule, :rule, 'firing', 1, 'none', 0)"
    )
    with pytest.raises(Conflict, match="the store refused a write"), store.uow.write() as conn:
        conn.execute(statement, {"id": new_id(), "rule": rule.id})


def test_deliveries_are_counted_with_their_last_error(store: SqlMetadataStore) -> None:
    project_id = store.projects.id_of("p", create=True)
    rule = store.alerts.add_rule(_rule(project_id))
    quiet = store.alerts.add_rule(_rule(project_id, webhook_url=None))
    alert, _ = store.alerts.open_alert(rule.id, 0.5)
    failed = store.alerts.record_delivery(alert.id, delivered=False, error="timed out", at=10)
    assert (failed.delivery_status, failed.delivery_attempts, failed.last_error) == (
        DeliveryStatus.FAILED,
        1,
        "timed out",
    )
    done = store.alerts.record_delivery(alert.id, delivered=True, at=20)
    assert (done.delivery_status, done.delivery_attempts, done.last_error, done.delivered_at) == (
        DeliveryStatus.DELIVERED,
        2,
        None,
        20,
    )
    silent, _ = store.alerts.open_alert(quiet.id, 0.5)
    assert silent.delivery_status is DeliveryStatus.NONE
    with pytest.raises(NotFound, match=r"no alert with id 'c{32}'"):
        store.alerts.record_delivery("c" * 32, delivered=True)
    with pytest.raises(NotFound, match=r"no alert rule with id 'c{32}'"):
        store.alerts.open_alert("c" * 32, 1.0)


# -- the committed store of revision 0005 -------------------------------------------------


def test_the_0005_asset_holds_every_monitoring_record(tmp_path: Path) -> None:
    db = tmp_path / "modelcycle.db"
    shutil.copy(ASSETS / "0005.db", db)
    engine = create_engine(f"sqlite:///{db}")
    before, after = upgrade(engine)
    engine.dispose()
    assert (before, after) == ("0005", HEAD_REVISION)
    store = open_metadata_store(f"sqlite:///{db}")
    try:
        history = store.feedback.history(EXPECTED_FEEDBACK_ID)
        assert [f.label_json for f in history] == EXPECTED_LABELS
        assert [f.revision for f in history] == [1, 2]
        version = EXPECTED_SEGMENT.model_version_id
        report = store.monitor_reports.get(EXPECTED_REPORT_ID)
        assert (report.rows, report.drift_share, report.model_version_id) == (42, 0.25, version)
        assert store.monitor_reports.values(EXPECTED_REPORT_ID) == EXPECTED_VALUES
        rule = store.alerts.get_rule(EXPECTED_RULE_ID)
        assert (rule.model_name, rule.kind) == (EXPECTED_MODEL, AlertKind.DRIFT_SHARE)
        firing = store.alerts.firing_alert(EXPECTED_RULE_ID)
        assert firing is not None
        assert (firing.delivery_status, firing.last_error) == ("failed", "connection refused")
    finally:
        store.close()
