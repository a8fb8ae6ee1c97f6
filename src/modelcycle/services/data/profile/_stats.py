"""Per-column statistics in three polars passes over the whole frame.

1. one ``select`` of every aggregate of every column (counts, moments, quantiles, ranges);
2. one ``select`` of every histogram (it needs the ranges of pass 1);
3. one ``group_by`` per column with top values, all run together by ``collect_all``.

A float NaN counts as missing, like a null. Numeric moments, quantiles (linear
interpolation, as numpy and pandas) and histograms use the finite values only; infinities
are counted apart. ``std`` has one degree of freedom removed, skewness and kurtosis (excess)
are the bias-corrected estimators, as pandas' ``skew()`` and ``kurt()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.data.profile._histograms import histograms
from modelcycle.services.data.profile._model import (
    ColumnProfile,
    DatetimeStats,
    NumericStats,
    TextStats,
    ValueCount,
)
from modelcycle.services.data.profile._values import finite, json_scalar, numeric_values, present

if TYPE_CHECKING:
    from collections.abc import Mapping

TOP_VALUES = 10
# The target keeps more values, so that the imbalance rule sees every class it judges.
TARGET_TOP_VALUES = 20
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
_COUNTED_KINDS = (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN, ColumnKind.TEXT)


def _common_exprs(name: str, dtype: pl.DataType, known: Mapping[str, int]) -> list[pl.Expr]:
    col = present(name, dtype)
    if name in known:
        distinct = pl.lit(known[name])
    elif dtype == pl.Object:
        distinct = pl.lit(0)
    else:
        distinct = col.drop_nulls().n_unique()
    return [col.null_count().alias(f"missing:{name}"), distinct.alias(f"distinct:{name}")]


def _numeric_exprs(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    x = numeric_values(name, dtype)
    raw = present(name, dtype)
    infinite = raw.is_infinite().sum() if dtype.is_float() else pl.lit(0)
    exprs = [
        x.min().cast(pl.Float64).alias(f"min:{name}"),
        x.max().cast(pl.Float64).alias(f"max:{name}"),
        x.mean().alias(f"mean:{name}"),
        x.std().alias(f"std:{name}"),
        (x == 0).sum().alias(f"zeros:{name}"),
        (x < 0).sum().alias(f"negatives:{name}"),
        infinite.alias(f"infinite:{name}"),
        x.skew(bias=False).alias(f"skewness:{name}"),
        x.kurtosis(bias=False).alias(f"kurtosis:{name}"),
    ]
    # one call for every quantile: polars selects them from one sorted copy
    exprs.append(x.quantile(list(QUANTILES.values()), interpolation="linear").alias(f"q:{name}"))
    return exprs


def _datetime_exprs(name: str) -> list[pl.Expr]:
    col = pl.col(name)
    return [
        col.min().alias(f"min:{name}"),
        col.max().alias(f"max:{name}"),
        col.to_physical().min().alias(f"pmin:{name}"),
        col.to_physical().max().alias(f"pmax:{name}"),
    ]


def _text_exprs(name: str) -> list[pl.Expr]:
    length = pl.col(name).str.len_chars()
    return [
        length.min().alias(f"lmin:{name}"),
        length.mean().alias(f"lmean:{name}"),
        length.median().alias(f"lmedian:{name}"),
        length.max().alias(f"lmax:{name}"),
    ]


def aggregate_exprs(
    schema: Mapping[str, pl.DataType],
    kinds: Mapping[str, ColumnKind],
    known_distinct: Mapping[str, int],
) -> list[pl.Expr]:
    """Every aggregate of pass 1, each aliased ``stat:column``; known distinct counts reused."""
    exprs: list[pl.Expr] = []
    for name, kind in kinds.items():
        dtype = schema[name]
        exprs += _common_exprs(name, dtype, known_distinct)
        if kind is ColumnKind.NUMERIC:
            exprs += _numeric_exprs(name, dtype)
        elif kind is ColumnKind.DATETIME:
            exprs += _datetime_exprs(name)
        elif kind is ColumnKind.TEXT:
            exprs += _text_exprs(name)
    return exprs


def top_values(
    frame: pl.DataFrame, limits: Mapping[str, int], schema: Mapping[str, pl.DataType]
) -> dict[str, tuple[ValueCount, ...]]:
    """The ``limits[name]`` most frequent present values of each column (ties by value)."""
    names = list(limits)
    plans = [
        frame.lazy()
        .select(present(n, schema[n]).alias("v"))
        .drop_nulls()
        .group_by("v")
        .len()
        .sort(["len", "v"], descending=[True, False], nulls_last=True)
        .head(limits[n])
        for n in names
    ]
    out: dict[str, tuple[ValueCount, ...]] = {}
    for name, result in zip(names, pl.collect_all(plans), strict=True):
        out[name] = tuple(
            ValueCount(value=json_scalar(v), count=int(c)) for v, c in result.iter_rows()
        )
    return out


def column_profiles(
    frame: pl.DataFrame,
    kinds: Mapping[str, ColumnKind],
    target: str | None,
    known_distinct: Mapping[str, int] | None = None,
) -> dict[str, ColumnProfile]:
    """The profile of every column of ``frame`` (``known_distinct``: counts already made)."""
    if not kinds:
        return {}
    schema = frame.schema
    exprs = aggregate_exprs(schema, kinds, known_distinct or {})
    row = frame.lazy().select(exprs).collect().row(0, named=True)
    hists = histograms(frame, kinds, row)
    limits = {n: TOP_VALUES for n, k in kinds.items() if k in _COUNTED_KINDS}
    if target is not None:
        limits[target] = max(TOP_VALUES, TARGET_TOP_VALUES)
    tops = top_values(frame, limits, schema)
    height = frame.height
    out: dict[str, ColumnProfile] = {}
    for name, kind in kinds.items():
        missing = int(row[f"missing:{name}"])
        count = height - missing
        distinct = int(row[f"distinct:{name}"])
        out[name] = ColumnProfile(
            name=name,
            kind=kind,
            dtype=str(schema[name]),
            count=count,
            missing=missing,
            missing_share=missing / height if height else 0.0,
            distinct=distinct,
            distinct_share=distinct / count if count else 0.0,
            memory_bytes=int(frame[name].estimated_size()),
            top_values=tops.get(name, ()),
            numeric=_numeric(name, row, hists) if kind is ColumnKind.NUMERIC else None,
            datetime=_datetime(name, row, hists) if kind is ColumnKind.DATETIME else None,
            text=_text(name, row, hists) if kind is ColumnKind.TEXT else None,
        )
    return out


def _numeric(name: str, row: Mapping[str, Any], hists: Mapping[str, Any]) -> NumericStats:
    values = row[f"q:{name}"] or [None] * len(QUANTILES)
    quantiles = {key: finite(v) for key, v in zip(QUANTILES, values, strict=True)}
    return NumericStats(
        min=finite(row[f"min:{name}"]),
        max=finite(row[f"max:{name}"]),
        mean=finite(row[f"mean:{name}"]),
        std=finite(row[f"std:{name}"]),
        zeros=int(row[f"zeros:{name}"] or 0),
        negatives=int(row[f"negatives:{name}"] or 0),
        infinite=int(row[f"infinite:{name}"] or 0),
        skewness=finite(row[f"skewness:{name}"]),
        kurtosis=finite(row[f"kurtosis:{name}"]),
        histogram=hists.get(name),
        **quantiles,
    )


def _datetime(name: str, row: Mapping[str, Any], hists: Mapping[str, Any]) -> DatetimeStats:
    lo, hi = row[f"min:{name}"], row[f"max:{name}"]
    span = None if lo is None or hi is None else (hi - lo).total_seconds()
    return DatetimeStats(
        min=None if lo is None else lo.isoformat(),
        max=None if hi is None else hi.isoformat(),
        range_seconds=finite(span),
        histogram=hists.get(name),
    )


def _text(name: str, row: Mapping[str, Any], hists: Mapping[str, Any]) -> TextStats:
    lmin, lmax = row[f"lmin:{name}"], row[f"lmax:{name}"]
    return TextStats(
        min_length=None if lmin is None else int(lmin),
        mean_length=finite(row[f"lmean:{name}"]),
        median_length=finite(row[f"lmedian:{name}"]),
        max_length=None if lmax is None else int(lmax),
        histogram=hists.get(name),
    )
