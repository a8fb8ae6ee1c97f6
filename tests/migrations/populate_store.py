"""Write a small store with every kind of record, as the current schema revision stores it.

Run by ``make store-asset`` when a migration is added; the result is committed as
``tests/assets/stores/<revision>.db`` and every later revision must upgrade it in place.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from sqlalchemy import create_engine

from modelcycle.core.entities.project import ProblemCard, Task
from modelcycle.core.settings import Settings, resolve_settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import (
    HEAD_REVISION,
    AlertKind,
    AlertRule,
    MonitorReport,
    PredictionSegment,
    open_metadata_store,
)

EXPECTED_PARAMS = {"learning_rate": "0.1", "model": "gbm"}
EXPECTED_TAGS = {"team": "risk"}
EXPECTED_LOSS = [1.0, 0.5, math.nan, 0.25]
EXPECTED_DATASET = "asset-data"
EXPECTED_MODEL = "asset-model"
EXPECTED_SEGMENT = PredictionSegment(
    id="0190f0c0c0c0" + "1" * 20,
    model_version_id="c" * 32,
    min_at=1_700_000_000_000,
    max_at=1_700_000_060_000,
    min_id="018bcfe56800" + "0" * 20,
    max_id="018bcfe65260" + "f" * 20,
    rows=42,
    digest="d" * 64,
    size_bytes=4096,
    created_at=1_700_000_061_000,
)
EXPECTED_FEEDBACK_ID = "018bcfe60000" + "b" * 20
EXPECTED_LABELS = ["0", '"churned"']  # JSON text: the first label, then the one replacing it
EXPECTED_REPORT_ID = "0190f0c0c0c0" + "2" * 20
EXPECTED_VALUES = {"drift.share": 0.25, "drift.column.x": 0.5, "metric.roc_auc": None}
EXPECTED_RULE_ID = "0190f0c0c0c0" + "3" * 20


def populate(folder: Path) -> Path:
    """Create the store in ``folder``; returns the database file."""
    settings = resolve_settings(str(folder))
    service = LocalTrackingService(
        open_metadata_store(settings.metadata_url),
        open_artifact_store(str(settings.artifacts_url)),
        settings,
        capture=False,
    )
    service.set_project(
        "asset", ProblemCard(task=Task.CLASSIFICATION, target="y", metric="roc_auc", goal=0.8)
    )
    parent = service.create_run("asset", name="parent", tags=EXPECTED_TAGS)
    service.log_batch(
        parent.id,
        params=EXPECTED_PARAMS,
        metrics=[("loss", v, i, 1_700_000_000_000 + i) for i, v in enumerate(EXPECTED_LOSS)],
    )
    service.log_inputs(parent.id, [("a" * 32, "train")])
    _populate_data(settings, parent.id)
    _populate_models(settings, parent.id)
    _populate_predictions(settings)
    _populate_monitoring(settings)
    child = service.create_run("asset", name="child", parent_id=parent.id)
    service.end_run(child.id)
    service.end_run(parent.id)
    database = folder / "modelcycle.db"
    service.close()
    # One self-contained file: fold the write-ahead log back into the database.
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    engine.dispose()
    return database


def _populate_data(settings: Settings, run_id: str) -> None:
    """Datasets (revision 0002): a registered version and a clean child of it."""
    import pyarrow as pa

    from modelcycle.core.entities.dataset import Lineage, Operation
    from modelcycle.services.data.versions import DatasetVersions

    versions = DatasetVersions(
        open_metadata_store(settings.metadata_url), open_artifact_store(str(settings.artifacts_url))
    )
    table = pa.table({"x": [1, 2, 3], "y": ["a", "b", None]})
    parent = versions.register("asset", EXPECTED_DATASET, table, run_id=run_id)
    versions.add_table(
        "asset", EXPECTED_DATASET, table.slice(0, 2), Lineage(Operation.CLEAN), [parent]
    )
    versions.metadata.datasets.save_rules(
        versions.project_id("asset", create=False), EXPECTED_DATASET, {"rules": []}
    )
    versions.metadata.close()


def _populate_models(settings: Settings, run_id: str) -> None:
    """Models (revision 0003): a logged model, registered, approved and aliased."""
    from modelcycle.core.entities.model import (
        ApprovalState,
        ColumnSpec,
        LoggedModel,
        Signature,
    )

    store = open_metadata_store(settings.metadata_url)
    signature = Signature((ColumnSpec("x", "float"),), (ColumnSpec("y", "integer"),))
    logged = store.logged_models.add(
        LoggedModel("", run_id, "model", "sklearn", "b" * 64, 10, signature, ("scikit-learn==1",))
    )
    project_id = store.projects.get("asset").id
    version = store.registry.register(project_id, EXPECTED_MODEL, logged.id, "asset-maker")
    store.registry.add_approval(version.id, ApprovalState.APPROVED, "asset-maker", "ok")
    store.registry.set_alias(version.id, "production", "asset-maker", {})
    store.close()


def _populate_predictions(settings: Settings) -> None:
    """Prediction log (revision 0004): the index row of one segment (the blob is not kept)."""
    store = open_metadata_store(settings.metadata_url)
    store.predictions.add_segment(EXPECTED_SEGMENT)
    store.close()


def _populate_monitoring(settings: Settings) -> None:
    """Monitoring (revision 0005): relabelled feedback, a report with values, a firing alert."""
    store = open_metadata_store(settings.metadata_url)
    version = EXPECTED_SEGMENT.model_version_id
    for at, label in enumerate(EXPECTED_LABELS):
        store.feedback.record(
            [EXPECTED_FEEDBACK_ID], [version], [label], source="sdk", actor="asset-maker", at=at
        )
    project_id = store.projects.get("asset").id
    report = MonitorReport(
        id=EXPECTED_REPORT_ID,
        project_id=project_id,
        model_version_id=version,
        rows=42,
        created_at=1_700_000_100_000,
        window_start=EXPECTED_SEGMENT.min_at,
        window_end=EXPECTED_SEGMENT.max_at + 1,
        drift_share=0.25,
        dataset_drifted=False,
        summary={"columns": {"x": {"score": 0.5}}},
    )
    store.monitor_reports.add(report, EXPECTED_VALUES)
    rule = AlertRule(
        id=EXPECTED_RULE_ID,
        project_id=project_id,
        model_name=EXPECTED_MODEL,
        kind=AlertKind.DRIFT_SHARE,
        threshold=0.2,
        webhook_url="http://127.0.0.1:9/hook",
        created_by="asset-maker",
    )
    store.alerts.add_rule(rule)
    alert, _ = store.alerts.open_alert(
        EXPECTED_RULE_ID, 0.25, model_version_id=version, report_id=EXPECTED_REPORT_ID
    )
    store.alerts.record_delivery(alert.id, delivered=False, error="connection refused")
    store.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/assets/stores")
    built = populate(Path(sys.argv[2]) if len(sys.argv) > 2 else target / f"build-{HEAD_REVISION}")
    final = target / f"{HEAD_REVISION}.db"
    built.replace(final)
    print(f"wrote {final}")
