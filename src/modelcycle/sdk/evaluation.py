"""``mc.evaluate`` and ``mc.models.gate``: a model measured on a dataset version, and compared.

The model is a registered version (``"churn@3"``, ``"churn@production"``), a run or run id
(its logged model), or ``"runs:/<run id>/<name>"``; the data is a dataset version, its ref,
or a DataFrame (registered first as ``<model>-evaluation``, so the evaluation traces to it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import DatasetVersion
from modelcycle.core.entities.model import LoggedModel, ModelVersion
from modelcycle.sdk import context
from modelcycle.sdk.session import Session, get_session

if TYPE_CHECKING:
    from modelcycle.services.evaluate import Evaluation

_RUN_LIKE = re.compile(r"^(runs:/)?[0-9a-f]{32}(/.+)?$")


def evaluate(
    model: object,
    data: object,
    *,
    target: str | None = None,
    **options: Any,
) -> Evaluation:
    """Evaluate a model on labelled data: metrics, plots, slices, failure cases, explanations.

    Args:
        model: A registered version or its ref, a logged model, a run or run id.
        data: A dataset version or its ref, or a DataFrame holding the label column.
        target: The label column (default: the project's target).
        **options: ``shap=True`` for SHAP explanations (the ``shap`` extra), ``explain_rows``,
            ``slice_columns``, ``failure_cases`` (how many rows to keep)...

    Returns:
        The evaluation: ``.metrics``, ``.to_html(path)``, ``.to_dict()``, ``.failure_cases``.
        It is stored with the model and data, its metrics and reports are logged to the active
        run (or to a run of its own), and its worst rows become the dataset version
        ``<dataset>-failures``.
    """
    from modelcycle.services.registry.evaluations import evaluate_logged

    session = get_session()
    logged, label = _model(session, model)
    dataset = _dataset(session, data, label)
    active = context.active()
    card = session.tracking.get_project(session.project).card
    record = evaluate_logged(
        session.registry,
        session.data,
        session.tracking,
        logged,
        dataset,
        card=card,
        label=label,
        run_id=active.id if active is not None else None,
        target=target,
        **options,
    )
    return record.evaluation


def gate(ref: str | ModelVersion, data: object, *, tolerance: float = 0.0) -> ModelVersion:
    """Run the gate of a version on a dataset version and store its result on the version.

    The version passes when the project's primary metric meets the goal and is not worse than
    the current ``production`` version's on the same data (by more than ``tolerance``).

    Returns:
        The version, with ``.gate`` (``passed``, both figures, the reason).
    """
    from modelcycle.services.registry.gate import run_gate

    session = get_session()
    version = session.registry.get(session.project, ref)
    dataset = _dataset(session, data, version.ref)
    card = session.tracking.get_project(session.project).card
    return run_gate(
        session.registry,
        session.data,
        session.tracking,
        version,
        dataset,
        card=card,
        tolerance=tolerance,
    )


def _model(session: Session, model: object) -> tuple[LoggedModel, str]:
    from modelcycle.services.registry.logged import resolve_logged_model

    if isinstance(model, ModelVersion):
        return model.model, model.ref
    if isinstance(model, LoggedModel):
        return model, f"runs:/{model.run_id}/{model.name}"
    if isinstance(model, str) and not _RUN_LIKE.match(model):
        version = session.registry.get(session.project, model)
        return version.model, version.ref
    logged = resolve_logged_model(session.metadata, model)
    return logged, f"runs:/{logged.run_id}/{logged.name}"


def _dataset(session: Session, data: object, label: str) -> DatasetVersion:
    if isinstance(data, DatasetVersion | str):
        return session.data.get(session.project, data)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", label.split("@")[0].removeprefix("runs:/"))
    return session.data.register(session.project, f"{name}-evaluation", data)
