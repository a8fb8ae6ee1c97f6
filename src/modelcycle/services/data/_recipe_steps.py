"""The built-in cleansing steps, each a frozen spec that learns (``fit``) then applies.

``fit(frame)`` returns the JSON-safe statistics a step learns (an empty mapping for steps that
learn nothing); ``transform(frame, state)`` applies the step with those statistics, so a recipe
can be refitted on new data or replayed with the statistics of an earlier run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._dtypes import cast_target, check_type_name
from modelcycle.services.data._rule_report import json_safe
from modelcycle.services.data._specs import (
    Spec,
    require_names,
    require_number,
    require_str,
)

State = dict[str, Any]


def list_columns(columns: Sequence[str], limit: int = 20) -> str:
    """``a, b, c`` for an error message, cut after ``limit`` names."""
    shown = ", ".join(columns[:limit])
    return shown + (f", … ({len(columns) - limit} more)" if len(columns) > limit else "")


class Step(Spec):
    """Base of every step: checks its columns, learns its statistics, transforms a frame."""

    __slots__ = ()

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The input columns the step reads."""
        column = getattr(self, "column", None)
        if isinstance(column, str):
            return (column,)
        columns = getattr(self, "columns", None)
        return tuple(columns) if isinstance(columns, tuple | list) else ()

    def describe(self) -> str:
        """One line saying what the step does."""
        raise NotImplementedError  # every concrete step overrides this

    def check(self, frame: pl.DataFrame) -> None:
        """Raise ``InvalidInput`` naming any column the step needs that ``frame`` lacks."""
        absent = [name for name in self.columns_used if name not in frame.columns]
        if absent:
            names = ", ".join(repr(name) for name in absent)
            raise InvalidInput(
                f"column {names} not in the data (columns: {list_columns(frame.columns)})"
            )

    def fit(self, frame: pl.DataFrame) -> State:
        """The statistics this step learns from ``frame`` (JSON-safe)."""
        del frame
        return {}

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step with learned ``state``."""
        raise NotImplementedError  # every concrete step overrides this

    def plain_state(self, state: State) -> dict[str, Any]:
        """The JSON-safe form of a learned state."""
        return dict(state)

    def restore_state(self, plain: Mapping[str, Any]) -> State:
        """The learned state back from ``plain_state`` output."""
        return dict(plain)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclasses.dataclass(frozen=True, slots=True)
class DropDuplicates(Step):
    """Drop repeated rows (judged on ``subset`` columns, or all); keep first, last or none."""

    subset: Sequence[str] | None = None
    keep: Literal["first", "last", "none"] = "first"
    kind = "drop_duplicates"

    def __post_init__(self) -> None:
        if self.subset is not None:
            _set(self, "subset", require_names(self.subset, "subset"))
        if self.keep not in ("first", "last", "none"):
            raise InvalidInput(f"field 'keep' must be first, last or none, got {self.keep!r}")

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns that decide what a duplicate is."""
        return tuple(self.subset or ())

    def describe(self) -> str:
        """One line saying what the step does."""
        on = f" on {', '.join(self.subset)}" if self.subset else ""
        return f"drop duplicate rows{on}, keeping {self.keep}"

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        subset = list(self.subset) if self.subset else None
        return frame.unique(subset=subset, keep=self.keep, maintain_order=True)


@dataclasses.dataclass(frozen=True, slots=True)
class DropColumns(Step):
    """Remove the named columns."""

    columns: Sequence[str]
    kind = "drop_columns"

    def __post_init__(self) -> None:
        _set(self, "columns", require_names(self.columns, "columns"))

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"drop columns {', '.join(self.columns)}"

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        return frame.drop(self.columns)


@dataclasses.dataclass(frozen=True, slots=True)
class KeepColumns(Step):
    """Keep only the named columns, in the order given."""

    columns: Sequence[str]
    kind = "keep_columns"

    def __post_init__(self) -> None:
        _set(self, "columns", require_names(self.columns, "columns"))

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"keep columns {', '.join(self.columns)}"

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        return frame.select(self.columns)


