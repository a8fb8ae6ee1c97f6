"""Associations between columns: Pearson and Spearman (numeric), Cramér's V (categorical).

Rows where either column of a pair is missing (null, NaN or infinite) are left out of that
pair (pairwise deletion, as pandas' ``DataFrame.corr``). Spearman is Pearson over average
ranks; columns without missing values are ranked once, pairs involving a column with missing
values are re-ranked over their complete rows, so every coefficient is exact.

Cramér's V is ``sqrt(chi2 / (n * (min(r, c) - 1)))`` over the contingency table of the
pair's complete rows, without bias or continuity correction; it takes categorical and
boolean columns with 2 to ``CRAMERS_MAX_LEVELS`` distinct values. Columns with fewer than two
distinct values take no part (their coefficients are undefined). Past
``CORRELATION_MAX_ROWS`` rows all of this runs on a seeded sample, stated in the report.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.data.profile._model import Correlations, Matrix
from modelcycle.services.data.profile._values import finite, present

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modelcycle.services.data.profile._model import ColumnProfile

CORRELATION_MAX_ROWS = 200_000
CRAMERS_MAX_LEVELS = 50


def correlations(
    frame: pl.DataFrame, profiles: Mapping[str, ColumnProfile], *, seed: int
) -> Correlations:
    """Every association matrix of ``frame`` (on at most ``CORRELATION_MAX_ROWS`` rows)."""
    numeric = [
        p.name for p in profiles.values() if p.kind is ColumnKind.NUMERIC and p.distinct >= 2
    ]
    categorical = [
        p.name
        for p in profiles.values()
        if p.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)
        and 2 <= p.distinct <= CRAMERS_MAX_LEVELS
    ]
    if frame.height > CORRELATION_MAX_ROWS:
        # only the columns that take part are sampled, not the whole frame
        frame = frame.select([*numeric, *categorical]).sample(n=CORRELATION_MAX_ROWS, seed=seed)
    complete = {n for n in numeric if profiles[n].missing == 0 and _all_finite(profiles[n])}
    return Correlations(
        rows=frame.height,
        pearson=pearson(frame, numeric) if len(numeric) >= 2 else None,
        spearman=spearman(frame, numeric, complete) if len(numeric) >= 2 else None,
        cramers_v=cramers_v(frame, categorical) if len(categorical) >= 2 else None,
    )


def _all_finite(profile: ColumnProfile) -> bool:
    return profile.numeric is None or profile.numeric.infinite == 0


def _finite_or_null(name: str, dtype: pl.DataType) -> pl.Expr:
    col = present(name, dtype)
    if dtype.is_float():
        return pl.when(col.is_finite()).then(col).alias(name)
    return col.cast(pl.Float64).alias(name)


def _pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]


def _matrix(names: Sequence[str], upper: Mapping[tuple[int, int], float | None]) -> Matrix:
    rows = []
    for i in range(len(names)):
        row: list[float | None] = []
        for j in range(len(names)):
            row.append(1.0 if i == j else upper[(min(i, j), max(i, j))])
        rows.append(tuple(row))
    return Matrix(columns=tuple(names), values=tuple(rows))


def pearson(frame: pl.DataFrame, names: Sequence[str]) -> Matrix:
    """Pearson's r of every pair of ``names``, pairwise complete."""
    values = frame.lazy().select([_finite_or_null(n, frame.schema[n]) for n in names])
    pairs = _pairs(names)
    row = (
        values.select([pl.corr(names[i], names[j]).alias(f"{i},{j}") for i, j in pairs])
        .collect()
        .row(0)
    )
    return _matrix(names, {pair: finite(r) for pair, r in zip(pairs, row, strict=True)})


def spearman(frame: pl.DataFrame, names: Sequence[str], complete: set[str]) -> Matrix:
    """Spearman's rho of every pair of ``names``, pairwise complete and exact."""
    values = frame.lazy().select(
        [
            pl.col(n).rank("average").cast(pl.Float64).alias(n)
            if n in complete
            else _finite_or_null(n, frame.schema[n])
            for n in names
        ]
    )
    pairs = _pairs(names)
    exprs = []
    for i, j in pairs:
        a, b = names[i], names[j]
        both_ranked = a in complete and b in complete
        corr = pl.corr(a, b) if both_ranked else pl.corr(a, b, method="spearman")
        exprs.append(corr.alias(f"{i},{j}"))
    row = values.select(exprs).collect().row(0)
    return _matrix(names, {pair: finite(r) for pair, r in zip(pairs, row, strict=True)})


def _codes(frame: pl.DataFrame, names: Sequence[str]) -> tuple[list[np.ndarray], list[int]]:
    """Dense 0-based codes per column, the missing ones coded as the column's level count."""
    exprs = []
    for n in names:
        col = present(n, frame.schema[n])
        if frame.schema[n] == pl.Boolean:
            col = col.cast(pl.UInt8)
        elif frame.schema[n] in (pl.Categorical, pl.Enum):
            col = col.cast(pl.String)
        exprs.append((col.rank("dense") - 1).cast(pl.Int64).alias(n))
    coded = frame.lazy().select(exprs).collect()
    levels = [int(v or 0) + 1 for v in coded.select(pl.all().max()).row(0)]
    arrays = [coded[n].fill_null(k).to_numpy() for n, k in zip(names, levels, strict=True)]
    return arrays, levels


def contingency(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """The ``ka`` x ``kb`` table of codes ``a`` and ``b``; rows with a missing code dropped."""
    table = np.bincount(a * (kb + 1) + b, minlength=(ka + 1) * (kb + 1))
    return table.reshape(ka + 1, kb + 1)[:ka, :kb]


def cramers_v_of_table(table: np.ndarray) -> float | None:
    """Cramér's V of a contingency table (empty rows and columns ignored)."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0].astype(np.float64)
    n = table.sum()
    k = min(table.shape) - 1
    if n == 0 or k < 1:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return finite(min(1.0, math.sqrt(chi2 / (n * k))))


def cramers_v(frame: pl.DataFrame, names: Sequence[str]) -> Matrix:
    """Cramér's V of every pair of ``names``."""
    arrays, levels = _codes(frame, names)
    upper = {
        (i, j): cramers_v_of_table(contingency(arrays[i], arrays[j], levels[i], levels[j]))
        for i, j in _pairs(names)
    }
    return _matrix(names, upper)
