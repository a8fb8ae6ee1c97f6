"""Run a rule set over a polars frame.

Rules about the frame as a whole (type, row count, schema) are answered from the schema. Every
row-level rule becomes a boolean "this row breaks the rule" expression; one ``select`` computes
each rule's failing count and the positions of its first 20 failing rows, and one ``gather``
fetches the example rows for all rules together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from modelcycle.services.data._dtypes import type_matches
from modelcycle.services.data._rule_kinds import (
    AllowedValues,
    Bound,
    ColumnType,
    NotNull,
    Range,
    Regex,
    RowCount,
    Rule,
    SchemaContract,
    Unique,
    Value,
)
from modelcycle.services.data._rule_report import MAX_EXAMPLES, RuleResult, json_safe

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class _Mismatch(Exception):
    """A rule that cannot run on this column's type; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class _RowCheck:
    rule: Rule
    mask: pl.Expr  # true where the row breaks the rule, never null


def list_columns(columns: Sequence[str], limit: int = 20) -> str:
    """``a, b, c`` for an error message, cut after ``limit`` names."""
    shown = ", ".join(columns[:limit])
    return shown + (f", … ({len(columns) - limit} more)" if len(columns) > limit else "")


def _failed(rule: Rule, message: str) -> RuleResult:
    return RuleResult(rule, passed=False, failing_count=None, examples=(), message=message)


def _passed(rule: Rule, message: str) -> RuleResult:
    return RuleResult(rule, passed=True, failing_count=0, examples=(), message=message)