def _parse_predicate(expression: str) -> pl.Expr:
    try:
        return pl.sql_expr(expression)
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).splitlines()[0]
        raise InvalidInput(
            f"field 'expression' {expression!r} is not a valid SQL condition: {detail}"
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class FilterRows(Step):
    """Keep the rows where a SQL condition is true, e.g. ``age >= 18 AND country <> 'XX'``.

    The condition is parsed by polars' SQL engine, never run as Python. Rows where it is false
    or unknown (a comparison with a missing value) are dropped, as in a SQL ``WHERE``.
    """

    expression: str
    kind = "filter_rows"

    def __post_init__(self) -> None:
        require_str(self.expression, "expression")
        _parse_predicate(self.expression)

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns the condition names."""
        return tuple(_parse_predicate(self.expression).meta.root_names())

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"keep rows where {self.expression}"

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        predicate = _parse_predicate(self.expression)
        try:
            return frame.filter(predicate)
        except pl.exceptions.PolarsError as exc:
            detail = str(exc).splitlines()[0]
            raise InvalidInput(
                f"the condition {self.expression!r} cannot be evaluated: {detail}"
            ) from None


def _fits(value: object, dtype: pl.DataType) -> bool:
    if dtype.is_numeric():
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if dtype in (pl.String, pl.Date) or isinstance(dtype, pl.Datetime | pl.Categorical | pl.Enum):
        return isinstance(value, str)
    return False


def _fill(name: str, dtype: pl.DataType, value: object) -> pl.Expr:
    column = pl.col(name)
    if dtype.is_float():
        column = column.fill_nan(None)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return column.fill_null(pl.lit(value).str.to_datetime().cast(dtype))
    return column.fill_null(pl.lit(value))


@dataclasses.dataclass(frozen=True, slots=True)
class Impute(Step):
    """Fill missing values (null, and NaN in float columns) with a constant or a statistic.

    ``median`` and ``mean`` need numeric columns; ``mode`` takes the most frequent value (the
    smallest one on a tie); ``constant`` fills ``value``. A whole-number statistic keeps an
    integer column integer; otherwise it becomes float, as in pandas.
    """

    columns: Sequence[str]
    strategy: Literal["constant", "median", "mode", "mean"] = "constant"
    value: str | int | float | bool | dt.date | None = None
    kind = "impute"

    def __post_init__(self) -> None:
        _set(self, "columns", require_names(self.columns, "columns"))
        if self.strategy not in ("constant", "median", "mode", "mean"):
            raise InvalidInput(
                f"field 'strategy' must be constant, median, mode or mean, got {self.strategy!r}"
            )
        value: object = self.value
        if isinstance(value, dt.date):
            _set(self, "value", value.isoformat())
        if self.strategy == "constant" and self.value is None:
            raise InvalidInput("strategy 'constant' needs a 'value' to fill with")
        if self.strategy != "constant" and self.value is not None:
            raise InvalidInput(f"strategy {self.strategy!r} learns its value; drop 'value'")
        if not isinstance(self.value, str | int | float | bool | None):
            raise InvalidInput(f"field 'value' must be text, a number or a boolean: {value!r}")

    def describe(self) -> str:
        """One line saying what the step does."""
        how = f"{self.value!r}" if self.strategy == "constant" else f"the {self.strategy}"
        return f"fill missing values of {', '.join(self.columns)} with {how}"

    def _statistic(self, frame: pl.DataFrame, name: str) -> pl.Expr:
        dtype = frame.schema[name]
        column = pl.col(name)
        present = column.filter(column.is_not_nan()) if dtype.is_float() else column.drop_nulls()
        if self.strategy in ("median", "mean"):
            if not dtype.is_numeric():
                raise InvalidInput(f"the {self.strategy} of {name!r} ({dtype}) is not defined")
            return (present.median() if self.strategy == "median" else present.mean()).alias(name)
        return present.drop_nulls().mode().sort().first().alias(name)

    def fit(self, frame: pl.DataFrame) -> State:
        """Learn the fill value of each column."""
        if self.strategy == "constant":
            return dict.fromkeys(self.columns, self.value)
        row = frame.select([self._statistic(frame, name) for name in self.columns]).row(0)
        learned: State = {}
        for name, value in zip(self.columns, row, strict=True):
            if value is None:
                raise InvalidInput(
                    f"column {name!r} has no value to take the {self.strategy} of; "
                    "use strategy 'constant'"
                )
            if isinstance(value, float) and frame.schema[name].is_integer() and value.is_integer():
                value = int(value)
            learned[name] = json_safe(value)
        return learned

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Fill each column with its learned value."""
        exprs = []
        for name in self.columns:
            dtype, value = frame.schema[name], state[name]
            if not _fits(value, dtype):
                raise InvalidInput(f"cannot fill column {name!r} ({dtype}) with {value!r}")
            exprs.append(_fill(name, dtype, value))
        return frame.with_columns(exprs)


@dataclasses.dataclass(frozen=True, slots=True)
class Clip(Step):
    """Limit a numeric column to ``[lower, upper]`` (either bound may be left out)."""

    column: str
    lower: float | int | None = None
    upper: float | int | None = None
    kind = "clip"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        low = require_number(self.lower, "lower")
        high = require_number(self.upper, "upper")
        if low is None and high is None:
            raise InvalidInput("a clip needs 'lower', 'upper' or both")
        if low is not None and high is not None and low > high:
            raise InvalidInput(f"'lower' {low} is greater than 'upper' {high}")

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"clip {self.column!r} to [{self.lower}, {self.upper}]"

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        dtype = frame.schema[self.column]
        if not dtype.is_numeric():
            raise InvalidInput(f"column {self.column!r} is {dtype}; clip needs a numeric column")
        column = pl.col(self.column)
        whole = all(isinstance(b, int) for b in (self.lower, self.upper) if b is not None)
        if dtype.is_integer() and not whole:
            column = column.cast(pl.Float64)  # a fractional bound must not be truncated
        return frame.with_columns(column.clip(self.lower, self.upper))


@dataclasses.dataclass(frozen=True, slots=True)
class Cast(Step):
    """Convert a column to a type (a family such as ``int`` or a polars type such as ``Int32``).

    The conversion is strict: a value that does not convert is an error, with a count and
    examples, rather than a silent missing value.
    """

    column: str
    dtype: str
    kind = "cast"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        try:
            check_type_name(self.dtype)
            cast_target(self.dtype)
        except InvalidInput as exc:
            raise InvalidInput(f"field 'dtype': {exc.message}") from None

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"cast {self.column!r} to {self.dtype}"

    def _convert(self, source: pl.DataType, target: pl.DataType, *, strict: bool) -> pl.Expr:
        column = pl.col(self.column)
        if source == pl.String and target == pl.Date:
            return column.str.to_date(strict=strict)
        if source == pl.String and isinstance(target, pl.Datetime):
            return column.str.to_datetime(time_unit=target.time_unit, strict=strict)
        return column.cast(target, strict=strict)

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        source, target = frame.schema[self.column], cast_target(self.dtype)
        try:
            return frame.with_columns(self._convert(source, target, strict=True))
        except pl.exceptions.PolarsError as exc:
            try:
                lost = (
                    pl.col(self.column).is_not_null()
                    & self._convert(source, target, strict=False).is_null()
                )
                bad = frame.filter(lost).get_column(self.column)
            except pl.exceptions.PolarsError:
                raise InvalidInput(
                    f"cannot cast {self.column!r} ({source}) to {target}: "
                    f"{str(exc).splitlines()[0]}"
                ) from None
            raise InvalidInput(
                f"{bad.len()} value(s) of {self.column!r} ({source}) do not "
                f"convert to {target}, e.g. {bad.head(5).to_list()!r}"
            ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Rename(Step):
    """Rename columns: ``mapping`` from old name to new name."""

    mapping: Mapping[str, str]
    kind = "rename"

    def __post_init__(self) -> None:
        given: object = self.mapping
        if not isinstance(given, Mapping) or not given:
            raise InvalidInput(f"field 'mapping' must map old names to new ones, got {given!r}")
        for old, new in given.items():
            require_str(old, "mapping")
            require_str(new, "mapping")
        if len(set(given.values())) != len(given):
            raise InvalidInput(f"field 'mapping' gives two columns the same name: {dict(given)}")
        _set(self, "mapping", dict(given))

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns renamed."""
        return tuple(self.mapping)

    def describe(self) -> str:
        """One line saying what the step does."""
        return "rename " + ", ".join(f"{old} to {new}" for old, new in self.mapping.items())

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Apply the step."""
        staying = set(frame.columns) - set(self.mapping)
        clash = sorted(staying & set(self.mapping.values()))
        if clash:
            raise InvalidInput(f"renaming would duplicate column(s) {', '.join(clash)}")
        return frame.rename(dict(self.mapping))
