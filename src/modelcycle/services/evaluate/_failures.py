"""The worst rows of an evaluation, as a frame ready to register for labelling.

Classification: misclassified rows first, then by the lowest probability given to the true
class (the highest log loss); without probabilities, misclassified rows in frame order.
Regression: the largest absolute error first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.services.evaluate._inputs import Outcome

ROW = "row"
PREDICTION = "prediction"
TRUE_PROBA = "true_class_probability"
LOSS = "loss"
ERROR = "error"
ABS_ERROR = "abs_error"


def worst_rows(outcome: Outcome, k: int) -> np.ndarray:
    """Positions of the ``k`` worst rows, worst first."""
    n = outcome.y.size
    k = min(k, n)
    if k == 0:
        return np.zeros(0, np.int64)
    if not outcome.is_classification:
        err = np.abs(outcome.y - outcome.pred)
        top = np.argpartition(-err, k - 1)[:k] if k < n else np.arange(n)
        return top[np.argsort(-err[top], kind="stable")]
    correct = outcome.y == outcome.pred
    if outcome.proba is None:
        return np.argsort(correct, kind="stable")[:k]
    p_true = np.take_along_axis(outcome.proba, outcome.y[:, None], axis=1)[:, 0]
    return np.lexsort((p_true, correct))[:k]


def _free(name: str, taken: set[str]) -> str:
    while name in taken:
        name = f"{name}_"
    taken.add(name)
    return name


def failure_frame(
    features: pd.DataFrame,
    target: pd.Series[Any],
    outcome: Outcome,
    classes: tuple[Any, ...] | None,
    k: int,
) -> pd.DataFrame:
    """The inputs, target and prediction columns of the worst ``k`` rows.

    Added columns (suffixed with ``_`` if a feature already has the name): ``row`` (position in
    the evaluated frame), ``prediction``, and ``true_class_probability`` + ``loss`` or
    ``error`` (actual minus predicted) + ``abs_error``.

    Raises:
        InvalidInput: ``k`` is negative.
    """
    if k < 0:
        raise InvalidInput(f"failure_cases must be zero or more, got {k}")
    rows = worst_rows(outcome, k)
    out = features.iloc[rows].reset_index(drop=True)
    taken = {str(c) for c in out.columns}
    out[_free(str(target.name), taken)] = target.iloc[rows].to_numpy()
    extra: dict[str, Any] = {ROW: rows}
    if classes is not None:
        extra[PREDICTION] = np.asarray(list(classes))[outcome.pred[rows]]
        if outcome.proba is not None:
            p_true = outcome.proba[rows, outcome.y[rows]]
            extra[TRUE_PROBA] = p_true
            eps = np.finfo(np.float64).eps
            extra[LOSS] = -np.log(np.clip(p_true, eps, 1 - eps))
    else:
        error = outcome.y[rows] - outcome.pred[rows]
        extra |= {PREDICTION: outcome.pred[rows], ERROR: error, ABS_ERROR: np.abs(error)}
    for name, values in extra.items():
        out[_free(name, taken)] = values
    return out
