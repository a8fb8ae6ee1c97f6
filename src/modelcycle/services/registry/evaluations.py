"""Evaluations of logged models on dataset versions: computed, stored, logged to a run.

An evaluation reads the dataset version (verified), predicts once, and keeps its JSON and
self-contained HTML report content-addressed in the artifact store; its metrics are logged to
a run (the caller's, or a run of its own named for the evaluation), its worst-predicted rows
become a dataset version ``<dataset>-failures`` for labelling, and the ``model_evaluations``
row ties model, data, run and reports together, so the gate can compare versions on the same
data without evaluating twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import Lineage, Operation
from modelcycle.core.entities.model import InputKind
from modelcycle.core.entities.run import ArtifactEntry, RunStatus
from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import new_id
from modelcycle.core.paths import normalize_artifact_name
from modelcycle.services.registry.logged import load_logged_model
from modelcycle.store.metadata import StoredEvaluation

if TYPE_CHECKING:
    from modelcycle.core.entities.dataset import DatasetVersion
    from modelcycle.core.entities.model import LoggedModel
    from modelcycle.core.entities.project import ProblemCard
    from modelcycle.core.ports import TrackingService
    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.services.evaluate import Evaluation
    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.registry.versions import ModelRegistry


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """An evaluation with where it is stored and what it made."""

    evaluation: Evaluation
    stored: StoredEvaluation
    failure_cases: DatasetVersion | None


def evaluate_logged(
    registry: ModelRegistry,
    data: DatasetVersions,
    tracking: TrackingService,
    logged: LoggedModel,
    dataset: DatasetVersion,
    *,
    card: ProblemCard,
    label: str,
    run_id: str | None = None,
    target: str | None = None,
    **options: Any,
) -> EvaluationRecord:
    """Evaluate ``logged`` on ``dataset`` and store everything (see the module docstring).

    Args:
        registry: The registry (for the store and artifacts).
        data: The dataset versions.
        tracking: The tracking service, to log the metrics and reports to a run.
        logged: The model.
        dataset: The labelled data.
        card: The project's problem card (target, primary metric, task).
        label: How reports and runs name the model (e.g. ``churn@3``).
        run_id: Log to this run (default: a run of its own, ended when done).
        target: The label column (default: the card's target).
        **options: Passed to ``evaluate_model`` (slices, explanations, SHAP...).

    Raises:
        InvalidInput: no target given or on the card, or the data lacks it.
    """
    from modelcycle.services.evaluate import evaluate_model

    column = target or card.target
    if column is None:
        raise InvalidInput(
            "which column is the label? pass target= or declare it on the project "
            "(mc.set_project(..., target='churned'))"
        )
    if column not in dataset.schema:
        raise InvalidInput(
            f"{dataset.ref} has no column {column!r} to evaluate against (columns: "
            f"{', '.join(dataset.schema.names[:20])})"
        )
    model = load_logged_model(registry.artifacts, logged)
    frame = data.load(dataset, "pandas")
    evaluation = evaluate_model(
        _on_signature_columns(model),
        frame,
        column,
        task=logged.task or (card.task.value if card.task else None),
        classes=logged.classes,
        primary_metric=card.metric,
        title=f"{label} on {dataset.project}/{dataset.ref}",
        **options,
    )
    json_digest, json_size = registry.artifacts.put_bytes(evaluation.to_json())
    html_digest, html_size = registry.artifacts.put_bytes(evaluation.to_html().encode())
    failures = _keep_failure_cases(data, dataset, evaluation, label)
    own_run = run_id is None
    if run_id is None:
        run_id = tracking.create_run(dataset.project, name=f"evaluate {label} on {dataset.ref}").id
    now = time.time_ns() // 1_000_000
    points = [
        (f"eval.{key}", float(value), 0, now)
        for key, value in evaluation.metrics.items()
        if value is not None
    ]
    tracking.log_batch(
        run_id, metrics=points, tags={"evaluation.model": label, "evaluation.data": dataset.ref}
    )
    tracking.log_inputs(run_id, [(dataset.id, "evaluation")])
    base = normalize_artifact_name(f"evaluation/{dataset.name}-{dataset.version}")
    registry.metadata.runs.add_artifacts(
        run_id,
        [
            ArtifactEntry(f"{base}/report.html", html_digest, html_size),
            ArtifactEntry(f"{base}/report.json", json_digest, json_size),
        ],
        now,
    )
    if own_run:
        tracking.end_run(run_id, RunStatus.FINISHED)
    stored = registry.metadata.logged_models.add_evaluation(
        StoredEvaluation(
            id=new_id(),
            logged_model_id=logged.id,
            dataset_version_id=dataset.id,
            run_id=run_id,
            task=evaluation.task,
            metrics=dict(evaluation.metrics),
            json_digest=json_digest,
            html_digest=html_digest,
            failure_cases_version_id=None if failures is None else failures.id,
            created_at=now,
        )
    )
    return EvaluationRecord(evaluation, stored, failures)


class _SignatureColumns:
    """A loaded model fed only the columns its signature names, in order.

    Evaluation data may hold more than the model's inputs (an id, a region to slice by); the
    model sees only its own columns, and the other columns still slice the results.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.columns = (
            list(model.signature.input_names) if model.signature.kind is InputKind.FRAME else None
        )

    def _inputs(self, frame: Any) -> Any:
        if self.columns is None:
            return frame
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the evaluation data lacks the model's input column(s) {missing[:10]}"
            )
        return frame[self.columns]

    def predict(self, frame: Any) -> Any:
        return self.model.predict(self._inputs(frame))


class _SignatureColumnsWithProba(_SignatureColumns):
    def predict_proba(self, frame: Any) -> Any:
        return self.model.predict_proba(self._inputs(frame))


def _on_signature_columns(model: LoadedModel) -> _SignatureColumns:
    if model.has_predict_proba:
        return _SignatureColumnsWithProba(model)
    return _SignatureColumns(model)


def _keep_failure_cases(
    data: DatasetVersions, dataset: DatasetVersion, evaluation: Evaluation, label: str
) -> DatasetVersion | None:
    import pyarrow as pa

    cases = evaluation.failure_cases
    if cases is None or len(cases) == 0:
        return None
    table = pa.Table.from_pandas(cases, preserve_index=False)
    lineage = Lineage(
        Operation.FAILURES,
        source={"kind": "evaluation", "model": label, "dataset": dataset.ref},
    )
    return data.add_table(dataset.project, f"{dataset.name}-failures", table, lineage, [dataset])
