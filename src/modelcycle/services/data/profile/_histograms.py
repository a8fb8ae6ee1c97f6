"""Equal-width histograms of numeric, datetime and text-length columns, in one polars pass.

Each value gets a bin index ``floor((x - min) * bins / (max - min))`` (the last bin also
takes the maximum), as numpy's ``histogram`` does for equal bins; the indices are counted
with ``hist`` over half-integer edges, so polars' own edge rule never matters. Integer
columns get bins of a whole number of integers (one per integer when they span at most
``HISTOGRAM_BINS`` values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.data.profile._model import Histogram
from modelcycle.services.data.profile._values import numeric_values

if TYPE_CHECKING:
    from collections.abc import Mapping

HISTOGRAM_BINS = 30


@dataclass(frozen=True, slots=True)
class _Bins:
    lo: float
    hi: float
    bins: int
    edges: tuple[float, ...]


def bins_for(lo: float, hi: float, *, integer: bool) -> _Bins:
    """The bin layout of a column whose finite values span ``[lo, hi]``."""
    if integer:
        # whole-number bins, so no bin holds one more integer than its neighbour
        step = math.ceil((hi - lo + 1) / HISTOGRAM_BINS)
        n = math.ceil((hi - lo + 1) / step)
        start = lo - 0.5
        return _Bins(start, start + n * step, n, tuple(start + i * step for i in range(n + 1)))
    if hi == lo:
        return _Bins(lo, hi, 1, (lo, hi))
    width = (hi - lo) / HISTOGRAM_BINS
    edges = (*(lo + i * width for i in range(HISTOGRAM_BINS)), hi)
    return _Bins(lo, hi, HISTOGRAM_BINS, edges)


def _count_expr(values: pl.Expr, layout: _Bins) -> pl.Expr:
    if layout.bins == 1:
        index = values.cast(pl.Float64) * 0.0
    else:
        scale = layout.bins / (layout.hi - layout.lo)
        index = ((values.cast(pl.Float64) - layout.lo) * scale).floor().clip(0, layout.bins - 1)
    half = [i - 0.5 for i in range(layout.bins + 1)]
    return index.hist(bins=half).implode()


def _source(name: str, kind: ColumnKind, dtype: pl.DataType, row: Mapping[str, Any]) -> Any:
    """(values expression, lo, hi, integer) of a column, or None when it has no values."""
    if kind is ColumnKind.NUMERIC:
        lo, hi = row[f"min:{name}"], row[f"max:{name}"]
        return numeric_values(name, dtype), lo, hi, dtype.is_integer()
    if kind is ColumnKind.DATETIME:
        lo, hi = row[f"pmin:{name}"], row[f"pmax:{name}"]
        return pl.col(name).to_physical(), lo, hi, False
    lo, hi = row[f"lmin:{name}"], row[f"lmax:{name}"]
    return pl.col(name).str.len_chars(), lo, hi, True


def histograms(
    frame: pl.DataFrame, kinds: Mapping[str, ColumnKind], row: Mapping[str, Any]
) -> dict[str, Histogram]:
    """The histogram of every numeric, datetime and text column that has values."""
    wanted = (ColumnKind.NUMERIC, ColumnKind.DATETIME, ColumnKind.TEXT)
    layouts: dict[str, _Bins] = {}
    exprs: list[pl.Expr] = []
    for name, kind in kinds.items():
        if kind not in wanted:
            continue
        values, lo, hi, integer = _source(name, kind, frame.schema[name], row)
        if lo is None or hi is None:
            continue
        layouts[name] = bins_for(float(lo), float(hi), integer=integer)
        exprs.append(_count_expr(values, layouts[name]).alias(name))
    if not exprs:
        return {}
    counts = frame.lazy().select(exprs).collect().row(0, named=True)
    out: dict[str, Histogram] = {}
    for name, layout in layouts.items():
        edges: tuple[float, ...] | tuple[str, ...] = layout.edges
        if kinds[name] is ColumnKind.DATETIME:
            edges = _datetime_edges(layout.edges, frame.schema[name])
        out[name] = Histogram(edges=edges, counts=tuple(int(c) for c in counts[name]))
    return out


def _datetime_edges(edges: tuple[float, ...], dtype: pl.DataType) -> tuple[str, ...]:
    physical = pl.Series([round(e) for e in edges], dtype=pl.Int64)
    if dtype == pl.Date:
        physical = physical.cast(pl.Int32)
    return tuple(v.isoformat() for v in physical.cast(dtype).to_list())
