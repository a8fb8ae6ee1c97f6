"""One monitor run end to end: a real model, its logged predictions, labels, stored reports."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modelcycle as mc
from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.sdk import session
from modelcycle.services.data.rules import RuleSet
from modelcycle.services.monitor.alerts import StateChange, add_alert_rule
from modelcycle.services.monitor.reference import LogWindow, WindowReference
from modelcycle.services.monitor.run import STEPS, run_monitor
from modelcycle.store.predictions import PredictionLogWriter

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.monitor.run import MonitorResult

FEATURES = ["age", "income", "plan"]
BASE_MS = 1_800_000_000_000
HOUR = 3_600_000


def churn_data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Customers: age and income move with ``shift``; the plan mix stays."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift * 15, 10, n)
    income = rng.lognormal(10 + shift, 0.5, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    logit = 0.08 * (age - 40) - 0.8 * (plan == "pro") + rng.normal(0, 1, n)
    return pd.DataFrame(
        {"age": age, "income": income, "plan": plan, "churned": (logit > 0).astype(int)}
    )


@dataclass
class Store:
    session: session.Session
    run_id: str
    model: Any


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    mc.configure(str(tmp_path_factory.mktemp("monitor") / "store"))
    mc.set_project("churn", task="classification", target="churned", metric="roc_auc")
    train, test = churn_data(1500, 0), churn_data(400, 99)
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ]
        ),
        LogisticRegression(),
    ).fit(train[FEATURES], train["churned"])
    with mc.start_run() as run:
        mc.log_input(mc.data.register("churn-train", train), role="train")
        mc.log_model(model, input_example=train[FEATURES].head(5))
    first = mc.models.register(run, "churn")
    mc.evaluate(first, mc.data.register("churn-test", test))
    yield Store(session.get_session(), run.id, model)
    session.configure()


@pytest.fixture
def version(store: Store) -> ModelVersion:
    """A new version of the trained model: its own prediction log and reports."""
    session.get_session().project = "churn"
    return mc.models.register(store.run_id, "churn")


def _run(version: ModelVersion, **options: Any) -> MonitorResult:
    current = session.get_session()
    return run_monitor(current.registry, current.data, "churn", version.ref, **options)


def _score(version: ModelVersion, frame: pd.DataFrame) -> pd.DataFrame:
    scored = mc.predict_batch(version.ref, frame[FEATURES])
    assert isinstance(scored, pd.DataFrame)
    return scored


def _log(version: ModelVersion, rows: list[dict[str, Any]], start_ms: int, step_ms: int) -> None:
    """Log rows as the endpoint does: one record per row, latency ``i % 50`` ms."""
    current = session.get_session()
    records = []
    for i, row in enumerate(rows):
        at = start_ms + i * step_ms
        inputs = {k: v for k, v in row.items() if k not in ("prediction", "churned")}
        records.append(
            PredictionRecord(
                f"{at:012x}{os.urandom(10).hex()}",
                at,
                version.id,
                float(i % 50),
                inputs,
                {"prediction": row["prediction"]},
            )
        )
    with PredictionLogWriter(current.metadata, current.artifacts) as writer:
        writer.submit_many(records)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def test_shifted_traffic_drifts_and_the_report_is_stored(version: ModelVersion) -> None:
    _score(version, churn_data(600, 1, shift=1.0))
    steps: list[tuple[str, int, int]] = []
    result = _run(version, progress=lambda *step: steps.append(step))
    assert [s[0] for s in steps] == list(STEPS)
    assert set(result.drift.drifted_columns) == {"age", "income"}
    assert result.drift.drifted
    assert result.prediction_drift is not None
    assert result.prediction_drift.drifted
    # The reference is the training data from lineage, scored by the model once.
    assert result.report.reference == "churn-train@1"
    assert result.prediction_drift.reference_rows == 1500
    values = result.values
    assert values["drift.share"] == pytest.approx(2 / 3)
    assert values["drift.drifted_columns"] == 2
    assert values["drift.column.age"] == result.drift.columns["age"].score
    assert values["drift.prediction"] == result.prediction_drift.score
    assert values["ops.rows"] == 600
    assert values["ops.rows_per_minute"] is None  # one batch: no time passed between its rows
    assert values["ops.p99_latency_ms"] is None  # batch rows carry no latency
    assert values["quality.schema_violations"] == 0
    assert values["quality.unseen.plan"] == 0
    assert "quality.out_of_range.age" in values
    assert "quality.missing.income" in values
    metadata = session.get_session().metadata
    stored = metadata.monitor_reports.get(result.id)
    assert stored == result.report
    assert stored.rows == 600
    assert stored.dataset_drifted
    assert stored.summary["drifted_columns"] == ["age", "income"]
    assert stored.summary["tests"]["age"] == result.drift.columns["age"].test
    assert metadata.monitor_reports.values(result.id) == pytest.approx(dict(values), nan_ok=True)
    assert metadata.monitor_reports.latest(version.id) == stored


def test_the_json_and_html_reports_are_in_the_artifact_store(version: ModelVersion) -> None:
    _score(version, churn_data(300, 2, shift=1.0))
    result = _run(version)
    artifacts = session.get_session().artifacts
    assert result.report.json_digest is not None
    assert result.report.html_digest is not None
    data = orjson.loads(artifacts.read_bytes(result.report.json_digest))  # type: ignore[arg-type]
    assert data["format"] == "modelcycle.monitor_report/1"
    assert data["id"] == result.id
    assert data["drift"]["drifted_columns"] == result.drift.drifted_columns
    assert data["values"]["drift.share"] == pytest.approx(result.values["drift.share"])
    html = artifacts.read_bytes(result.report.html_digest).decode()  # type: ignore[arg-type]
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", html)
    assert html.count("Plotly.newPlot") == 1
    assert "plotly.js v" in html.lower()
    figures = orjson.loads(html.split('id="mc-figures">', 1)[1].split("</script>", 1)[0])
    assert {"time-drift-share", "time-columns", "prediction-dist"} <= set(figures)
    assert {f"col-{i}-dist" for i in (0, 1)} <= set(figures)  # age and income drifted
    assert any(key.startswith("scores-") for key in figures)


def test_unshifted_traffic_does_not_drift(version: ModelVersion) -> None:
    _score(version, churn_data(600, 3))
    result = _run(version)
    assert result.drift.drifted_columns == []
    assert not result.drift.drifted
    assert result.prediction_drift is not None
    assert not result.prediction_drift.drifted
    assert result.values["drift.share"] == 0


def test_labels_give_performance_against_the_evaluation(
    store: Store, version: ModelVersion
) -> None:
    frame = churn_data(400, 4)
    scored = _score(version, frame)
    labels = pd.DataFrame({"prediction_id": scored["prediction_id"], "label": frame["churned"]})
    mc.feedback(labels)
    result = _run(version)
    performance = result.performance
    assert performance is not None
    assert performance.primary_metric == "roc_auc"
    assert performance.overall.labels == 400
    expected = store.model.score(frame[FEATURES], frame["churned"])
    assert result.values["metric.accuracy"] == pytest.approx(expected)
    assert result.values["feedback.labels"] == 400
    # The version's evaluation is the baseline: every metric has its drop.
    for name in performance.metrics:
        assert f"metric_drop.{name}" in result.values
    assert result.report.summary["primary_metric"] == "roc_auc"
    assert result.report.summary["primary_value"] == result.values["metric.roc_auc"]


def test_no_labels_is_a_note_not_an_error(version: ModelVersion) -> None:
    _score(version, churn_data(100, 5))
    result = _run(version)
    assert result.performance is None
    assert not any(key.startswith("metric.") for key in result.values)
    assert any("no labels yet" in note for note in result.notes)


def test_live_quality_counts_missing_unseen_out_of_range_schema_and_rules(
    version: ModelVersion,
) -> None:
    mc.data.set_rules(
        "churn-train",
        RuleSet.from_yaml(
            "- range: {column: age, min: 0, max: 120}\n"
            "- allowed_values: {column: plan, values: [basic, plus, pro]}\n"
            "- row_count: {min: 1000}\n"
            "- not_null: {column: churned}\n"
        ),
    )
    rows = _records(churn_data(200, 6))
    for i, row in enumerate(rows):
        row["coupon"] = "spring"  # logged, but the model does not take it
        row["prediction"] = 1
        if i < 10:
            row["age"] = None
        elif i < 15:
            row["plan"] = "enterprise"
        elif i < 18:
            row["age"] = 150.0
    _log(version, rows, BASE_MS, 1000)
    result = _run(version, window=LogWindow(since_ms=BASE_MS))
    quality = result.quality
    age, plan = quality.columns["age"], quality.columns["plan"]
    assert (age.missing, age.out_of_range) == (10, 3)
    assert (plan.unseen, plan.unseen_examples) == (5, ("enterprise",))
    assert [(v.column, v.kind) for v in quality.schema] == [("coupon", "extra")]
    checks = {r.kind: r for r in quality.rules}
    assert checks["range"].passed is False
    assert checks["range"].failing_count == 3
    assert checks["allowed_values"].failing_count == 5
    assert checks["row_count"].passed is None
    assert checks["not_null"].message == "skipped: the window has no column 'churned'"
    assert quality.rules_source == "churn-train"
    values = result.values
    assert values["quality.missing.age"] == pytest.approx(10 / 200)
    assert values["quality.out_of_range.age"] == pytest.approx(3 / 200)
    assert values["quality.unseen.plan"] == pytest.approx(5 / 200)
    assert values["quality.schema_violations"] == 1
    assert values["quality.rules_failed"] == 2
    # Ops: the endpoint's latencies and the rate over the window.
    latencies = np.arange(200) % 50
    assert values["ops.p50_latency_ms"] == pytest.approx(np.percentile(latencies, 50))
    assert values["ops.p99_latency_ms"] == pytest.approx(np.percentile(latencies, 99))
    # 200 predictions a second apart; the window is open-ended, and the clock is before them.
    assert values["ops.rows_per_minute"] == pytest.approx(200 / (199 / 60))


def test_time_windows_read_only_their_predictions(version: ModelVersion) -> None:
    rows = _records(churn_data(240, 7))
    for row in rows:
        row["prediction"] = 0
    _log(version, rows, BASE_MS, 60_000)  # one a minute for four hours
    now = BASE_MS + 4 * HOUR
    result = _run(version, window=LogWindow(span_ms=HOUR), now_ms=now)
    assert result.report.rows == 60
    assert (result.report.window_start, result.report.window_end) == (now - HOUR, None)
    assert result.values["ops.rows_per_minute"] == pytest.approx(1.0)
    ranged = _run(version, window=LogWindow(since_ms=BASE_MS, until_ms=BASE_MS + HOUR))
    assert ranged.report.rows == 60
    newest = _run(version, window=LogWindow(last=25))
    assert newest.report.rows == 25
    assert newest.window == "last 25 predictions"


def test_a_window_of_the_log_can_be_the_reference(version: ModelVersion) -> None:
    early = _records(churn_data(300, 8))
    late = _records(churn_data(300, 9, shift=1.0))
    for row in early:
        row["prediction"] = "stay"
    for row in late:
        row["prediction"] = "leave"
    _log(version, early, BASE_MS, 1000)
    _log(version, late, BASE_MS + HOUR, 1000)
    reference = WindowReference(version.id, LogWindow(until_ms=BASE_MS + HOUR), "first hour")
    result = _run(version, window=LogWindow(since_ms=BASE_MS + HOUR), reference=reference)
    assert result.report.reference == "first hour"
    assert result.drift.reference_rows == 300
    assert set(result.drift.drifted_columns) == {"age", "income"}
    # Logged outputs on both sides: every "stay" became "leave".
    prediction = result.prediction_drift
    assert prediction is not None
    assert prediction.drifted
    assert prediction.reference_rows == 300


def test_reports_form_a_time_series(version: ModelVersion) -> None:
    _score(version, churn_data(200, 10, shift=0.5))
    results = [_run(version, now_ms=BASE_MS + i * HOUR, window=LogWindow(last=200)) for i in (1, 2)]
    _score(version, churn_data(200, 11, shift=1.5))
    results.append(_run(version, now_ms=BASE_MS + 3 * HOUR, window=LogWindow(last=200)))
    series = mc.monitor.series(version.ref, ["drift.share", "drift.column.age"])
    assert isinstance(series, dict)
    assert [p.report_id for p in series["drift.share"]] == [r.id for r in results]
    assert [p.value for p in series["drift.column.age"]] == pytest.approx(
        [r.values["drift.column.age"] for r in results]
    )
    last = results[-1]
    assert [p.report_id for p in last.history["drift.share"]] == [r.id for r in results[:2]]
    html = session.get_session().artifacts.read_bytes(last.report.html_digest).decode()  # type: ignore[arg-type]
    figures = orjson.loads(html.split('id="mc-figures">', 1)[1].split("</script>", 1)[0])
    assert len(figures["time-drift-share"]["data"][0]["x"]) == 3
    assert figures["time-drift-share"]["data"][0]["y"][-1] == pytest.approx(last.drift.share)
    assert session.get_session().metadata.monitor_reports.latest(version.id) == last.report


def test_an_alert_fires_once_per_breach(store: Store) -> None:
    current = session.get_session()
    version = mc.models.register(store.run_id, "churn-alerts")
    project_id = current.metadata.projects.get("churn").id
    rule = add_alert_rule(
        current.metadata,
        project_id=project_id,
        model_name="churn-alerts",
        kind="drift_share",
        threshold=0.5,
    )
    _score(version, churn_data(300, 12, shift=1.0))
    first, second = _run(version), _run(version)
    assert [o.change for o in first.alerts] == [StateChange.OPENED]
    assert [o.change for o in second.alerts] == [StateChange.STILL_FIRING]
    opened = current.metadata.alerts.alerts(rule_id=rule.id)
    assert len(opened) == 1
    assert opened[0].report_id == first.id
    assert opened[0].value == pytest.approx(first.values["drift.share"])


def test_an_unknown_model_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no registered model named 'nope'"):
        _run_ref("nope@production")
    with pytest.raises(NotFound, match="has no alias 'production'"):
        _run_ref("churn@production")


def _run_ref(ref: str) -> MonitorResult:
    current = session.get_session()
    return run_monitor(current.registry, current.data, "churn", ref)


def test_an_empty_window_is_a_clear_error(version: ModelVersion) -> None:
    with pytest.raises(InvalidInput, match=r"^the window holds no predictions: model version"):
        _run(version)
    _score(version, churn_data(50, 13))
    with pytest.raises(InvalidInput, match="the window holds no predictions"):
        _run(version, window=LogWindow(since_ms=BASE_MS, until_ms=BASE_MS + HOUR))


def test_a_reference_missing_a_feature_is_refused(version: ModelVersion) -> None:
    _score(version, churn_data(50, 14))
    partial = churn_data(100, 15).drop(columns="plan")
    with pytest.raises(InvalidInput, match=r"the reference \(a DataFrame\) has no column 'plan'"):
        _run(version, reference=partial)
    mc.data.register("churn-partial", partial)
    with pytest.raises(
        InvalidInput, match=r"the reference \(churn-partial@1\) has no column 'plan'"
    ):
        _run(version, reference="churn-partial@1")


def test_a_frame_reference_drops_the_target(version: ModelVersion) -> None:
    _score(version, churn_data(300, 16))
    result = _run(version, reference=pl.from_pandas(churn_data(800, 17)))
    assert result.report.reference == "a DataFrame"
    assert list(result.drift.columns) == FEATURES
    assert not result.drift.drifted


def test_a_model_without_training_lineage_needs_a_reference(tmp_path: Any) -> None:
    current = session.get_session()
    train = churn_data(200, 18)
    model = LogisticRegression().fit(train[["age", "income"]], train["churned"])
    with mc.start_run() as run:
        mc.log_model(model, input_example=train[["age", "income"]].head(3))
    version = mc.models.register(run, "churn-bare")
    _score_columns(version, train[["age", "income"]])
    with pytest.raises(NotFound, match="churn-bare@1 has no training data in its lineage"):
        _run(version)
    result = run_monitor(
        current.registry, current.data, "churn", version, reference="churn-train@1"
    )
    assert result.report.reference == "churn-train@1"
    assert list(result.drift.columns) == ["age", "income"]


def _score_columns(version: ModelVersion, frame: pd.DataFrame) -> None:
    mc.predict_batch(version.ref, frame)
