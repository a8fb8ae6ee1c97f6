"""Global and local explanations that need nothing beyond scikit-learn.

Global: permutation importance (``sklearn.inspection.permutation_importance``) on a seeded
sample, scored by the primary metric, so an importance is "how much the primary metric gets
worse when this feature's values are shuffled".

Local (the ``"baseline"`` method): for each chosen row and each feature, the feature is replaced
by a typical value (the median of numeric columns, rounded for integers; the most frequent value
otherwise) and the change in the model's output is measured. All variants go through the model
in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core.errors import InvalidInput
from modelcycle.services.evaluate._inputs import Outcome
from modelcycle.services.evaluate._metrics import higher_is_better, metric_value
from modelcycle.services.evaluate._model import Contribution, FeatureImportance, LocalExplanation
from modelcycle.services.evaluate._values import finite, scalar

if TYPE_CHECKING:
    from collections.abc import Sequence

PERMUTATION_REPEATS = 3
BASELINE_METHOD = "baseline"


def predict_outcome(
    model: Any, x: pd.DataFrame, y: np.ndarray, like: Outcome, classes: Any
) -> Outcome:
    """The model's outcome on ``x`` (truth ``y``), shaped like ``like``."""
    if like.problem == "regression":
        pred = np.asarray(model.predict(x), dtype=np.float64).ravel()
        return Outcome(like.problem, y, pred, None, 0)
    if like.proba is not None:
        proba = np.asarray(model.predict_proba(x), dtype=np.float64)
        return Outcome(like.problem, y, np.argmax(proba, axis=1), proba, like.n_classes)
    raw = np.asarray(model.predict(x)).ravel()
    pred = np.asarray(pd.Index(list(classes)).get_indexer(raw), dtype=np.int64)
    return Outcome(like.problem, y, pred, None, like.n_classes)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded sample of ``size`` row positions (all rows when ``size >= n``), in order."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


class _Fitted:
    """The evaluated model in the shape scikit-learn's permutation importance checks for.

    ``permutation_importance`` accepts only objects with a ``fit`` method, though it never
    calls it; ours may be any object with ``predict``. ``fit`` leaves the model untouched.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, *_: Any, **__: Any) -> _Fitted:
        """Return self: the model is already fitted and is never refitted here."""
        return self


def permutation_importance(
    model: Any,
    features: pd.DataFrame,
    outcome: Outcome,
    classes: Any,
    *,
    primary: str,
    rows: int,
    seed: int,
) -> tuple[list[FeatureImportance], int, list[str]]:
    """Importance of each feature, most important first; the sample size; notes."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    sample = sample_rows(outcome.y.size, rows, seed)
    sign = 1.0 if higher_is_better(primary) else -1.0

    def score(estimator: _Fitted, x: pd.DataFrame, y: np.ndarray) -> float:
        value = metric_value(primary, predict_outcome(estimator.model, x, y, outcome, classes))
        return np.nan if value is None else sign * value

    result = sk_permutation_importance(
        _Fitted(model),
        features.iloc[sample],
        outcome.y[sample],
        scoring=score,
        n_repeats=PERMUTATION_REPEATS,
        random_state=seed,
    )
    means, stds = result["importances_mean"], result["importances_std"]
    if not np.isfinite(means).all():
        note = f"permutation importance: {primary} is undefined on the {sample.size}-row sample"
        return [], int(sample.size), [note]
    found = [
        FeatureImportance(str(name), float(m), finite(s))
        for name, m, s in zip(features.columns, means, stds, strict=True)
    ]
    found.sort(key=lambda f: -f.importance)
    return found, int(sample.size), []


def check_rows(rows: Sequence[int], n: int) -> list[int]:
    """The chosen rows as positions, checked to be in the frame."""
    out = [int(r) for r in rows]
    bad = [r for r in out if not 0 <= r < n]
    if bad:
        raise InvalidInput(f"explain_rows {bad} are outside the frame's rows 0..{n - 1}")
    return out


