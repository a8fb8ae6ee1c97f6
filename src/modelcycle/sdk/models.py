"""``mc.models``: registered model versions of the current project, and ``mc.log_model``.

A version is named by a reference: ``"churn@3"``, ``"churn@latest"``, ``"churn@production"``
(an alias), or just ``"churn"`` for the newest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.model import ApprovalState
from modelcycle.core.errors import InvalidInput
from modelcycle.sdk import context
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    import os

    from modelcycle.core.entities.model import LoggedModel, ModelVersion
    from modelcycle.services.packaging.export import ExportResult
    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.registry.versions import Lineage
    from modelcycle.store.metadata import RegisteredModel, RegistryEvent

__all__ = [
    "approve",
    "delete_alias",
    "events",
    "export",
    "gate",
    "get",
    "lineage",
    "list_models",
    "load",
    "log_model",
    "register",
    "reject",
    "set_alias",
    "versions",
]


def log_model(
    model: object,
    name: str = "model",
    input_example: object = None,
    *,
    flavor: str | None = None,
    run_id: str | None = None,
) -> LoggedModel:
    """Save ``model`` with the active run (or ``run_id``): flavor, signature, requirements.

    Args:
        model: A fitted scikit-learn estimator or Pipeline, a LightGBM or XGBoost model, or
            any object with ``predict`` (and optionally ``predict_proba``).
        name: The model's name within the run.
        input_example: A few rows of input; the signature is inferred from them (and they
            are kept to check exports against).
        flavor: Force a flavor (``sklearn``, ``lightgbm``, ``xgboost``, ``python``).
        run_id: Log to this run instead of the active one.

    Returns:
        The logged model: ``.digest``, ``.signature``, ``.requirements``, ``.flavor``.
    """
    from modelcycle.services.registry.logged import log_model as log

    target = run_id
    if target is None:
        active = context.active()
        if active is None:
            raise InvalidInput(
                "no active run: call mc.log_model inside `with mc.start_run():` or pass run_id"
            )
        target = active.id
    session = get_session()
    return log(
        session.metadata,
        session.artifacts,
        target,
        model,
        name=name,
        input_example=input_example,
        flavor=flavor,
    )


def register(source: object, name: str, *, description: str | None = None) -> ModelVersion:
    """Register a logged model (or the model of a run, or ``"runs:/<id>/<name>"``) as ``name``.

    Returns:
        The new version, numbered 1, 2, ... per name, with lineage to its run.
    """
    session = get_session()
    return session.registry.register(session.project, source, name, description=description)


def get(ref: str | ModelVersion) -> ModelVersion:
    """The version ``ref`` names."""
    session = get_session()
    return session.registry.get(session.project, ref)


def list_models() -> list[RegisteredModel]:
    """The registered models of the current project."""
    session = get_session()
    return session.registry.list_models(session.project)


def versions(name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first."""
    session = get_session()
    return session.registry.list_versions(session.project, name)


def set_alias(
    name: str, alias: str, version: int | str, *, force: bool = False, reason: str | None = None
) -> ModelVersion:
    """Point ``alias`` of ``name`` at ``version``, atomically.

    ``production`` needs a version that is approved and passed its gate; ``force=True``
    overrides that and the registry records the override (with ``reason``).
    """
    session = get_session()
    return session.registry.set_alias(
        session.project, name, alias, version, force=force, reason=reason
    )


def delete_alias(name: str, alias: str) -> None:
    """Remove ``alias`` from ``name``."""
    session = get_session()
    session.registry.delete_alias(session.project, name, alias)


def approve(ref: str | ModelVersion, comment: str | None = None) -> ModelVersion:
    """Approve a version (the actor is ``MODELCYCLE_USER`` or the system user)."""
    session = get_session()
    return session.registry.review(session.project, ref, ApprovalState.APPROVED, comment=comment)


def reject(ref: str | ModelVersion, comment: str | None = None) -> ModelVersion:
    """Reject a version, saying why."""
    session = get_session()
    return session.registry.review(session.project, ref, ApprovalState.REJECTED, comment=comment)


def load(ref: str | ModelVersion) -> LoadedModel:
    """The model of a version, with ``.predict`` (and ``.predict_proba`` when it has one).

    Input is checked against the signature, with one error listing every column problem. The
    bytes are verified against their recorded sha256 before anything is deserialised.
    """
    from modelcycle.services.registry.logged import load_logged_model

    session = get_session()
    version = session.registry.get(session.project, ref)
    return load_logged_model(session.artifacts, version.model)


def export(
    ref: str | ModelVersion,
    format: str = "onnx",
    path: str | os.PathLike[str] | None = None,
    *,
    example: Any = None,
    tolerance: float | None = None,
) -> ExportResult:
    """Export a version to ``pickle``, ``onnx`` or ``pmml``, checked for parity, and record it.

    Returns:
        The export: ``.data``, ``.parity`` (``passed``, differences, tolerance), written to
        ``path`` when given.
    """
    from modelcycle.services.registry.exports import export_version

    session = get_session()
    version = session.registry.get(session.project, ref)
    return export_version(
        session.registry, version, format, path, example=example, tolerance=tolerance
    )


def lineage(ref: str | ModelVersion) -> Lineage:
    """Where a version came from: its run (code, environment) and the data the run read."""
    session = get_session()
    return session.registry.lineage(session.registry.get(session.project, ref))


def events(name: str) -> list[RegistryEvent]:
    """Every registry change to ``name``, oldest first."""
    session = get_session()
    return session.registry.events(session.project, name)


def gate(ref: str | ModelVersion, data: object, *, tolerance: float = 0.0) -> ModelVersion:
    """Compare a version with the goal and with production on ``data``; stored on the version.

    See ``mc.evaluate`` for what ``data`` may be. ``set_alias(name, "production", ...)``
    accepts only a version whose gate passed (and that was approved).
    """
    from modelcycle.sdk.evaluation import gate as run_gate

    return run_gate(ref, data, tolerance=tolerance)
