"""Metrics per slice and the rule that flags a slice as much worse than overall.

A slice is flagged when it has at least ``MIN_SLICE_ROWS`` rows and its primary metric is worse
than overall by more than:

* ``MAX_DROP`` (absolute) for metrics where higher is better (accuracy, F1, ROC AUC, R², ...);
* ``MAX_RISE`` (relative to the overall value) for error metrics (log loss, MAE, RMSE, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput
from modelcycle.services.evaluate._grouped import GroupedMetrics
from modelcycle.services.evaluate._groups import column_groups
from modelcycle.services.evaluate._metrics import higher_is_better
from modelcycle.services.evaluate._model import SliceResult
from modelcycle.services.evaluate._values import finite

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from modelcycle.services.evaluate._inputs import Outcome

MIN_SLICE_ROWS = 30
"""Slices with fewer rows are reported but never flagged: their metric is too noisy."""
MAX_DROP = 0.05
"""A higher-is-better metric this much below overall (absolute) flags the slice."""
MAX_RISE = 0.20
"""An error metric this share above overall (relative) flags the slice."""


def gap(metric: str, overall: float | None, value: float | None) -> float | None:
    """How much worse ``value`` is than ``overall`` (positive = worse), in the metric's units."""
    if overall is None or value is None:
        return None
    return overall - value if higher_is_better(metric) else value - overall


def is_much_worse(metric: str, overall: float | None, value: float | None, count: int) -> bool:
    """The flag rule of the module docstring."""
    worse = gap(metric, overall, value)
    if worse is None or count < MIN_SLICE_ROWS or overall is None:
        return False
    if higher_is_better(metric):
        return worse > MAX_DROP
    return worse > MAX_RISE * abs(overall)


def _columns(features: pd.DataFrame, slice_columns: Sequence[str] | None) -> list[str]:
    names = [str(c) for c in features.columns]
    if slice_columns is None:
        return names
    if isinstance(slice_columns, str):
        slice_columns = [slice_columns]
    unknown = [c for c in slice_columns if c not in names]
    if unknown:
        raise InvalidInput(
            f"slice_columns {unknown} are not feature columns of the frame; they are: {names[:30]}"
        )
    return list(slice_columns)


def compute_slices(
    features: pd.DataFrame,
    outcome: Outcome,
    *,
    primary: str,
    overall: dict[str, float | None],
    slice_columns: Sequence[str] | None,
    max_values: int,
    bins: int,
) -> tuple[list[SliceResult], list[str]]:
    """Every slice of every sliced column, with notes on the columns left out."""
    if max_values < 1 or bins < 1:
        raise InvalidInput(
            f"max_slices_per_column and numeric_bins must be at least 1, got {max_values} "
            f"and {bins}"
        )
    second = "accuracy" if outcome.is_classification else "mae"
    names = [primary] if primary == second else [primary, second]
    grouped = GroupedMetrics(outcome)
    results: list[SliceResult] = []
    skipped: list[str] = []
    for column in _columns(features, slice_columns):
        series: Any = features[column]
        groups = column_groups(series, max_values, bins)
        if groups is None:
            skipped.append(column)
            continue
        size = len(groups.labels)
        counts = np.bincount(groups.codes, minlength=size)
        values = {m: grouped.compute(m, groups.codes, size) for m in names}
        for g in np.flatnonzero(counts).tolist():
            metrics = {m: finite(values[m][g]) for m in names}
            count = int(counts[g])
            results.append(
                SliceResult(
                    column=column,
                    label=groups.labels[g],
                    kind=groups.kinds[g],
                    count=count,
                    metrics=metrics,
                    gap=gap(primary, overall[primary], metrics[primary]),
                    flagged=is_much_worse(primary, overall[primary], metrics[primary], count),
                )
            )
    notes = [f"slices: columns {skipped} are not sliced (neither categorical nor numeric)"]
    return results, notes if skipped else []
