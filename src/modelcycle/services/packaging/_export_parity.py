"""Comparing an exported model's answers with the original model's on the same rows.

The rules, stated once:

- Classifiers: the largest absolute difference between the two probability matrices must be at
  most ``tolerance`` (default ``PROBA_ATOL``), and every row whose predicted class differs must be
  a near tie in the original model (its two highest probabilities within ``2 * tolerance``):
  rounding may flip a tie, nothing else may. Without probabilities, every label must agree.
- Regressors: for each row ``|exported - original| / max(|original|, 1)`` must be at most
  ``tolerance`` (default ``REGRESSION_RTOL``): relative for large values, absolute below 1.
- A NaN on both sides counts as equal; a NaN on one side only is an infinite difference.

A failed check is returned (``passed=False``), not raised: the caller decides what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

PROBA_ATOL = 1e-4
"""Default absolute tolerance on class probabilities (float32 inference rounds near 1e-7)."""

REGRESSION_RTOL = 1e-3
"""Default relative tolerance on regression predictions (values below 1 compared absolutely)."""

MAX_PARITY_ROWS = 10_000
"""Parity runs on at most this many rows: the first ones of the example given."""


@dataclass(frozen=True, slots=True)
class Parity:
    """How closely an exported model reproduces the original on the same rows.

    ``max_abs_diff`` is the largest absolute difference of regression predictions (``None`` for
    a classifier); ``max_rel_diff`` the relative one the tolerance applies to. For a classifier,
    ``max_abs_diff_proba`` is the largest absolute probability difference and
    ``label_agreement`` the fraction of rows predicting the same class. ``tolerance_kind`` says
    what ``tolerance`` bounds. ``checked_with`` names the runtime that ran the export.
    """

    rows: int
    tolerance: float
    tolerance_kind: str
    passed: bool
    checked_with: str
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    max_abs_diff_proba: float | None = None
    label_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (infinite differences become the string ``"inf"``)."""
        return {
            "rows": self.rows,
            "tolerance": self.tolerance,
            "tolerance_kind": self.tolerance_kind,
            "passed": self.passed,
            "checked_with": self.checked_with,
            "max_abs_diff": _json_float(self.max_abs_diff),
            "max_rel_diff": _json_float(self.max_rel_diff),
            "max_abs_diff_proba": _json_float(self.max_abs_diff_proba),
            "label_agreement": self.label_agreement,
        }


def _json_float(value: float | None) -> float | str | None:
    if value is None or np.isfinite(value):
        return value
    return "inf"


def _abs_diff(left: NDArray[Any], right: NDArray[Any]) -> NDArray[np.float64]:
    a = np.asarray(left, dtype=np.float64)
    b = np.asarray(right, dtype=np.float64)
    diff = np.abs(a - b)
    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))


def labels_equal(original: NDArray[Any], exported: NDArray[Any]) -> NDArray[np.bool_]:
    """Row-wise equality of two label vectors, whatever types the runtimes return them in."""
    a, b = np.asarray(original).ravel(), np.asarray(exported).ravel()
    if a.dtype.kind in "iufb" and b.dtype.kind in "iufb":
        return np.asarray(a.astype(np.float64) == b.astype(np.float64))
    return np.asarray(a.astype(str) == b.astype(str))


def compare_classifier(
    *,
    labels: tuple[NDArray[Any], NDArray[Any]],
    proba: tuple[NDArray[Any], NDArray[Any]] | None,
    tolerance: float | None,
    checked_with: str,
) -> Parity:
    """Parity of a classifier: ``labels`` and ``proba`` are (original, exported) pairs."""
    tol = PROBA_ATOL if tolerance is None else float(tolerance)
    same = labels_equal(*labels)
    rows = int(same.size)
    agreement = float(same.mean()) if rows else 1.0
    if proba is None:
        return Parity(
            rows=rows,
            tolerance=tol,
            tolerance_kind="labels must agree (no probabilities)",
            passed=bool(same.all()),
            checked_with=checked_with,
            label_agreement=agreement,
        )
    original, exported = (np.asarray(p, dtype=np.float64) for p in proba)
    if original.shape != exported.shape:
        msg = f"probabilities of shape {exported.shape} where {original.shape} was expected"
        raise ValueError(msg)
    diff = _abs_diff(original, exported)
    max_diff = float(diff.max()) if diff.size else 0.0
    ties_only = bool(np.all(_near_tie(original, 2 * tol)[~same])) if rows else True
    return Parity(
        rows=rows,
        tolerance=tol,
        tolerance_kind="absolute, on class probabilities",
        passed=max_diff <= tol and ties_only,
        checked_with=checked_with,
        max_abs_diff_proba=max_diff,
        label_agreement=agreement,
    )


def _near_tie(proba: NDArray[np.float64], margin: float) -> NDArray[np.bool_]:
    if proba.ndim != 2 or proba.shape[1] < 2:
        return np.zeros(proba.shape[0], dtype=bool)
    top_two = np.sort(proba, axis=1)[:, -2:]
    return np.asarray(top_two[:, 1] - top_two[:, 0] <= margin)


def compare_regressor(
    *,
    original: NDArray[Any],
    exported: NDArray[Any],
    tolerance: float | None,
    checked_with: str,
) -> Parity:
    """Parity of a regressor's predictions (flattened: one target or several)."""
    tol = REGRESSION_RTOL if tolerance is None else float(tolerance)
    a = np.asarray(original, dtype=np.float64).ravel()
    b = np.asarray(exported, dtype=np.float64).ravel()
    if a.shape != b.shape:
        msg = f"{b.size} predictions where {a.size} were expected"
        raise ValueError(msg)
    diff = _abs_diff(a, b)
    rel = diff / np.maximum(np.abs(np.nan_to_num(a)), 1.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    return Parity(
        rows=int(np.asarray(original).shape[0]),
        tolerance=tol,
        tolerance_kind="relative, on predictions (absolute below 1)",
        passed=max_rel <= tol,
        checked_with=checked_with,
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
    )
