"""Projects and their problem card: what the model is for and when it is good enough."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Task(StrEnum):
    """The kind of prediction a project makes."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    FORECASTING = "forecasting"
    RANKING = "ranking"
    CLUSTERING = "clustering"


class Direction(StrEnum):
    """Whether a larger or a smaller metric value is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


# Metrics whose direction is known, so a problem card need not spell it out.
KNOWN_METRIC_DIRECTIONS: dict[str, Direction] = {
    **dict.fromkeys(
        (
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "f1",
            "f1_macro",
            "f1_weighted",
            "roc_auc",
            "pr_auc",
            "average_precision",
            "r2",
            "ndcg",
            "map",
            "silhouette",
        ),
        Direction.MAXIMIZE,
    ),
    **dict.fromkeys(
        ("log_loss", "brier", "mae", "mse", "rmse", "mape", "smape", "rmsle", "median_ae"),
        Direction.MINIMIZE,
    ),
}


@dataclass(frozen=True, slots=True)
class ProblemCard:
    """What a project declares: the task, the target, the primary metric and the success bar."""

    task: Task | None = None
    target: str | None = None
    metric: str | None = None
    direction: Direction | None = None
    goal: float | None = None
    owners: tuple[str, ...] = ()
    description: str | None = None

    def meets_goal(self, value: float) -> bool | None:
        """Whether ``value`` of the primary metric reaches the goal; None when no goal is set."""
        if self.goal is None or self.direction is None:
            return None
        if self.direction is Direction.MAXIMIZE:
            return value >= self.goal
        return value <= self.goal


@dataclass(frozen=True, slots=True)
class Project:
    """A named body of work: its problem card and the runs, datasets and models under it."""

    id: int
    name: str
    card: ProblemCard = field(default_factory=ProblemCard)
    created_at: int = 0
    updated_at: int = 0
