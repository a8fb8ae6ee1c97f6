"""The gate: may this version replace production?

A version passes when its primary metric (the project's problem card) on a dataset version
meets the success threshold, and is not worse than the current ``production`` version's on the
same dataset version, by more than ``tolerance``. Both figures come from stored evaluations
(each model is evaluated there once if it has not been yet). The result, with both figures and
the reason in words, is stored on the version and becomes a registry event.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from modelcycle.core.entities.model import GateResult
from modelcycle.core.entities.project import Direction
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.registry.evaluations import evaluate_logged
from modelcycle.services.registry.versions import GUARDED_ALIAS, current_actor

if TYPE_CHECKING:
    from modelcycle.core.entities.dataset import DatasetVersion
    from modelcycle.core.entities.model import LoggedModel, ModelVersion
    from modelcycle.core.entities.project import ProblemCard
    from modelcycle.core.ports import TrackingService
    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.services.registry.versions import ModelRegistry


def run_gate(
    registry: ModelRegistry,
    data: DatasetVersions,
    tracking: TrackingService,
    version: ModelVersion,
    dataset: DatasetVersion,
    *,
    card: ProblemCard,
    tolerance: float = 0.0,
    actor: str | None = None,
) -> ModelVersion:
    """Compare ``version`` with the goal and with production on ``dataset``; store the result.

    Raises:
        InvalidInput: the project declares no primary metric or its direction, or the
            tolerance is negative, or the evaluation has no value for the metric.
    """
    if card.metric is None or card.direction is None:
        raise InvalidInput(
            "the gate compares the project's primary metric: declare it with "
            "mc.set_project(name, metric='roc_auc', goal=0.85) (and direction= for a metric "
            "ModelCycle does not know)"
        )
    if tolerance < 0:
        raise InvalidInput(f"tolerance must be >= 0, got {tolerance}")
    value = _metric(registry, data, tracking, version.model, version.ref, dataset, card)
    production = _production(registry, version)
    production_value = None
    if production is not None:
        production_value = _metric(
            registry, data, tracking, production.model, production.ref, dataset, card
        )
    passed, reason = _decide(card, value, production, production_value, tolerance)
    result = GateResult(
        passed=passed,
        metric=card.metric,
        value=value,
        goal=card.goal,
        production_ref=None if production is None else production.ref,
        production_value=production_value,
        dataset_version_id=dataset.id,
        tolerance=tolerance,
        reason=reason,
        at=time.time_ns() // 1_000_000,
    )
    return registry.metadata.registry.add_gate(version.id, result, actor or current_actor())


def _production(registry: ModelRegistry, version: ModelVersion) -> ModelVersion | None:
    try:
        production = registry.get(version.project, f"{version.name}@{GUARDED_ALIAS}")
    except NotFound:
        return None
    return None if production.id == version.id else production


def _metric(
    registry: ModelRegistry,
    data: DatasetVersions,
    tracking: TrackingService,
    logged: LoggedModel,
    label: str,
    dataset: DatasetVersion,
    card: ProblemCard,
) -> float:
    stored = registry.metadata.logged_models.latest_evaluation(logged.id, dataset.id)
    if stored is None:
        stored = evaluate_logged(
            registry, data, tracking, logged, dataset, card=card, label=label
        ).stored
    value = stored.metrics.get(str(card.metric))
    if value is None:
        known = ", ".join(k for k, v in stored.metrics.items() if v is not None)
        raise InvalidInput(
            f"the evaluation of {label} on {dataset.ref} has no {card.metric!r} (it has: "
            f"{known}); set the project's metric to one of those"
        )
    return float(value)


def _decide(
    card: ProblemCard,
    value: float,
    production: ModelVersion | None,
    production_value: float | None,
    tolerance: float,
) -> tuple[bool, str]:
    metric = card.metric
    higher = card.direction is Direction.MAXIMIZE
    reasons = []
    passed = True
    if card.goal is not None:
        meets = card.meets_goal(value)
        sign = ">=" if higher else "<="
        reasons.append(
            f"{metric} {value:.4g} {'meets' if meets else 'misses'} the goal {sign} {card.goal:g}"
        )
        passed = passed and bool(meets)
    if production is not None and production_value is not None:
        worse_by = (production_value - value) if higher else (value - production_value)
        ok = worse_by <= tolerance
        relation = "not worse than" if ok else "worse than"
        reasons.append(
            f"{relation} {production.ref} ({production_value:.4g}, tolerance {tolerance:g})"
        )
        passed = passed and ok
    else:
        reasons.append("no production version to compare with")
    return passed, "; ".join(reasons)
