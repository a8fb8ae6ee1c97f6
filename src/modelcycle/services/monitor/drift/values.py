"""Reading a column's values for a drift test: finite numbers, or category counts.

Helpers for built-in and third-party drift tests alike. Both sides are cleaned the same way
Evidently cleans them: nulls and NaN are dropped, and numeric columns drop infinities too.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt

    from modelcycle.services.monitor.drift._protocol import ColumnValues

_VALUE = "value"


def as_series(values: ColumnValues) -> pl.Series:
    """``values`` as a polars Series (numpy arrays are wrapped; object arrays become strings)."""
    if isinstance(values, pl.Series):
        return values
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"a column must be one-dimensional, got an array of shape {array.shape}")
    if array.dtype.kind == "O":
        return pl.Series(_VALUE, array.tolist(), strict=False)
    return pl.Series(_VALUE, array)


def finite_numbers(values: ColumnValues) -> npt.NDArray[np.float64]:
    """The finite values as float64: nulls, NaN and infinities dropped.

    Raises:
        InvalidInput: the values are not numbers (strings, categories, booleans, dates).
    """
    if isinstance(values, pl.Series):
        array = _series_numbers(values)
    else:
        raw = np.asarray(values)
        if raw.dtype.kind not in "iuf":
            raise InvalidInput(f"expected numbers, got values of dtype {raw.dtype}")
        array = raw.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def _series_numbers(series: pl.Series) -> npt.NDArray[np.float64]:
    dtype = series.dtype
    if not dtype.is_numeric():
        raise InvalidInput(f"expected numbers, got values of dtype {dtype}")
    if dtype != pl.Float64:
        series = series.cast(pl.Float64)
    if series.null_count():
        series = series.drop_nulls()
    return series.to_numpy()


def sorted_numbers(values: ColumnValues) -> npt.NDArray[np.float64]:
    """The finite values in ascending order (no copy when they already are)."""
    array = finite_numbers(values)
    if array.size > 1 and not bool(np.all(array[1:] >= array[:-1])):
        return np.sort(array)
    return array


def present(values: ColumnValues) -> pl.Series:
    """The values as a Series without nulls (and without NaN in a float column)."""
    series = as_series(values)
    if series.null_count():
        series = series.drop_nulls()
    if series.dtype.is_float():
        series = series.drop_nans()
    return series


@dataclass(frozen=True, slots=True)
class CategoryCounts:
    """How often each category occurs on each side, over the union of categories seen.

    Attributes:
        labels: the categories, in their natural order (a polars Series).
        reference: occurrences of each label in the reference (int64, aligned with labels).
        current: occurrences of each label in the current sample.
    """

    labels: pl.Series
    reference: npt.NDArray[np.int64]
    current: npt.NDArray[np.int64]

    @property
    def reference_total(self) -> int:
        """The number of present reference values."""
        return int(self.reference.sum())

    @property
    def current_total(self) -> int:
        """The number of present current values."""
        return int(self.current.sum())


_shared = threading.local()


@contextlib.contextmanager
def counted_once() -> Iterator[None]:
    """Within the block, count the same two objects once per thread in ``category_counts``.

    The engine counts a column for its default choice and its plot; the test it then calls
    reads the same counts instead of counting again.
    """
    _shared.last = None
    _shared.on = True
    try:
        yield
    finally:
        _shared.on = False
        _shared.last = None


def category_counts(reference: ColumnValues, current: ColumnValues) -> CategoryCounts:
    """Count each side's categories (nulls and NaN dropped) and align them on their union."""
    on = getattr(_shared, "on", False)
    last = getattr(_shared, "last", None)
    if on and last is not None and last[0] is reference and last[1] is current:
        counts: CategoryCounts = last[2]
        return counts
    counts = _count(reference, current)
    if on:
        _shared.last = (reference, current, counts)
    return counts


def _count(reference: ColumnValues, current: ColumnValues) -> CategoryCounts:
    ref = _value_counts(present(reference), "reference")
    cur = _value_counts(present(current), "current")
    if ref[_VALUE].dtype != cur[_VALUE].dtype:
        ref, cur = (frame.with_columns(pl.col(_VALUE).cast(pl.String)) for frame in (ref, cur))
    joined = (
        ref.join(cur, on=_VALUE, how="full", coalesce=True, nulls_equal=True)
        .fill_null(0)
        .sort(_VALUE)  # the same order, and the same float sums, whatever the input's order
    )
    return CategoryCounts(
        labels=joined[_VALUE],
        reference=joined["reference"].to_numpy().astype(np.int64, copy=False),
        current=joined["current"].to_numpy().astype(np.int64, copy=False),
    )


def _value_counts(series: pl.Series, side: str) -> pl.DataFrame:
    counts = series.rename(_VALUE).value_counts(name=side)
    if series.dtype in (pl.Categorical, pl.Enum):
        # counted on the codes; the small table of labels is what becomes text
        counts = counts.with_columns(pl.col(_VALUE).cast(pl.String))
    return counts.with_columns(pl.col(side).cast(pl.Int64))