def baselines(features: pd.DataFrame) -> dict[str, Any]:
    """The typical value of each column: median for numbers (rounded for integers), else mode."""
    out: dict[str, Any] = {}
    for name in features.columns:
        col = features[name]
        dtype = col.dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        if numeric and col.notna().any():
            median = col.median()
            out[name] = round(median) if pd.api.types.is_integer_dtype(dtype) else median
        else:
            counts = col.value_counts(dropna=True)
            out[name] = counts.index[0] if len(counts) else None
    return out


def _output(outcome: Outcome, proba_or_pred: np.ndarray, target_class: np.ndarray) -> np.ndarray:
    if outcome.problem == "regression":
        return np.asarray(proba_or_pred, dtype=np.float64)
    if outcome.proba is None:  # 1 when the row keeps its prediction, else 0
        return np.asarray(proba_or_pred == target_class, dtype=np.float64)
    return np.asarray(np.take_along_axis(proba_or_pred, target_class[:, None], axis=1)[:, 0])


def _output_label(outcome: Outcome, target: str, cls: Any) -> str:
    if outcome.problem == "regression":
        return "predicted value"
    if outcome.proba is None:
        return "prediction kept (1) or changed (0)"
    return f"P({target} = {scalar(cls)})"


def local_explanations(
    model: Any,
    features: pd.DataFrame,
    outcome: Outcome,
    classes: Any,
    *,
    target: pd.Series[Any],
    rows: list[int],
) -> list[LocalExplanation]:
    """The ``"baseline"`` explanation of each chosen row (see the module docstring)."""
    if not rows:
        return []
    columns = list(features.columns)
    width = len(columns)
    base = baselines(features)
    reps = np.repeat(np.asarray(rows, dtype=np.int64), width)
    variants = features.iloc[reps].reset_index(drop=True)
    which = np.tile(np.arange(width), len(rows))
    for j, name in enumerate(columns):
        if base[name] is not None:
            variants[name] = variants[name].where(which != j, base[name])
    both = pd.concat([features.iloc[rows].reset_index(drop=True), variants], ignore_index=True)
    checked = predict_outcome(model, both, np.zeros(len(both), np.int64), outcome, classes)
    explained = _explained_class(outcome, rows)
    out_class = np.concatenate([explained, np.repeat(explained, width)])
    values = _output(
        outcome, checked.proba if checked.proba is not None else checked.pred, out_class
    )
    originals, changed = values[: len(rows)], values[len(rows) :].reshape(len(rows), width)
    found = []
    for i, row in enumerate(rows):
        parts = [
            Contribution(
                feature=str(name),
                value=scalar(features[name].iat[row]),
                baseline=scalar(base[name]),
                effect=finite(originals[i] - changed[i, j]),
            )
            for j, name in enumerate(columns)
        ]
        parts.sort(key=lambda c: -abs(c.effect or 0.0))
        found.append(
            LocalExplanation(
                row=row,
                method=BASELINE_METHOD,
                output=_output_label(outcome, str(target.name), _class(classes, explained[i])),
                value=finite(originals[i]),
                prediction=_label(outcome, classes, row),
                actual=scalar(target.iat[row]),
                contributions=tuple(parts),
            )
        )
    return found


def _explained_class(outcome: Outcome, rows: list[int]) -> np.ndarray:
    """The class whose probability is explained: the positive one, or each row's prediction."""
    if outcome.problem == "binary" and outcome.proba is not None:
        return np.ones(len(rows), np.int64)
    if outcome.problem == "regression":
        return np.zeros(len(rows), np.int64)
    return outcome.pred[rows]


def _class(classes: Any, index: Any) -> Any:
    return None if classes is None else list(classes)[int(index)]


def _label(outcome: Outcome, classes: Any, row: int) -> Any:
    if outcome.problem == "regression":
        return finite(outcome.pred[row])
    return scalar(list(classes)[int(outcome.pred[row])])
