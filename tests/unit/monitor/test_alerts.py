"""Alert rules over monitor reports: fire once per breach, resolve, tell a real webhook.

Every test runs on a real SQLite file and on a throwaway PostgreSQL database; webhooks are a
real HTTP receiver on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.unit.monitor.test_webhooks import Receiver, closed_port_url

from modelcycle.core.entities.model import ColumnSpec, LoggedModel, ModelVersion, Signature
from modelcycle.core.entities.project import Direction, ProblemCard, Task
from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.services.monitor.alerts import (
    StateChange,
    add_alert_rule,
    alert_history,
    evaluate_alerts,
)
from modelcycle.services.monitor.webhooks import WebhookPolicy
from modelcycle.store.metadata import (
    AlertRule,
    AlertState,
    DeliveryStatus,
    MonitorReport,
    NewRun,
    SqlMetadataStore,
    StoredEvaluation,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.services.monitor.alerts import AlertOutcome

FAST = WebhookPolicy(attempts=3, backoff_s=0.05, timeout_s=2.0, budget_s=5.0)
T0 = 1_800_000_000_000


def register(
    store: SqlMetadataStore,
    model: str = "churn",
    *,
    project: str = "shop",
    card: ProblemCard | None = None,
) -> ModelVersion:
    """A registered model version (its run and logged model are plain rows)."""
    card = card or ProblemCard(task=Task.CLASSIFICATION, target="y", metric="roc_auc")
    project_id = store.projects.upsert(project, card).id
    run_id = new_id()
    store.runs.create(
        NewRun(run_id, project_id, "train", None, T0, None, None, CodeVersion(), None, {})
    )
    signature = Signature((ColumnSpec("x", "float"),), (ColumnSpec("y", "integer"),))
    logged = store.logged_models.add(
        LoggedModel("", run_id, "model", "sklearn", "b" * 64, 10, signature, ())
    )
    return store.registry.register(project_id, model, logged.id, "ana")


class Monitor:
    """Runs ``evaluate_alerts`` the way a monitor run does: one stored report per call."""

    def __init__(self, store: SqlMetadataStore, version: ModelVersion) -> None:
        self.store = store
        self.version = version
        self.project_id = store.projects.get(version.project).id
        self.at = T0

    def run(
        self,
        values: Mapping[str, float | None],
        summary: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[AlertOutcome]:
        self.at += 60_000
        row = MonitorReport(
            "",
            self.project_id,
            self.version.id,
            rows=100,
            created_at=self.at,
            summary=summary or {},
        )
        report = self.store.monitor_reports.add(row, values)
        return evaluate_alerts(
            self.store,
            project_id=self.project_id,
            model_name=self.version.name,
            model_version_id=self.version.id,
            report_id=report.id,
            values=values,
            at_ms=self.at,
            policy=options.pop("policy", FAST),
            **options,
        )


def _rule(
    store: SqlMetadataStore, version: ModelVersion, kind: str, threshold: float, **options: Any
) -> AlertRule:
    project_id = store.projects.get(version.project).id
    return add_alert_rule(
        store,
        project_id=project_id,
        model_name=version.name,
        kind=kind,
        threshold=threshold,
        actor="ana",
        **options,
    )


# -- fire once, resolve, notify -----------------------------------------------------------


def test_a_breach_posts_once_and_recovery_posts_resolved(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    with Receiver() as receiver:
        rule = _rule(store, version, "drift_share", 0.3, webhook=receiver.url)
        [first] = monitor.run({"drift.share": 0.45, "ops.rows": 100})
        assert first.change is StateChange.OPENED
        assert first.value == 0.45
        assert first.alert is not None
        assert first.alert.state is AlertState.FIRING
        assert first.alert.delivery_status is DeliveryStatus.DELIVERED
        assert first.delivery is not None
        assert first.delivery.delivered
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        assert {k: body[k] for k in ("event", "state", "kind", "value", "threshold")} == {
            "event": "alert.firing",
            "state": "firing",
            "kind": "drift_share",
            "value": 0.45,
            "threshold": 0.3,
        }
        assert (body["alert_id"], body["rule_id"]) == (first.alert.id, rule.id)
        assert (body["project"], body["model_name"], body["model_version"]) == ("shop", "churn", 1)
        assert body["model_version_id"] == version.id
        assert body["report_id"] == first.alert.report_id
        assert body["opened_at"] == body["at"] == monitor.at
        assert body["summary"] == "churn@1: drift share 0.45 is above 0.3 (firing)"

        [second] = monitor.run({"drift.share": 0.6})
        assert second.change is StateChange.STILL_FIRING
        assert second.alert is not None
        assert second.alert.id == first.alert.id
        assert second.delivery is None
        assert len(receiver.bodies) == 1  # a lasting breach fires once

        [third] = monitor.run({"drift.share": 0.1})
        assert third.change is StateChange.RESOLVED
        assert third.alert is not None
        assert third.alert.state is AlertState.RESOLVED
        assert third.alert.resolved_at == monitor.at
        assert len(receiver.bodies) == 2
        resolved = receiver.bodies[1]
        assert (resolved["event"], resolved["alert_id"], resolved["value"]) == (
            "alert.resolved",
            first.alert.id,
            0.1,
        )
        assert resolved["opened_value"] == 0.45
        assert resolved["resolved_at"] == monitor.at
        assert resolved["summary"] == "churn@1: drift share 0.1 is back at or under 0.3 (resolved)"

        [fourth] = monitor.run({"drift.share": 0.05})
        assert (fourth.change, fourth.alert, fourth.delivery) == (StateChange.OK, None, None)
        [fifth] = monitor.run({"drift.share": 0.5})  # a new breach opens a new alert
        assert fifth.change is StateChange.OPENED
        assert fifth.alert is not None
        assert fifth.alert.id != first.alert.id
        assert len(receiver.bodies) == 3
    history = store.alerts.alerts(rule_id=rule.id)
    assert [a.state for a in history] == [AlertState.FIRING, AlertState.RESOLVED]


def test_a_value_at_the_threshold_does_not_fire(store: SqlMetadataStore) -> None:
    version = register(store)
    _rule(store, version, "drift_share", 0.3)
    [outcome] = Monitor(store, version).run({"drift.share": 0.3})
    assert outcome.change is StateChange.OK


def test_a_missing_value_is_no_value_and_keeps_the_alert_firing(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    rule = _rule(store, version, "error_rate", 0.05)
    assert monitor.run({"ops.error_rate": 0.2})[0].change is StateChange.OPENED
    [missing] = monitor.run({"drift.share": 0.0})
    assert missing.change is StateChange.NO_VALUE
    assert missing.value is None
    assert missing.note == "the report has no ops.error_rate"
    assert missing.alert is not None
    assert missing.alert.state is AlertState.FIRING
    [nan] = monitor.run({"ops.error_rate": float("nan")})
    assert nan.change is StateChange.NO_VALUE
    assert nan.note == "ops.error_rate has no value in this report"
    [inf] = monitor.run({"ops.error_rate": float("inf")})
    assert inf.change is StateChange.NO_VALUE
    firing = store.alerts.firing_alert(rule.id)
    assert firing is not None
    assert firing.delivery_status is DeliveryStatus.NONE  # the rule has no webhook


def test_each_kind_reads_its_own_value(store: SqlMetadataStore) -> None:
    version = register(store)
    rules = {
        "drift_share": _rule(store, version, "drift_share", 0.5),
        "column_score": _rule(store, version, "column_score", 0.2, column="age"),
        "error_rate": _rule(store, version, "error_rate", 0.01),
        "p99_latency": _rule(store, version, "p99_latency", 250),
        "metric_drop": _rule(store, version, "metric_drop", 0.05, metric="f1"),
    }
    values = {
        "drift.share": 0.4,  # under
        "drift.column.age": 0.35,  # over
        "drift.column.income": 0.9,  # another column: not this rule's
        "ops.error_rate": 0.0,  # under
        "ops.p99_latency_ms": 410.0,  # over
        "metric_drop.f1": 0.08,  # over
        "metric_drop.roc_auc": 0.0,
    }
    outcomes = Monitor(store, version).run(values)
    assert [o.rule.id for o in outcomes] == [r.id for r in rules.values()]
    got = {o.rule.kind.value: (o.change, o.value) for o in outcomes}
    assert got == {
        "drift_share": (StateChange.OK, 0.4),
        "column_score": (StateChange.OPENED, 0.35),
        "error_rate": (StateChange.OK, 0.0),
        "p99_latency": (StateChange.OPENED, 410.0),
        "metric_drop": (StateChange.OPENED, 0.08),
    }


def test_a_column_scored_by_a_p_value_fires_below_the_threshold(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    summary = {
        "tests": {"age": "ks", "income": "psi"},
        "higher_is_drift": {"age": False, "income": True},
    }
    with Receiver() as receiver:
        age = _rule(store, version, "column_score", 0.05, column="age", webhook=receiver.url)
        income = _rule(store, version, "column_score", 0.2, column="income")
        drifted = monitor.run({"drift.column.age": 0.001, "drift.column.income": 0.1}, summary)
        assert [(o.rule.id, o.change) for o in drifted] == [
            (age.id, StateChange.OPENED),
            (income.id, StateChange.OK),
        ]
        calm = monitor.run({"drift.column.age": 0.6, "drift.column.income": 0.35}, summary)
        assert [(o.rule.id, o.change) for o in calm] == [
            (age.id, StateChange.RESOLVED),
            (income.id, StateChange.OPENED),
        ]
    firing, resolved = receiver.bodies
    assert (firing["test"], firing["fires_when"], firing["value"]) == ("ks", "below", 0.001)
    assert firing["summary"] == "churn@1: drift score of column 'age' 0.001 is below 0.05 (firing)"
    assert resolved["summary"] == (
        "churn@1: drift score of column 'age' 0.6 is back at or above 0.05 (resolved)"
    )
    # Without a stored report to say how the column was scored, a score reads as a distance.
    unsure, _ = evaluate_alerts(
        store,
        project_id="shop",
        model_name="churn",
        model_version_id=version.id,
        report_id=None,
        values={"drift.column.age": 0.01},
        at_ms=monitor.at + 1,
        deliver=False,
    )
    assert unsure.rule.id == age.id
    assert unsure.change is StateChange.OK


def test_disabled_rules_and_other_models_rules_are_not_evaluated(store: SqlMetadataStore) -> None:
    version = register(store)
    other = register(store, "fraud")
    off = _rule(store, version, "drift_share", 0.1)
    store.alerts.set_rule_enabled(off.id, False)
    _rule(store, other, "drift_share", 0.1)
    on = _rule(store, version, "drift_share", 0.2)
    outcomes = Monitor(store, version).run({"drift.share": 0.9})
    assert [(o.rule.id, o.change) for o in outcomes] == [(on.id, StateChange.OPENED)]
    assert store.alerts.firing_alert(off.id) is None


# -- delivery failures --------------------------------------------------------------------


def test_a_down_webhook_is_recorded_and_the_next_run_delivers(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    policy = WebhookPolicy(attempts=3, backoff_s=0.1, timeout_s=1.0, budget_s=3.0)
    with Receiver() as receiver:
        # The receiver is reached through a second rule; the first points at a closed port.
        down = _rule(store, version, "drift_share", 0.3, webhook=closed_port_url())
        [outcome] = [
            o for o in monitor.run({"drift.share": 0.5}, policy=policy) if o.rule.id == down.id
        ]
        assert outcome.change is StateChange.OPENED
        assert outcome.delivery is not None
        assert not outcome.delivery.delivered
        assert outcome.delivery.attempts == 3
        assert outcome.alert is not None
        assert outcome.alert.delivery_status is DeliveryStatus.FAILED
        assert outcome.alert.delivery_attempts == 3
        assert outcome.alert.last_error is not None
        assert "cannot reach" in outcome.alert.last_error

        # The webhook comes back: the same URL now reaches the receiver.
        store.alerts.delete_rule(down.id)
        rule = _rule(store, version, "drift_share", 0.3, webhook=receiver.url)
        receiver.statuses = [500]
        [opened] = monitor.run({"drift.share": 0.5})
        assert opened.delivery is not None
        assert opened.delivery.attempts == 2  # a 500, then delivered
        assert opened.alert is not None
        assert opened.alert.delivery_status is DeliveryStatus.DELIVERED
        assert store.alerts.get_alert(opened.alert.id).rule_id == rule.id


def test_an_undelivered_firing_alert_is_retried_once_per_run(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    one_try = WebhookPolicy(attempts=1, timeout_s=2.0, budget_s=5.0)
    with Receiver(statuses=[503, 503]) as receiver:
        _rule(store, version, "p99_latency", 100, webhook=receiver.url)
        [first] = monitor.run({"ops.p99_latency_ms": 150.0}, policy=one_try)
        assert first.alert is not None
        assert first.alert.delivery_status is DeliveryStatus.FAILED
        [second] = monitor.run({"ops.p99_latency_ms": 160.0}, policy=one_try)
        assert second.change is StateChange.STILL_FIRING
        assert second.delivery is not None
        assert not second.delivery.delivered
        [third] = monitor.run({}, policy=one_try)  # no value: still firing, still owed
        assert third.change is StateChange.NO_VALUE
        assert third.delivery is not None
        assert third.delivery.delivered
        assert third.alert is not None
        assert (third.alert.delivery_status, third.alert.delivery_attempts) == (
            DeliveryStatus.DELIVERED,
            3,
        )
        [fourth] = monitor.run({"ops.p99_latency_ms": 170.0}, policy=one_try)
        assert fourth.delivery is None
    assert receiver.answered == [503, 503, 200]
    assert {b["alert_id"] for b in receiver.bodies} == {first.alert.id}
    assert receiver.bodies[-1]["value"] is None


def test_deliver_false_leaves_the_notice_pending_for_a_later_run(store: SqlMetadataStore) -> None:
    version = register(store)
    monitor = Monitor(store, version)
    with Receiver() as receiver:
        _rule(store, version, "drift_share", 0.3, webhook=receiver.url)
        [quiet] = monitor.run({"drift.share": 0.5}, deliver=False)
        assert quiet.delivery is None
        assert quiet.alert is not None
        assert quiet.alert.delivery_status is DeliveryStatus.PENDING
        assert receiver.bodies == []
        [later] = monitor.run({"drift.share": 0.5})
        assert later.change is StateChange.STILL_FIRING
        assert later.delivery is not None
        assert later.delivery.delivered
    assert len(receiver.bodies) == 1


# -- metric drops -------------------------------------------------------------------------


def test_metric_drop_defaults_to_the_projects_primary_metric(store: SqlMetadataStore) -> None:
    version = register(store)
    rule = _rule(store, version, "metric_drop", 0.05)
    assert rule.metric is None
    monitor = Monitor(store, version)
    [outcome] = monitor.run({"metric_drop.roc_auc": 0.07, "metric_drop.f1": 0.0})
    assert (outcome.change, outcome.value) == (StateChange.OPENED, 0.07)
    [back] = monitor.run({"metric_drop.roc_auc": -0.01})  # better than the baseline
    assert back.change is StateChange.RESOLVED


def _evaluate(
    store: SqlMetadataStore, version: ModelVersion, tmp_path: Path, metrics: dict[str, float]
) -> None:
    """Store an evaluation of the version on a registered dataset version."""
    import pyarrow as pa

    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.store.artifacts import open_artifact_store

    data = DatasetVersions(store, open_artifact_store(str(tmp_path / "artifacts")))
    dataset = data.register(version.project, "holdout", pa.table({"x": [1.0, 2.0]}))
    store.logged_models.add_evaluation(
        StoredEvaluation(
            new_id(),
            version.model.id,
            dataset.id,
            None,
            "classification",
            metrics,
            "c" * 64,
            "d" * 64,
            None,
            T0,
        )
    )


def test_metric_drop_is_worked_out_from_the_stored_evaluation(
    store: SqlMetadataStore, tmp_path: Path
) -> None:
    card = ProblemCard(task=Task.REGRESSION, metric="rmse", direction=Direction.MINIMIZE)
    version = register(store, "price", card=card)
    _evaluate(store, version, tmp_path, {"rmse": 10.0, "r2": 0.8})
    on_rmse = _rule(store, version, "metric_drop", 1.5)  # the primary metric, lower is better
    on_r2 = _rule(store, version, "metric_drop", 0.1, metric="r2")  # higher is better
    on_mae = _rule(store, version, "metric_drop", 0.1, metric="mae")  # not in the baseline
    outcomes = Monitor(store, version).run({"metric.rmse": 12.0, "metric.r2": 0.75})
    got = {o.rule.id: (o.change, o.value, o.note) for o in outcomes}
    assert got[on_rmse.id] == (StateChange.OPENED, 2.0, None)
    assert got[on_r2.id][0] is StateChange.OK
    assert got[on_r2.id][1] == pytest.approx(0.05)
    assert got[on_mae.id] == (
        StateChange.NO_VALUE,
        None,
        "the report has no value of mae (no metric.mae)",
    )
    outcomes = Monitor(store, version).run({"metric.mae": 3.0})
    assert {o.rule.id: o.note for o in outcomes}[on_mae.id] == (
        "no stored evaluation of this version has mae to compare with"
    )


def test_a_reported_drop_wins_over_working_it_out(store: SqlMetadataStore, tmp_path: Path) -> None:
    version = register(store)
    _evaluate(store, version, tmp_path, {"roc_auc": 0.9})
    _rule(store, version, "metric_drop", 0.05)
    [outcome] = Monitor(store, version).run({"metric.roc_auc": 0.7, "metric_drop.roc_auc": 0.01})
    assert (outcome.change, outcome.value) == (StateChange.OK, 0.01)


# -- rules: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "threshold", "options", "error", "match"),
    [
        ("drift", 0.3, {}, InvalidInput, "alert kind 'drift' is not one of drift_share, "),
        ("drift_share", 1.5, {}, InvalidInput, "the threshold of a drift_share rule is a share"),
        ("error_rate", -0.1, {}, InvalidInput, "the threshold of an error_rate rule is a share"),
        ("p99_latency", -5, {}, InvalidInput, "milliseconds >= 0"),
        ("drift_share", "high", {}, InvalidInput, "threshold='high' must be a number"),
        ("drift_share", float("nan"), {}, InvalidInput, "must be a finite number"),
        ("column_score", 0.2, {}, InvalidInput, "needs the column it watches"),
        ("drift_share", 0.2, {"column": "age"}, InvalidInput, "column_score rules only"),
        ("error_rate", 0.2, {"metric": "f1"}, InvalidInput, "metric_drop rules only"),
        ("drift_share", 0.2, {"webhook": "ftp://x/y"}, InvalidInput, "http:// or https://"),
        ("drift_share", 0.2, {"webhook": "localhost:9000"}, InvalidInput, "https://"),
        ("drift_share", 0.2, {"model_name": "nope"}, NotFound, "no model 'nope' is registered"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(
    store: SqlMetadataStore,
    kind: str,
    threshold: Any,
    options: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    version = register(store)
    project_id = store.projects.get("shop").id
    options = dict(options)  # the parameters are shared by both stores' runs
    model_name = options.pop("model_name", version.name)
    with pytest.raises(error, match=match):
        add_alert_rule(
            store,
            project_id=project_id,
            model_name=model_name,
            kind=kind,
            threshold=threshold,
            actor="ana",
            **options,
        )
    assert store.alerts.rules(project_id) == []


def test_a_metric_drop_rule_needs_a_metric_when_the_project_has_none(
    store: SqlMetadataStore,
) -> None:
    version = register(store, card=ProblemCard(task=Task.CLASSIFICATION))
    with pytest.raises(InvalidInput, match="project 'shop' declares no primary metric"):
        _rule(store, version, "metric_drop", 0.05)
    assert _rule(store, version, "metric_drop", 0.05, metric="f1").metric == "f1"


def test_values_that_are_not_numbers_are_refused(store: SqlMetadataStore) -> None:
    version = register(store)
    _rule(store, version, "drift_share", 0.3)
    with pytest.raises(InvalidInput, match=r"monitor value drift.share='high' is not a number"):
        evaluate_alerts(
            store,
            project_id=store.projects.get("shop").id,
            model_name="churn",
            model_version_id=version.id,
            report_id=None,
            values={"drift.share": "high"},  # type: ignore[dict-item]
            at_ms=T0,
        )


def test_the_project_may_be_named_by_id_text_or_name(store: SqlMetadataStore) -> None:
    version = register(store)
    _rule(store, version, "drift_share", 0.3)
    project_id = store.projects.get("shop").id
    for key in (str(project_id), "shop"):
        [outcome] = evaluate_alerts(
            store,
            project_id=key,
            model_name="churn",
            model_version_id=version.id,
            report_id=None,
            values={"drift.share": 0.1},
            at_ms=T0,
        )
        assert outcome.change is StateChange.OK
    with pytest.raises(NotFound, match="no project named 'nowhere'"):
        evaluate_alerts(
            store,
            project_id="nowhere",
            model_name="churn",
            model_version_id=version.id,
            report_id=None,
            values={},
            at_ms=T0,
        )


def test_history_filters_by_model_and_state(store: SqlMetadataStore) -> None:
    churn = register(store)
    fraud = register(store, "fraud")
    project_id = store.projects.get("shop").id
    _rule(store, churn, "drift_share", 0.3)
    _rule(store, fraud, "drift_share", 0.3)
    churn_monitor, fraud_monitor = Monitor(store, churn), Monitor(store, fraud)
    churn_monitor.run({"drift.share": 0.5})
    churn_monitor.run({"drift.share": 0.1})
    churn_monitor.run({"drift.share": 0.6})
    fraud_monitor.run({"drift.share": 0.9})
    everything = alert_history(store, project_id=project_id)
    assert len(everything) == 3
    churn_alerts = alert_history(store, project_id=project_id, model_name="churn")
    assert [a.state for a in churn_alerts] == [AlertState.FIRING, AlertState.RESOLVED]
    assert [a.opened_at for a in churn_alerts] == sorted(
        (a.opened_at for a in churn_alerts), reverse=True
    )
    firing = alert_history(store, project_id=project_id, state="firing")
    assert len(firing) == 2
    assert len(alert_history(store, project_id=project_id, model_name="churn", limit=1)) == 1
    with pytest.raises(InvalidInput, match="state 'open' is not one of"):
        alert_history(store, project_id=project_id, state="open")


def test_a_performance_reports_drops_become_metric_drop_values() -> None:
    from datetime import UTC, datetime

    import polars as pl

    from modelcycle.services.monitor.alerts import metric_drop_values
    from modelcycle.services.monitor.performance import compute_performance

    labels = [0, 1] * 50
    predicted = [0, 1] * 40 + [1, 0] * 10  # 80 right, 20 wrong
    at = [datetime.fromtimestamp((T0 + i) / 1000, UTC) for i in range(100)]
    frame = pl.DataFrame(
        {
            "at": pl.Series(at, dtype=pl.Datetime("ms", "UTC")),
            "label": labels,
            "output.prediction": predicted,
        }
    )
    report = compute_performance(
        frame, task="classification", primary_metric="accuracy", baseline={"accuracy": 0.95}
    )
    assert metric_drop_values(report) == {"metric_drop.accuracy": pytest.approx(0.15)}
