"""Rules suggested from one frame: what the data looks like today, written as expectations."""

from __future__ import annotations

import math
import re
from typing import Any

import polars as pl

from modelcycle.services.data._dtypes import suggested_type_name
from modelcycle.services.data._rule_kinds import (
    AllowedValues,
    ColumnType,
    NotNull,
    Range,
    RowCount,
    Rule,
    SchemaContract,
    Unique,
)

MAX_ALLOWED_VALUES = 20
# A column is an identifier when its name says so: id, user_id, userId, order-uuid, key...
_ID_NAME = re.compile(r"(?:.*[_\-\s.])?(?:id|uuid|guid|key|identifier)|.*[a-z0-9](?:Id|ID|Uuid)")


def _is_texty(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _has_range(dtype: pl.DataType) -> bool:
    numeric = (dtype.is_integer() or dtype.is_float()) and dtype != pl.Boolean
    return numeric or dtype == pl.Date or isinstance(dtype, pl.Datetime)


def _stats_exprs(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    column = pl.col(name)
    missing = column.is_null() | column.is_nan() if dtype.is_float() else column.is_null()
    exprs = [missing.sum().alias(f"{name}\0missing")]
    if _has_range(dtype):
        values = column.filter(column.is_not_nan()) if dtype.is_float() else column
        exprs += [values.min().alias(f"{name}\0min"), values.max().alias(f"{name}\0max")]
    if _is_texty(dtype) or dtype.is_integer():
        exprs.append(column.drop_nulls().n_unique().alias(f"{name}\0distinct"))
    return exprs


def _plain_bound(value: object) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _column_rules(
    name: str, dtype: pl.DataType, stats: dict[str, Any], num_rows: int
) -> list[Rule]:
    rules: list[Rule] = [ColumnType(name, suggested_type_name(dtype))]
    missing = stats[f"{name}\0missing"]
    if missing == 0:
        rules.append(NotNull(name))
    low = _plain_bound(stats.get(f"{name}\0min"))
    high = _plain_bound(stats.get(f"{name}\0max"))
    if low is not None and high is not None:
        rules.append(Range(name, min=low, max=high))
    distinct = stats.get(f"{name}\0distinct")
    present = num_rows - missing
    fully_unique = distinct is not None and present > 1 and distinct == present == num_rows
    if fully_unique and _ID_NAME.fullmatch(name):
        rules.append(Unique((name,)))
    return rules


def _allowed_values(frame: pl.DataFrame, names: list[str]) -> dict[str, list[str]]:
    if not names:
        return {}
    exprs = [
        pl.col(name).cast(pl.String).drop_nulls().unique().sort().implode().alias(name)
        for name in names
    ]
    row = frame.select(exprs).row(0)
    return dict(zip(names, (list(values) for values in row), strict=True))


def suggest(frame: pl.DataFrame) -> list[Rule]:
    """The schema, a row-count band, and per column: type, not-null, range, values, unique.

    - ``schema``: exactly the columns present.
    - ``row_count``: from half to twice the observed count.
    - ``column_type``: the family (``int``, ``string``…) or the exact polars type.
    - ``not_null``: for columns with no missing value (null, or NaN in a float column).
    - ``range``: observed minimum and maximum of numeric, date and datetime columns.
    - ``allowed_values``: text or categorical columns with at most 20 distinct values that are
      not all distinct.
    - ``unique``: integer or text columns without nulls, all distinct, named like an
      identifier (``id``, ``user_id``, ``userId``, ``uuid``, ``key``).
    """
    schema = frame.schema
    num_rows = frame.height
    rules: list[Rule] = [
        SchemaContract(tuple(schema.names())),
        RowCount(min=num_rows // 2, max=num_rows * 2),
    ]
    exprs = [expr for name, dtype in schema.items() for expr in _stats_exprs(name, dtype)]
    stats = frame.select(exprs).row(0, named=True) if exprs else {}
    few_values = [
        name
        for name, dtype in schema.items()
        if _is_texty(dtype)
        and 0 < stats[f"{name}\0distinct"] <= MAX_ALLOWED_VALUES
        and stats[f"{name}\0distinct"] < num_rows - stats[f"{name}\0missing"]
    ]
    values = _allowed_values(frame, few_values)
    for name, dtype in schema.items():
        rules += _column_rules(name, dtype, stats, num_rows)
        if name in values:
            rules.append(AllowedValues(name, tuple(values[name])))
    return rules
