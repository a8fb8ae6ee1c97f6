"""Model performance on labelled predictions, per time window, against the evaluation baseline.

Once labels arrive (see ``monitor.feedback``), the logged predictions of a model version that
have a label are scored with scikit-learn: accuracy, precision, recall, F1 and ROC AUC (when
class probabilities were logged as ``output.proba_<class>``) for a classifier, RMSE, MAE and
R² for a regressor, the project's primary metric first. The baseline is the evaluation stored
for the version (the one on its gate's dataset when the gate ran, else the newest); a metric
that is worse than its baseline by more than ``tolerance`` (a fraction of the baseline) is
flagged, which way is worse being the metric's direction. A window with fewer than
``min_labels`` labels gets no metric, and says so.

Labels and predicted classes are compared as text (an integral float label ``1.0`` as ``1``),
so a class logged as ``1`` and labelled ``"1"`` is the same class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.project import KNOWN_METRIC_DIRECTIONS, Direction, Task
from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np
    import polars as pl

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.core.entities.project import ProblemCard
    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

MIN_LABELS = 30
"""Fewer labels than this in a window give no metric for it."""

PREDICTION_COLUMN = "output.prediction"
PROBA_PREFIX = "output.proba_"

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}
"""What each problem reports, after the primary metric."""

SUPPORTED_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset(
        {*DEFAULT_METRICS["binary"], "balanced_accuracy", "log_loss", "pr_auc", "f1_macro"}
    ),
    "multiclass": frozenset(
        {
            *DEFAULT_METRICS["multiclass"],
            "balanced_accuracy",
            "log_loss",
            "precision_weighted",
            "recall_weighted",
            "f1_weighted",
        }
    ),
    "regression": frozenset({*DEFAULT_METRICS["regression"], "mse", "median_ae", "mape"}),
}
_NEEDS_PROBA = frozenset({"roc_auc", "log_loss", "pr_auc"})
_TRUE_CODE, _PREDICTED = "__label_code", "__predicted_code"


@dataclass(frozen=True, slots=True)
class WindowPerformance:
    """The metrics of one time window (or of the whole frame: no bounds).

    ``metrics`` maps every metric name to its value, None when there were too few labels or
    the metric is undefined on these rows (``note`` says why).
    """

    start_ms: int | None
    end_ms: int | None
    predictions: int
    labels: int
    metrics: Mapping[str, float | None]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "predictions": self.predictions,
            "labels": self.labels,
            "metrics": dict(self.metrics),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class MetricDrop:
    """A metric against its baseline; ``change`` > 0 is worse, whichever way the metric goes."""

    metric: str
    baseline: float
    value: float
    change: float
    allowed: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Performance over a window of labelled predictions, overall and per time window."""

    problem: str  # "binary", "multiclass" or "regression"
    primary_metric: str
    metrics: tuple[str, ...]  # the primary metric first
    higher_is_better: Mapping[str, bool]
    overall: WindowPerformance
    windows: tuple[WindowPerformance, ...] = ()
    baseline: Mapping[str, float] = field(default_factory=dict)
    baseline_evaluation_id: str | None = None
    tolerance: float = 0.05
    drops: tuple[MetricDrop, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """Whether some metric dropped beyond the tolerance."""
        return any(drop.flagged for drop in self.drops)

    def values(self) -> dict[str, float | None]:
        """The overall metrics keyed ``metric.<name>``, as monitor reports store them."""
        return {f"metric.{name}": self.overall.metrics.get(name) for name in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "problem": self.problem,
            "primary_metric": self.primary_metric,
            "metrics": list(self.metrics),
            "higher_is_better": dict(self.higher_is_better),
            "overall": self.overall.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "baseline": dict(self.baseline),
            "baseline_evaluation_id": self.baseline_evaluation_id,
            "tolerance": self.tolerance,
            "drops": [
                {
                    "metric": d.metric,
                    "baseline": d.baseline,
                    "value": d.value,
                    "change": d.change,
                    "allowed": d.allowed,
                    "flagged": d.flagged,
                }
                for d in self.drops
            ],
            "flagged": self.flagged,
            "notes": list(self.notes),
        }


def model_performance(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    version: ModelVersion,
    card: ProblemCard,
    *,
    last: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    every_ms: int | None = None,
    min_labels: int = MIN_LABELS,
    tolerance: float = 0.05,
) -> PerformanceReport:
    """Performance of a model version on its labelled predictions in a window.

    Args:
        metadata: The stores.
        artifacts: The stores.
        version: The registered model version whose predictions are scored.
        card: Its project's problem card (task, primary metric, direction).
        last: Only the newest ``last`` predictions.
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        every_ms: Also score each window of this many milliseconds (by prediction time).
        min_labels: Windows with fewer labels get no metric.
        tolerance: A metric worse than its baseline by more than this fraction of the
            baseline is flagged.

    Raises:
        InvalidInput: the window holds no predictions, the task is neither classification
            nor regression, or an option is out of range.
    """
    from modelcycle.services.monitor.feedback import labelled_predictions

    frame = labelled_predictions(
        metadata,
        artifacts,
        model_version_ids=version.id,
        last=last,
        since_ms=since_ms,
        until_ms=until_ms,
        how="left",
    )
    baseline, evaluation_id = _baseline(metadata, version)
    classes = version.model.classes
    return compute_performance(
        frame,
        task=_task(card, version),
        primary_metric=card.metric,
        direction=card.direction,
        classes=None if classes is None else [str(c) for c in classes],
        every_ms=every_ms,
        min_labels=min_labels,
        baseline=baseline,
        baseline_evaluation_id=evaluation_id,
        tolerance=tolerance,
    )


def compute_performance(
    frame: pl.DataFrame,
    *,
    task: str,
    primary_metric: str | None = None,
    direction: Direction | None = None,
    classes: Sequence[str] | None = None,
    every_ms: int | None = None,
    min_labels: int = MIN_LABELS,
    baseline: Mapping[str, float | None] | None = None,
    baseline_evaluation_id: str | None = None,
    tolerance: float = 0.05,
) -> PerformanceReport:
    """Score a frame of predictions with their labels (``labelled_predictions``' columns).

    Args:
        frame: ``at``, ``label`` (null where none arrived), ``output.prediction`` and, for a
            classifier with probabilities, ``output.proba_<class>``.
        task: ``"classification"`` or ``"regression"``.
        primary_metric: Reported first (default: ROC AUC, or F1 without probabilities, F1
            macro for many classes, RMSE).
        direction: The primary metric's direction when it is not a known metric.
        classes: The model's classes as text, in probability order (default: from the
            ``output.proba_*`` columns, else the labels and predictions seen).
        every_ms: Also score each window of this many milliseconds.
        min_labels: Windows with fewer labels get no metric.
        baseline: The metrics the version had at evaluation.
        baseline_evaluation_id: Where the baseline came from.
        tolerance: The fraction of the baseline a metric may lose before it is flagged.

    Raises:
        InvalidInput: a column is missing, the task is unknown, or an option is out of range.
    """
    _check_options(frame, task, every_ms, min_labels, tolerance)
    problem, classes = _problem(frame, task, classes)
    has_proba = any(c.startswith(PROBA_PREFIX) for c in frame.columns)
    names, primary, notes = _metric_names(problem, primary_metric, has_proba)
    higher = {name: _higher_is_better(name, primary, direction) for name in names}
    if problem != "regression":
        frame = _with_codes(frame, classes)
    scorer = _Scorer(problem, classes, names, min_labels)
    overall = scorer.score(frame, None, None)
    windows: tuple[WindowPerformance, ...] = ()
    if every_ms is not None:
        windows = _per_window(frame, every_ms, scorer)
    drops = _drops(overall, names, higher, baseline or {}, tolerance)
    return PerformanceReport(
        problem=problem,
        primary_metric=primary,
        metrics=names,
        higher_is_better=higher,
        overall=overall,
        windows=windows,
        baseline={k: float(v) for k, v in (baseline or {}).items() if v is not None},
        baseline_evaluation_id=baseline_evaluation_id,
        tolerance=tolerance,
        drops=drops,
        notes=tuple(notes),
    )


def _check_options(
    frame: pl.DataFrame, task: str, every_ms: int | None, min_labels: int, tolerance: float
) -> None:
    if task not in ("classification", "regression"):
        raise InvalidInput(
            f"performance is monitored for classification and regression, not {task!r}"
        )
    missing = [c for c in ("at", "label", PREDICTION_COLUMN) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the labelled predictions lack {missing}; the model's outputs must include "
            "'prediction' (as the endpoint logs them)"
        )
    if every_ms is not None and (isinstance(every_ms, bool) or every_ms <= 0):
        raise InvalidInput(f"every_ms={every_ms!r} must be a positive number of milliseconds")
    if isinstance(min_labels, bool) or min_labels < 1:
        raise InvalidInput(f"min_labels={min_labels!r} must be at least 1")
    if not tolerance >= 0:
        raise InvalidInput(f"tolerance={tolerance!r} must be >= 0")


def _task(card: ProblemCard, version: ModelVersion) -> str:
    task = card.task
    if task in (Task.CLASSIFICATION, Task.REGRESSION):
        return task.value
    if task is Task.FORECASTING:
        return Task.REGRESSION.value
    if task is None and version.model.task in ("classification", "regression"):
        return version.model.task
    raise InvalidInput(
        f"performance is monitored for classification and regression models; {version.ref} "
        f"is {task.value if task else 'of no declared task'} (declare the task with "
        "mc.set_project(name, task='classification'))"
    )


def _problem(
    frame: pl.DataFrame, task: str, classes: Sequence[str] | None
) -> tuple[str, list[str]]:
    if task == "regression":
        return "regression", []
    if classes is None:
        classes = [
            c.removeprefix(PROBA_PREFIX) for c in frame.columns if c.startswith(PROBA_PREFIX)
        ]
    if not classes:
        seen = _as_text(frame["label"]).drop_nulls().to_list()
        seen += _as_text(frame[PREDICTION_COLUMN]).drop_nulls().to_list()
        classes = sorted(set(seen))
    return ("binary" if len(classes) <= 2 else "multiclass"), list(classes)


def _metric_names(
    problem: str, primary: str | None, has_proba: bool
) -> tuple[tuple[str, ...], str, list[str]]:
    defaults = DEFAULT_METRICS[problem]
    fallback = {"binary": "roc_auc" if has_proba else "f1", "multiclass": "f1_macro"}
    default_primary = fallback.get(problem, "rmse")
    notes = []
    if primary is not None and primary not in SUPPORTED_METRICS[problem]:
        notes.append(
            f"the project's primary metric {primary!r} is not monitored for a {problem} "
            f"problem; {default_primary} leads instead"
        )
        primary = None
    primary = primary or default_primary
    return (primary, *(name for name in defaults if name != primary)), primary, notes


def _higher_is_better(name: str, primary: str, direction: Direction | None) -> bool:
    if name == primary and direction is not None:
        return direction is Direction.MAXIMIZE
    known = KNOWN_METRIC_DIRECTIONS.get(name) or KNOWN_METRIC_DIRECTIONS.get(name.split("_")[0])
    return known is not Direction.MINIMIZE


def _as_text(values: pl.Series) -> pl.Series:
    """Classes as text, as Python's ``str`` writes them (the model's classes are named so).

    Booleans become ``True``/``False`` (polars would write ``true``); a float column holding
    whole numbers only becomes integers first.
    """
    import polars as pl

    if values.dtype == pl.Boolean:
        return values.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
    if values.dtype.is_float():
        finite = values.drop_nulls()
        if finite.len() and bool((finite == finite.round(0)).all()):
            values = values.cast(pl.Int64)
    return values.cast(pl.String)


class _Scorer:
    """Computes the metrics of one set of rows."""

    def __init__(
        self, problem: str, classes: list[str], names: tuple[str, ...], min_labels: int
    ) -> None:
        self.problem = problem
        self.classes = classes
        self.names = names
        self.min_labels = min_labels

    def score(self, rows: pl.DataFrame, start: int | None, end: int | None) -> WindowPerformance:
        labelled = rows.filter(rows["label"].is_not_null())
        if labelled.height < self.min_labels:
            note = (
                f"{labelled.height} label{'s' if labelled.height != 1 else ''} in the window, "
                f"fewer than the {self.min_labels} needed for a metric"
            )
            return WindowPerformance(
                start, end, rows.height, labelled.height, dict.fromkeys(self.names), note
            )
        values, notes = self._values(labelled)
        return WindowPerformance(
            start, end, rows.height, labelled.height, values, "; ".join(notes) or None
        )

    def _values(self, rows: pl.DataFrame) -> tuple[dict[str, float | None], list[str]]:
        if self.problem == "regression":
            return _regression_values(rows, self.names)
        return _classification_values(rows, self.names, self.classes)


def _per_window(
    frame: pl.DataFrame, every_ms: int, scorer: _Scorer
) -> tuple[WindowPerformance, ...]:
    import polars as pl

    bucketed = frame.with_columns(
        ((pl.col("at").dt.epoch("ms") // every_ms) * every_ms).alias("_window")
    )
    parts = bucketed.partition_by("_window", as_dict=True, maintain_order=True)
    out = []
    for key, rows in parts.items():
        begin = int(key[0])
        out.append(scorer.score(rows.drop("_window"), begin, begin + every_ms))
    return tuple(sorted(out, key=lambda w: w.start_ms or 0))


def _regression_values(
    rows: pl.DataFrame, names: tuple[str, ...]
) -> tuple[dict[str, float | None], list[str]]:
    import numpy as np
    from sklearn import metrics as skm

    try:
        y = rows["label"].cast(float).to_numpy()
        p = rows[PREDICTION_COLUMN].cast(float).to_numpy()
    except Exception as error:  # noqa: BLE001 - polars raises several types for a bad cast
        raise InvalidInput(
            f"a regression's labels and predictions must be numbers: {error}"
        ) from None
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    values: dict[str, float | None] = {}
    notes = []
    for name in names:
        if name == "r2" and (y.size < 2 or float(np.var(y)) == 0.0):
            values[name] = None
            notes.append("r2: undefined, the labels are constant")
        elif name == "mape" and bool((y == 0).any()):
            values[name] = None
            notes.append("mape: undefined, some labels are zero")
        else:
            values[name] = float(_REGRESSION[name](skm, y, p))
    return values, notes


_REGRESSION: dict[str, Any] = {
    "rmse": lambda skm, y, p: skm.root_mean_squared_error(y, p),
    "mse": lambda skm, y, p: skm.mean_squared_error(y, p),
    "mae": lambda skm, y, p: skm.mean_absolute_error(y, p),
    "median_ae": lambda skm, y, p: skm.median_absolute_error(y, p),
    "mape": lambda skm, y, p: skm.mean_absolute_percentage_error(y, p),
    "r2": lambda skm, y, p: skm.r2_score(y, p),
}


def _with_codes(frame: pl.DataFrame, classes: list[str]) -> pl.DataFrame:
    """The frame with each label and predicted class as its index in ``classes`` (-1: other).

    scikit-learn then compares integers, not Python strings (an order of magnitude faster).
    """
    import polars as pl

    mapping = {name: index for index, name in enumerate(classes)}

    def codes(values: pl.Series) -> pl.Series:
        text = _as_text(values)
        return text.replace_strict(mapping, default=-1, return_dtype=pl.Int64).fill_null(-1)

    return frame.with_columns(
        codes(frame["label"]).alias(_TRUE_CODE), codes(frame[PREDICTION_COLUMN]).alias(_PREDICTED)
    )


def _classification_values(
    rows: pl.DataFrame, names: tuple[str, ...], classes: list[str]
) -> tuple[dict[str, float | None], list[str]]:
    y = rows[_TRUE_CODE].to_numpy()
    p = rows[_PREDICTED].to_numpy()
    proba = _proba(rows, classes)
    values: dict[str, float | None] = {}
    notes = []
    for name in names:
        if name in _NEEDS_PROBA:
            value, note = _proba_metric(name, y, proba, classes)
            values[name] = value
            if note:
                notes.append(note)
        else:
            values[name] = _label_metric(name, y, p, classes)
    return values, notes


def _proba(rows: pl.DataFrame, classes: list[str]) -> np.ndarray | None:
    import polars as pl

    columns = [f"{PROBA_PREFIX}{c}" for c in classes]
    if not classes or any(c not in rows.columns for c in columns):
        return None
    import numpy as np

    matrix = rows.select(columns).cast(pl.Float64).to_numpy()
    return None if bool(np.isnan(matrix).any()) else matrix


def _label_metric(name: str, y: np.ndarray, p: np.ndarray, classes: list[str]) -> float:
    from sklearn import metrics as skm

    if name == "accuracy":
        return float(skm.accuracy_score(y, p))
    if name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, p))
    kind, _, average = name.partition("_")
    score = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[kind]
    if not average:
        # The positive class is the second class, as in the model's probability order.
        return float(score(y, p, labels=[len(classes) - 1], average="macro", zero_division=0))
    codes = list(range(len(classes)))
    return float(score(y, p, labels=codes, average=average, zero_division=0))


def _proba_metric(
    name: str, y: np.ndarray, proba: np.ndarray | None, classes: list[str]
) -> tuple[float | None, str | None]:
    import numpy as np
    from sklearn import metrics as skm

    if proba is None:
        return None, f"{name}: not computed, no class probabilities were logged"
    if name == "log_loss":
        if bool((y < 0).any()):
            return None, "log_loss: undefined, some labels are not classes of the model"
        return float(skm.log_loss(y, proba, labels=list(range(len(classes))))), None
    present = [i for i in range(len(classes)) if bool((y == i).any())]
    if len(present) < 2:
        return None, f"{name}: undefined, the labels hold a single class"
    last = len(classes) - 1
    if name == "pr_auc":
        return float(skm.average_precision_score(y == last, proba[:, last])), None
    if len(classes) == 2:
        return float(skm.roc_auc_score(y == 1, proba[:, 1])), None
    # One-vs-rest AUC averaged over the classes present in the labels.
    return float(np.mean([skm.roc_auc_score(y == i, proba[:, i]) for i in present])), None


def _drops(
    overall: WindowPerformance,
    names: tuple[str, ...],
    higher: Mapping[str, bool],
    baseline: Mapping[str, float | None],
    tolerance: float,
) -> tuple[MetricDrop, ...]:
    drops = []
    for name in names:
        value, base = overall.metrics.get(name), baseline.get(name)
        if value is None or base is None or not math.isfinite(base):
            continue
        change = base - value if higher[name] else value - base
        allowed = tolerance * abs(base) if base else tolerance
        drops.append(MetricDrop(name, float(base), value, change, allowed, change > allowed))
    return tuple(drops)


def _baseline(
    metadata: SqlMetadataStore, version: ModelVersion
) -> tuple[dict[str, float | None], str | None]:
    """The metrics of the version's evaluation: on its gate's dataset if gated, else newest."""
    logged = metadata.logged_models
    evaluation = None
    if version.gate is not None:
        evaluation = logged.latest_evaluation(version.model.id, version.gate.dataset_version_id)
    if evaluation is None:
        evaluations = logged.evaluations_of(version.model.id)
        evaluation = evaluations[0] if evaluations else None
    if evaluation is None:
        return {}, None
    return dict(evaluation.metrics), evaluation.id
