"""Which kind each column is profiled as.

The rule, by polars dtype:

- Boolean → boolean.
- integers, floats, decimals → numeric.
- Date, Datetime → datetime.
- Categorical, Enum → categorical.
- String → **text** when its present values are long and mostly different: mean length of at
  least ``TEXT_MIN_MEAN_LENGTH`` characters *and* a distinct ratio (distinct / present) of at
  least ``TEXT_MIN_DISTINCT_RATIO``; otherwise categorical. Short identifiers ("user_0042")
  stay categorical, so they get the high-cardinality and unique warnings.
- anything else (Null, Time, Duration, Binary, List, Struct, Object) → other: only counts,
  missing values and memory are reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from modelcycle.core.entities.dataset import ColumnKind

if TYPE_CHECKING:
    from collections.abc import Mapping

TEXT_MIN_MEAN_LENGTH = 20.0
TEXT_MIN_DISTINCT_RATIO = 0.5


def kind_of_dtype(dtype: pl.DataType) -> ColumnKind | None:
    """The kind a dtype alone decides, or ``None`` for strings (decided by their values)."""
    if dtype == pl.Boolean:
        return ColumnKind.BOOLEAN
    if dtype.is_numeric():
        return ColumnKind.NUMERIC
    if dtype in (pl.Date, pl.Datetime):
        return ColumnKind.DATETIME
    if dtype in (pl.Categorical, pl.Enum):
        return ColumnKind.CATEGORICAL
    if dtype == pl.String:
        return None
    return ColumnKind.OTHER


def infer_kinds(frame: pl.DataFrame) -> tuple[dict[str, ColumnKind], dict[str, int]]:
    """The kind of every column of ``frame`` in column order, and the distinct counts made.

    One pass over the string columns; their distinct counts (present values) are returned so
    that the statistics need not count them again.
    """
    kinds: dict[str, ColumnKind | None] = {n: kind_of_dtype(t) for n, t in frame.schema.items()}
    strings = [n for n, k in kinds.items() if k is None]
    distinct: dict[str, int] = {}
    if strings:
        row = frame.select(
            [pl.col(n).str.len_chars().mean().alias(f"len:{n}") for n in strings]
            + [pl.col(n).drop_nulls().n_unique().alias(f"distinct:{n}") for n in strings]
            + [pl.col(n).count().alias(f"count:{n}") for n in strings]
        ).row(0, named=True)
        for n in strings:
            distinct[n] = int(row[f"distinct:{n}"])
            kinds[n] = string_kind(row[f"len:{n}"], distinct[n], row[f"count:{n}"])
    return {n: k or ColumnKind.CATEGORICAL for n, k in kinds.items()}, distinct


def string_kind(mean_length: float | None, distinct: int, count: int) -> ColumnKind:
    """Text or categorical for a string column, by the rule in the module docstring."""
    if count == 0 or mean_length is None:
        return ColumnKind.CATEGORICAL
    long_enough = mean_length >= TEXT_MIN_MEAN_LENGTH
    varied = distinct / count >= TEXT_MIN_DISTINCT_RATIO
    return ColumnKind.TEXT if long_enough and varied else ColumnKind.CATEGORICAL


def count_kinds(kinds: Mapping[str, ColumnKind]) -> dict[str, int]:
    """How many columns of each kind, kinds with none left out."""
    out: dict[str, int] = {}
    for kind in kinds.values():
        out[kind.value] = out.get(kind.value, 0) + 1
    return out
