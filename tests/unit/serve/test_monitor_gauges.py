"""The served version's newest monitor report appears on /metrics as gauges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.services.serve.metrics import ServingMetrics
from modelcycle.services.serve.monitor_gauges import MonitorGauges
from modelcycle.store.metadata import MonitorReport

if TYPE_CHECKING:
    from pathlib import Path

    from modelcycle.core.entities.model import ModelVersion


def _version(tmp_path: Path) -> ModelVersion:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with mc.start_run() as run:
        mc.log_model(LogisticRegression(max_iter=5000).fit(X, y), input_example=X.head(5))
    return mc.models.register(run, "bc")


def _report(version: ModelVersion, created_at: int, values: dict[str, float | None]) -> None:
    metadata = session.get_session().metadata
    project_id = metadata.projects.id_of("bc", create=False)
    row = MonitorReport("", project_id, version.id, rows=100, created_at=created_at)
    metadata.monitor_reports.add(row, values)


def test_the_newest_report_of_the_served_version_is_exposed(tmp_path: Path) -> None:
    version = _version(tmp_path)
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    served: list[ModelVersion] = []
    gauges = MonitorGauges(
        session.get_session().metadata,
        lambda: served[0] if served else None,
        refresh_seconds=0,
    )
    metrics.add_collector(gauges)
    assert b"modelcycle_drift_share" not in metrics.render()[0]  # nothing served yet
    served.append(version)
    assert b"modelcycle_drift_share{" not in metrics.render()[0]  # no report yet
    _report(version, 1_800_000_000_000, {"drift.share": 0.1, "drift.column.age": 0.02})
    _report(
        version,
        1_800_000_060_000,
        {
            "drift.share": 0.6,
            "drift.column.mean radius": 0.31,
            "drift.prediction": 0.2,
            "metric.roc_auc": 0.91,
            "quality.missing.age": 0.5,
            "drift.column.empty": None,
        },
    )
    text = metrics.render()[0].decode()
    assert 'modelcycle_drift_share{model="bc",version="1"} 0.6' in text
    assert 'modelcycle_drift_score{column="mean radius",model="bc",version="1"} 0.31' in text
    assert 'modelcycle_drift_score{column="<prediction>",model="bc",version="1"} 0.2' in text
    assert 'modelcycle_monitor_metric{metric="roc_auc",model="bc",version="1"} 0.91' in text
    assert "1.80000006e+09" in text  # the newest report's time, in seconds
    assert 'column="age"' not in text  # the older report is not shown
    assert 'column="empty"' not in text


def test_the_store_is_read_once_per_refresh(tmp_path: Path) -> None:
    version = _version(tmp_path)
    gauges = MonitorGauges(session.get_session().metadata, lambda: version, refresh_seconds=3600)
    _report(version, 1_800_000_000_000, {"drift.share": 0.1})
    first = [m.samples for m in gauges.collect()]
    _report(version, 1_800_000_060_000, {"drift.share": 0.9})
    again = [m.samples for m in gauges.collect()]
    assert again == first  # cached until the refresh interval passes
    registry = CollectorRegistry()
    registry.register(MonitorGauges(session.get_session().metadata, lambda: version))
    assert b"} 0.9" in generate_latest(registry)
