"""Scratch arrays for sorting columns: one pair per thread, reused from column to column.

Sorting a million values needs a writable copy of them. Taking a fresh copy per column lets
the allocator keep each freed block for later, so the resident size grows with the number of
columns; writing every column of a thread into the same two arrays keeps it at two arrays per
thread, whatever the number of columns. The arrays live as long as the ``SortBuffers`` object
(one ``compute_drift`` call).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import numpy.typing as npt


class SortBuffers:
    """Per-thread scratch arrays; ``sorted_finite`` fills one and returns a sorted view."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _array(self, slot: int, size: int) -> npt.NDArray[np.float64]:
        arrays: dict[int, npt.NDArray[np.float64]] = self._local.__dict__.setdefault("a", {})
        array = arrays.get(slot)
        if array is None or array.size < size:
            array = np.empty(size, dtype=np.float64)
            arrays[slot] = array
        return array

    def sorted_finite(self, series: pl.Series, slot: int) -> npt.NDArray[np.float64]:
        """The finite values of ``series`` in ascending order, in this thread's ``slot`` array.

        The view is valid until the next call with the same slot on this thread.

        Raises:
            InvalidInput: the series does not hold numbers (or dates, times, booleans).
        """
        if series.dtype == pl.Null:  # a side whose values are all missing
            return self._array(slot, 0)[:0]
        if series.dtype == pl.Boolean:
            series = series.cast(pl.UInt8)
        elif series.dtype.is_temporal():
            series = series.to_physical()
        if not series.dtype.is_numeric():
            raise InvalidInput(f"expected numbers, got values of dtype {series.dtype}")
        if series.dtype.is_decimal():
            series = series.cast(pl.Float64)
        out = self._array(slot, series.len())[: series.len()]
        start = 0
        for chunk in series.get_chunks():  # chunk by chunk: never a rechunked copy
            raw = chunk.to_numpy()  # nulls arrive as NaN
            out[start : start + raw.size] = raw  # integers become float64 as they are copied
            start += raw.size
        out.sort()
        if (
            out.dtype.kind == "f"
            and out.size
            and not (np.isfinite(out[0]) and np.isfinite(out[-1]))
        ):
            # sorting put -inf first and +inf then NaN (nulls) last: keep what lies between
            low = int(np.searchsorted(out, -np.inf, side="right"))
            high = int(np.searchsorted(out, np.inf, side="left"))
            out = out[low:high]
        return out
