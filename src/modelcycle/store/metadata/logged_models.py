"""Models logged by runs, and evaluations of them on dataset versions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from modelcycle.core.entities.model import LoggedModel, Signature
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata._codec import dumps, loads
from modelcycle.store.metadata._tables import logged_models, model_evaluations

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Row

    from modelcycle.store.metadata._unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class StoredEvaluation:
    """An evaluation as stored: its metrics and where its JSON and HTML reports are."""

    id: str
    logged_model_id: str
    dataset_version_id: str
    run_id: str | None
    task: str
    metrics: Mapping[str, float | None]
    json_digest: str
    html_digest: str
    failure_cases_version_id: str | None
    created_at: int


class LoggedModelRepository:
    """Create and read logged models and their evaluations."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add(self, model: LoggedModel) -> LoggedModel:
        """Store ``model`` (its ``id`` and ``created_at`` are assigned here).

        Raises:
            Conflict: the run already logged a model under this name.
        """
        model_id, now = new_id(), time.time_ns() // 1_000_000
        try:
            with self._uow.write() as conn:
                conn.execute(
                    insert(logged_models).values(
                        id=model_id,
                        run_id=model.run_id,
                        name=model.name,
                        flavor=model.flavor,
                        digest=model.digest,
                        size_bytes=model.size_bytes,
                        signature_json=dumps(model.signature.to_dict()),
                        requirements_json=dumps(list(model.requirements)),
                        task=model.task,
                        classes_json=None if model.classes is None else dumps(list(model.classes)),
                        input_example_digest=model.input_example_digest,
                        metadata_json=dumps(dict(model.metadata)),
                        created_at=now,
                    )
                )
        except Conflict:
            raise Conflict(
                f"run {model.run_id} already logged a model named {model.name!r}; "
                "log this one under another name"
            ) from None
        return self.get(model_id)

    def get(self, model_id: str) -> LoggedModel:
        """The logged model with this id."""
        with self._uow.read() as conn:
            row = conn.execute(select(logged_models).where(logged_models.c.id == model_id)).first()
        if row is None:
            raise NotFound(f"no logged model with id {model_id!r}")
        return to_logged_model(row)

    def find(self, run_id: str, name: str) -> LoggedModel | None:
        """The model ``run_id`` logged as ``name``, or None."""
        with self._uow.read() as conn:
            row = conn.execute(
                select(logged_models)
                .where(logged_models.c.run_id == run_id)
                .where(logged_models.c.name == name)
            ).first()
        return None if row is None else to_logged_model(row)

    def of_run(self, run_id: str) -> list[LoggedModel]:
        """Every model a run logged, oldest first."""
        with self._uow.read() as conn:
            rows = conn.execute(
                select(logged_models)
                .where(logged_models.c.run_id == run_id)
                .order_by(logged_models.c.created_at)
            ).all()
        return [to_logged_model(row) for row in rows]

    # -- evaluations ----------------------------------------------------------------------

    def add_evaluation(self, evaluation: StoredEvaluation) -> StoredEvaluation:
        """Store an evaluation."""
        with self._uow.write() as conn:
            conn.execute(
                insert(model_evaluations).values(
                    id=evaluation.id,
                    logged_model_id=evaluation.logged_model_id,
                    dataset_version_id=evaluation.dataset_version_id,
                    run_id=evaluation.run_id,
                    task=evaluation.task,
                    metrics_json=dumps(dict(evaluation.metrics)),
                    json_digest=evaluation.json_digest,
                    html_digest=evaluation.html_digest,
                    failure_cases_version_id=evaluation.failure_cases_version_id,
                    created_at=evaluation.created_at,
                )
            )
        return evaluation

    def latest_evaluation(
        self, logged_model_id: str, dataset_version_id: str
    ) -> StoredEvaluation | None:
        """The newest evaluation of a model on a dataset version, or None."""
        with self._uow.read() as conn:
            row = conn.execute(
                select(model_evaluations)
                .where(model_evaluations.c.logged_model_id == logged_model_id)
                .where(model_evaluations.c.dataset_version_id == dataset_version_id)
                .order_by(model_evaluations.c.created_at.desc(), model_evaluations.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _to_evaluation(row)

    def evaluations_of(self, logged_model_id: str) -> list[StoredEvaluation]:
        """Every evaluation of a model, newest first."""
        with self._uow.read() as conn:
            rows = conn.execute(
                select(model_evaluations)
                .where(model_evaluations.c.logged_model_id == logged_model_id)
                .order_by(model_evaluations.c.created_at.desc())
            ).all()
        return [_to_evaluation(row) for row in rows]


def to_logged_model(row: Row[Any]) -> LoggedModel:
    """A ``logged_models`` row as an entity (also used by the registry's joins)."""
    classes = loads(row.classes_json) if row.classes_json else None
    return LoggedModel(
        id=row.id,
        run_id=row.run_id,
        name=row.name,
        flavor=row.flavor,
        digest=row.digest,
        size_bytes=row.size_bytes,
        signature=Signature.from_dict(loads(row.signature_json)),
        requirements=tuple(loads(row.requirements_json) or ()),
        task=row.task,
        classes=None if classes is None else tuple(classes),
        input_example_digest=row.input_example_digest,
        created_at=row.created_at,
        metadata=loads(row.metadata_json),
    )


def _to_evaluation(row: Row[Any]) -> StoredEvaluation:
    return StoredEvaluation(
        id=row.id,
        logged_model_id=row.logged_model_id,
        dataset_version_id=row.dataset_version_id,
        run_id=row.run_id,
        task=row.task,
        metrics=loads(row.metrics_json),
        json_digest=row.json_digest,
        html_digest=row.html_digest,
        failure_cases_version_id=row.failure_cases_version_id,
        created_at=row.created_at,
    )
