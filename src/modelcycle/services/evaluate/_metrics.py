"""Which metrics each problem reports, how each is computed (scikit-learn) and which way is up.

A metric that cannot be computed (no probabilities, a single class in the truth, a zero in the
target for MAPE) is ``None``, and ``overall_metrics`` says why in a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from modelcycle.services.evaluate._inputs import Outcome

METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "pr_auc"),
    "multiclass": (
        "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
        "recall_weighted", "f1_weighted", "roc_auc", "log_loss",
    ),
    "regression": ("mae", "rmse", "r2", "mape", "median_ae"),
}  # fmt: skip
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape", "median_ae"})
NEEDS_PROBA = frozenset({"roc_auc", "log_loss", "pr_auc"})
DEFAULT_PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
DEFAULT_PRIMARY_WITHOUT_PROBA = {"binary": "f1", "multiclass": "f1_macro"}
LABELS = {
    "accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1": "F1",
    "roc_auc": "ROC AUC", "log_loss": "Log loss", "pr_auc": "PR AUC (average precision)",
    "precision_macro": "Precision (macro)", "recall_macro": "Recall (macro)",
    "f1_macro": "F1 (macro)", "precision_weighted": "Precision (weighted)",
    "recall_weighted": "Recall (weighted)", "f1_weighted": "F1 (weighted)", "mae": "MAE",
    "rmse": "RMSE", "r2": "R\N{SUPERSCRIPT TWO}", "mape": "MAPE", "median_ae": "Median AE",
}  # fmt: skip


def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric ``name`` is better."""
    return name not in LOWER_IS_BETTER


def _multiclass_auc(o: Outcome, proba: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    present = np.unique(o.y)
    if present.size < 2:
        return None
    if present.size == o.n_classes:
        return float(roc_auc_score(o.y, proba, multi_class="ovr", average="macro"))
    # Classes absent from the truth have no ROC curve: average the one-vs-rest AUC of the others.
    return float(np.mean([roc_auc_score(o.y == c, proba[:, c]) for c in present]))


def _proba_metric(name: str, o: Outcome) -> float | None:
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    proba = o.proba
    if proba is None:
        return None
    if name == "log_loss":
        return float(log_loss(o.y, proba, labels=list(range(o.n_classes))))
    if o.problem == "multiclass":
        return _multiclass_auc(o, proba)
    if np.unique(o.y).size < 2:
        return None
    if name == "roc_auc":
        return float(roc_auc_score(o.y, proba[:, 1]))
    return float(average_precision_score(o.y, proba[:, 1]))


def _label_metric(name: str, o: Outcome) -> float:
    from sklearn import metrics as skm

    if name == "accuracy":
        return float(skm.accuracy_score(o.y, o.pred))
    kind, _, average = name.partition("_")
    func = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[kind]
    return float(func(o.y, o.pred, average=average or "binary", zero_division=0))


def _regression_metric(name: str, o: Outcome) -> float | None:
    from sklearn import metrics as skm

    y, p = o.y, o.pred
    if name == "mae":
        return float(skm.mean_absolute_error(y, p))
    if name == "rmse":
        return float(skm.root_mean_squared_error(y, p))
    if name == "median_ae":
        return float(skm.median_absolute_error(y, p))
    if name == "mape":
        return None if (y == 0).any() else float(skm.mean_absolute_percentage_error(y, p))
    if y.size < 2 or float(np.var(y)) == 0.0:
        return None
    return float(skm.r2_score(y, p))


def metric_value(name: str, o: Outcome) -> float | None:
    """Metric ``name`` of an outcome, or ``None`` when it is undefined for these rows."""
    if o.y.size == 0:
        return None
    if o.problem == "regression":
        return _regression_metric(name, o)
    if name in NEEDS_PROBA:
        return _proba_metric(name, o)
    return _label_metric(name, o)


def _note(name: str, o: Outcome) -> str:
    if name in NEEDS_PROBA and o.proba is None:
        return f"{name}: not computed, the model has no predict_proba"
    if name == "mape":
        return "mape: not computed, the target has zeros (the percentage error is undefined)"
    if name == "r2":
        return "r2: not computed, the target is constant or has fewer than two rows"
    return f"{name}: not computed, the truth holds a single class"


def overall_metrics(o: Outcome) -> tuple[dict[str, float | None], list[str]]:
    """Every metric of the outcome's problem, with a note for each one left out."""
    values: dict[str, float | None] = {}
    notes: list[str] = []
    for name in METRICS[o.problem]:
        values[name] = metric_value(name, o)
        if values[name] is None:
            notes.append(_note(name, o))
    return values, notes


def choose_primary(o: Outcome, requested: str | None, values: dict[str, float | None]) -> str:
    """The metric that ranks slices and scores permutation importance.

    Raises:
        InvalidInput: ``requested`` is not a metric of this problem or cannot be computed.
    """
    if requested is None:
        if o.proba is None and o.problem in DEFAULT_PRIMARY_WITHOUT_PROBA:
            return DEFAULT_PRIMARY_WITHOUT_PROBA[o.problem]
        name = DEFAULT_PRIMARY[o.problem]
        return name if values.get(name) is not None else METRICS[o.problem][0]
    if requested not in METRICS[o.problem]:
        raise InvalidInput(
            f"primary_metric {requested!r} is not a {o.problem} metric; "
            f"choose one of {list(METRICS[o.problem])}"
        )
    if values.get(requested) is None:
        raise InvalidInput(f"primary_metric {_note(requested, o)}; choose another metric")
    return requested
