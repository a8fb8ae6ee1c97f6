"""Cutting a column into slices: one code per row, one label per slice.

Categorical columns (text, boolean, category, or integers with at most
``CATEGORICAL_MAX_DISTINCT`` values) give one slice per value for the most frequent values and
one ``(other)`` slice for the rest; numeric columns give quantile bins. Missing values form a
``(missing)`` slice. Datetime and other columns are not sliced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.services.evaluate._values import scalar

CATEGORICAL_MAX_DISTINCT = 20
"""An integer column with at most this many distinct values is sliced by value, not binned."""
OTHER = "(other)"
MISSING = "(missing)"


@dataclass(frozen=True, slots=True)
class Groups:
    """Slice codes of one column: ``codes[i]`` indexes ``labels`` and ``kinds`` for row ``i``."""

    codes: np.ndarray
    labels: tuple[str, ...]
    kinds: tuple[str, ...]


def is_categorical(series: pd.Series[Any]) -> bool:
    """Whether ``series`` is sliced by value."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return True
    return bool(
        pd.api.types.is_integer_dtype(dtype) and series.nunique() <= CATEGORICAL_MAX_DISTINCT
    )


def _with_missing(
    codes: np.ndarray, missing: np.ndarray, labels: list[str], kinds: list[str]
) -> Groups:
    if missing.any():
        codes = np.where(missing, len(labels), codes)
        labels.append(MISSING)
        kinds.append("missing")
    return Groups(codes.astype(np.int64), tuple(labels), tuple(kinds))


def by_value(series: pd.Series[Any], max_values: int) -> Groups:
    """One slice per most frequent value, ``(other)`` for the rest, ``(missing)`` for nulls."""
    counts = series.value_counts(dropna=True, sort=True)
    top = counts.index[:max_values]
    codes = np.asarray(top.get_indexer(pd.Index(series)), dtype=np.int64)
    missing = np.asarray(series.isna(), dtype=bool)
    labels = [str(scalar(v)) for v in top]
    kinds = ["value"] * len(labels)
    rest = (codes < 0) & ~missing
    if rest.any():
        codes = np.where(rest, len(labels), codes)
        labels.append(OTHER)
        kinds.append("other")
    return _with_missing(codes, missing, labels, kinds)


def by_bins(series: pd.Series[Any], bins: int) -> Groups:
    """Quantile bins ``[a, b)`` (the last one closed) of a numeric column."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(values)
    present = values[~missing]
    if present.size == 0:
        return _with_missing(np.zeros(values.size, np.int64), missing, [], [])
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0], edges[0]])
    codes = np.searchsorted(edges[1:-1], np.where(missing, edges[0], values), side="right")
    last = edges.size - 2
    labels = [
        f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == last else ')'}" for i in range(last + 1)
    ]
    return _with_missing(codes, missing, labels, ["bin"] * len(labels))


def column_groups(series: pd.Series[Any], max_values: int, bins: int) -> Groups | None:
    """The slices of one column, or ``None`` when its type is not sliced (datetimes, objects)."""
    if is_categorical(series):
        return by_value(series, max_values)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return by_bins(series, bins)
    return None