def _is_texty(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _present(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    return column.is_not_null() & ~column.is_nan() if dtype.is_float() else column.is_not_null()


def _temporal(value: object, dtype: pl.DataType) -> pl.Expr:
    if not isinstance(value, str):
        raise _Mismatch(f"{value!r} is not a date; write dates as ISO text such as 2024-01-31")
    try:
        if dtype == pl.Date:
            return pl.lit(dt.date.fromisoformat(value), dtype=pl.Date)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Mismatch(f"{value!r} is not an ISO date such as 2024-01-31") from None
    # An aware moment becomes a UTC literal, then the column's zone; a naive one is read in it.
    return pl.lit(moment).cast(dtype) if moment.tzinfo is not None else pl.lit(moment, dtype=dtype)


def _bound(value: Bound | dt.date, name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The column expression and the literal to compare it with."""
    if isinstance(value, dt.date):  # construction stores ISO text; be lenient all the same
        value = value.isoformat()
    column = pl.col(name)
    if dtype.is_numeric():
        if isinstance(value, str):
            raise _Mismatch(f"bound {value!r} is text but column {name!r} is {dtype}")
        return column, pl.lit(value)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return column, _temporal(value, dtype)
    if _is_texty(dtype):
        if not isinstance(value, str):
            raise _Mismatch(f"bound {value!r} is a number but column {name!r} is {dtype}")
        return column.cast(pl.String), pl.lit(value)
    raise _Mismatch(f"a range cannot be checked on column {name!r} of type {dtype}")


def _range_mask(rule: Range, dtype: pl.DataType) -> pl.Expr:
    broken = pl.lit(value=False)
    if rule.min is not None:
        column, low = _bound(rule.min, rule.column, dtype)
        broken = broken | (column < low if rule.inclusive else column <= low)
    if rule.max is not None:
        column, high = _bound(rule.max, rule.column, dtype)
        broken = broken | (column > high if rule.inclusive else column >= high)
    return broken


def _values_series(values: Sequence[Value | dt.date], name: str, dtype: pl.DataType) -> pl.Series:
    if any(isinstance(value, bool) for value in values) and dtype != pl.Boolean:
        raise _Mismatch(
            f"values include true/false but column {name!r} is {dtype}; in YAML, quote words "
            "such as 'yes', 'no', 'on', 'off' to keep them as text"
        )
    if dtype.is_numeric():
        if any(isinstance(value, str) for value in values):
            raise _Mismatch(f"values include text but column {name!r} is {dtype}")
        return pl.Series(values, dtype=pl.Float64)
    if _is_texty(dtype):
        if any(isinstance(value, float) for value in values):
            raise _Mismatch(f"values include decimals but column {name!r} is {dtype}")
        return pl.Series([str(value) for value in values], dtype=pl.String)
    if dtype == pl.Boolean:
        if not all(isinstance(value, bool) for value in values):
            raise _Mismatch(f"column {name!r} is Boolean; list values as true/false")
        return pl.Series(values, dtype=pl.Boolean)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.concat([pl.select(_temporal(value, dtype)).to_series() for value in values])
    raise _Mismatch(f"allowed values cannot be checked on column {name!r} of type {dtype}")


def _allowed_mask(rule: AllowedValues, dtype: pl.DataType) -> pl.Expr:
    allowed = _values_series(rule.values, rule.column, dtype)
    column = pl.col(rule.column)
    if dtype.is_numeric():
        column = column.cast(pl.Float64)
    elif _is_texty(dtype):
        column = column.cast(pl.String)
    return ~column.is_in(allowed.implode())


def _regex_mask(rule: Regex, dtype: pl.DataType) -> pl.Expr:
    if not _is_texty(dtype):
        raise _Mismatch(f"a pattern needs a text column; {rule.column!r} is {dtype}")
    return ~pl.col(rule.column).cast(pl.String).str.contains(rule.pattern)


def _unique_mask(rule: Unique) -> pl.Expr:
    keys = [pl.col(name) for name in rule.columns]
    if len(keys) == 1:
        return keys[0].is_duplicated() & keys[0].is_not_null()
    some_present = pl.any_horizontal([key.is_not_null() for key in keys])
    return pl.struct(keys).is_duplicated() & some_present


def _column_type(rule: ColumnType, schema: pl.Schema) -> RuleResult:
    actual = schema[rule.column]
    if type_matches(actual, rule.dtype):
        return _passed(rule, f"column {rule.column!r} is {actual}")
    return _failed(rule, f"column {rule.column!r} is {actual}, expected {rule.dtype}")


def _row_count(rule: RowCount, num_rows: int) -> RuleResult:
    too_few = rule.min is not None and num_rows < rule.min
    too_many = rule.max is not None and num_rows > rule.max
    if too_few or too_many:
        return _failed(rule, f"the data has {num_rows} rows; expected: {rule.describe()}")
    return _passed(rule, f"the data has {num_rows} rows")


def _schema(rule: SchemaContract, schema: pl.Schema) -> RuleResult:
    present = list(schema.names())
    missing = [name for name in rule.columns if name not in schema]
    unexpected = [] if rule.allow_extra else [n for n in present if n not in rule.columns]
    problems = [f"missing columns: {list_columns(missing)}"] if missing else []
    problems += [f"unexpected columns: {list_columns(unexpected)}"] if unexpected else []
    if problems:
        return _failed(rule, "; ".join(problems))
    return _passed(rule, f"the data has the {len(rule.columns)} expected columns")


def _absent(rule: Rule, schema: pl.Schema) -> RuleResult | None:
    absent = [name for name in rule.columns_used if name not in schema]
    if not absent:
        return None
    names = ", ".join(repr(name) for name in absent)
    noun = "column" if len(absent) == 1 else "columns"
    return _failed(
        rule,
        f"{noun} {names} {'is' if len(absent) == 1 else 'are'} not in the data "
        f"(columns: {list_columns(list(schema.names()))})",
    )


def _plan(rule: Rule, schema: pl.Schema, num_rows: int) -> RuleResult | _RowCheck:
    if isinstance(rule, SchemaContract):
        return _schema(rule, schema)
    if isinstance(rule, RowCount):
        return _row_count(rule, num_rows)
    missing = _absent(rule, schema)
    if missing is not None:
        return missing
    if isinstance(rule, ColumnType):
        return _column_type(rule, schema)
    try:
        if isinstance(rule, Unique):
            return _RowCheck(rule, _unique_mask(rule))
        dtype = schema[rule.columns_used[0]]
        present = _present(rule.columns_used[0], dtype)
        if isinstance(rule, NotNull):
            return _RowCheck(rule, ~present)
        if isinstance(rule, Range):
            mask = _range_mask(rule, dtype)
        elif isinstance(rule, AllowedValues):
            mask = _allowed_mask(rule, dtype)
        elif isinstance(rule, Regex):
            mask = _regex_mask(rule, dtype)
        else:
            return _failed(rule, f"rule kind {rule.kind!r} has no check")
    except _Mismatch as exc:
        return _failed(rule, str(exc))
    return _RowCheck(rule, (present & mask).fill_null(value=False))


def _judge(rule: Rule, failing: int, num_rows: int) -> tuple[bool, str]:
    share = failing / num_rows if num_rows else 0.0
    if isinstance(rule, NotNull):
        passed = share <= rule.max_fraction + 1e-12
        allowed = "none allowed" if rule.max_fraction == 0 else f"{rule.max_fraction:.2%} allowed"
        return passed, f"{failing} of {num_rows} values are missing ({share:.2%}; {allowed})"
    if failing == 0:
        return True, f"all {num_rows} rows pass"
    return False, f"{failing} of {num_rows} rows break the rule ({share:.2%})"


def _measure(frame: pl.DataFrame, checks: Sequence[_RowCheck]) -> list[tuple[int, list[int]]]:
    exprs: list[pl.Expr] = []
    for index, check in enumerate(checks):
        exprs.append(check.mask.sum().cast(pl.Int64).alias(f"n{index}"))
        exprs.append(check.mask.arg_true().head(MAX_EXAMPLES).implode().alias(f"x{index}"))
    row = frame.select(exprs).row(0)
    return [(int(row[2 * i]), list(row[2 * i + 1])) for i in range(len(checks))]


def _measure_each(frame: pl.DataFrame, check: _RowCheck) -> tuple[int, list[int]] | str:
    try:
        return _measure(frame, [check])[0]
    except pl.exceptions.PolarsError as exc:
        return f"the rule could not run: {str(exc).splitlines()[0]}"


def _examples(frame: pl.DataFrame, positions: Iterable[int]) -> dict[int, dict[str, object]]:
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    rows = frame.select(pl.all().gather(wanted)).to_dicts()
    return {
        position: {key: json_safe(value) for key, value in row.items()}
        for position, row in zip(wanted, rows, strict=True)
    }


def evaluate(frame: pl.DataFrame, rules: Sequence[Rule]) -> list[RuleResult]:
    """Every rule's result on ``frame``, in the order given."""
    num_rows = frame.height
    plans = [_plan(rule, frame.schema, num_rows) for rule in rules]
    checks = [plan for plan in plans if isinstance(plan, _RowCheck)]
    try:
        measured: list[tuple[int, list[int]] | str] = list(_measure(frame, checks))
    except pl.exceptions.PolarsError:
        # One rule the engine rejects must not hide the others: run them one by one.
        measured = [_measure_each(frame, check) for check in checks]
    by_check = dict(zip(map(id, checks), measured, strict=True))
    examples = _examples(
        frame, (p for m in measured if not isinstance(m, str) and m[0] for p in m[1])
    )
    results: list[RuleResult] = []
    for plan in plans:
        if isinstance(plan, RuleResult):
            results.append(plan)
            continue
        outcome = by_check[id(plan)]
        if isinstance(outcome, str):
            results.append(_failed(plan.rule, outcome))
            continue
        failing, positions = outcome
        passed, message = _judge(plan.rule, failing, num_rows)
        shown = tuple(positions) if failing else ()
        results.append(
            RuleResult(
                plan.rule,
                passed=passed,
                failing_count=failing,
                examples=tuple(examples[p] for p in shown),
                message=message,
                example_rows=shown,
            )
        )
    return results
