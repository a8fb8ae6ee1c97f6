"""The validation rule kinds: frozen, checked at construction, each with a ``describe()``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._dtypes import check_type_name
from modelcycle.services.data._specs import (
    Spec,
    require_bool,
    require_names,
    require_number,
    require_str,
)

Bound = int | float | str
Value = str | int | float | bool


class Rule(Spec):
    """Base of every rule: ``kind`` names it in YAML, ``columns`` lists the columns it reads."""

    __slots__ = ()

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns this rule reads (empty for rules about the frame as a whole)."""
        column = getattr(self, "column", None)
        return (column,) if isinstance(column, str) else ()

    def describe(self) -> str:
        """One line saying what the rule expects."""
        raise NotImplementedError  # every concrete rule overrides this


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _short(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f", … ({len(values) - limit} more)" if len(values) > limit else "")


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnType(Rule):
    """The column has a type.

    ``dtype`` is a family (``int``, ``float``, ``number``, ``string``, ``bool``, ``datetime``,
    ``date``, ``categorical``) or an exact polars type such as ``Int32``.
    """

    column: str
    dtype: str
    kind = "column_type"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        try:
            check_type_name(self.dtype)
        except InvalidInput as exc:
            raise InvalidInput(f"field 'dtype': {exc.message}") from None

    def describe(self) -> str:
        """One line saying what the rule expects."""
        return f"column {self.column!r} has type {self.dtype}"


@dataclasses.dataclass(frozen=True, slots=True)
class NotNull(Rule):
    """At most ``max_fraction`` of the column is missing (null, or NaN in a float column)."""

    column: str
    max_fraction: float = 0.0
    kind = "not_null"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        fraction = require_number(self.max_fraction, "max_fraction", optional=False)
        if fraction is None or not 0 <= fraction <= 1:
            raise InvalidInput(
                f"field 'max_fraction' must be between 0 and 1, got {self.max_fraction!r}"
            )
        _set(self, "max_fraction", float(fraction))

    def describe(self) -> str:
        """One line saying what the rule expects."""
        if self.max_fraction == 0:
            return f"column {self.column!r} has no missing values"
        return f"column {self.column!r} is at most {self.max_fraction:.2%} missing"


def _bound(value: object, field: str) -> Bound | None:
    # Dates are kept as ISO text so the plain form round-trips; they are parsed back against a
    # date or datetime column when the rule runs.
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return require_number(value, field)


@dataclasses.dataclass(frozen=True, slots=True)
class Range(Rule):
    """Every present value lies between ``min`` and ``max`` (numbers, text, ISO dates)."""

    column: str
    min: Bound | dt.date | None = None
    max: Bound | dt.date | None = None
    inclusive: bool = True
    kind = "range"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        low, high = _bound(self.min, "min"), _bound(self.max, "max")
        require_bool(self.inclusive, "inclusive")
        if low is None and high is None:
            raise InvalidInput("a range needs 'min', 'max' or both")
        same_kind = isinstance(low, str) == isinstance(high, str)
        if low is not None and high is not None and not same_kind:
            raise InvalidInput(f"'min' {low!r} and 'max' {high!r} must both be numbers or text")
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise InvalidInput(f"'min' {low!r} is greater than 'max' {high!r}")
        _set(self, "min", low)
        _set(self, "max", high)

    def describe(self) -> str:
        """One line saying what the rule expects."""
        low, high = ("> ", "< ") if not self.inclusive else (">= ", "<= ")
        parts = [f"{low}{self.min!r}"] if self.min is not None else []
        parts += [f"{high}{self.max!r}"] if self.max is not None else []
        return f"column {self.column!r} values are {' and '.join(parts)}"


def _allowed(value: object) -> Value:
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        raise InvalidInput(
            "field 'values' holds null: missing values are never checked here, use not_null "
            "(in YAML, quote the text 'null' if you mean that word)"
        )
    if isinstance(value, str | bool | int | float):
        return value
    raise InvalidInput(f"field 'values' must hold text, numbers or booleans, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class AllowedValues(Rule):
    """Every present value is one of ``values``."""

    column: str
    values: Sequence[Value | dt.date]
    kind = "allowed_values"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        given: object = self.values
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise InvalidInput(f"field 'values' must be a list, got {given!r}")
        values = tuple(dict.fromkeys(_allowed(value) for value in given))
        if not values:
            raise InvalidInput("field 'values' must list at least one value")
        _set(self, "values", values)

    def describe(self) -> str:
        """One line saying what the rule expects."""
        return f"column {self.column!r} takes only the values {_short(self.values)}"


@dataclasses.dataclass(frozen=True, slots=True)
class Regex(Rule):
    """Every present value contains a match of ``pattern`` (anchor with ^…$ for a full match)."""

    column: str
    pattern: str
    kind = "regex"

    def __post_init__(self) -> None:
        require_str(self.column, "column")
        require_str(self.pattern, "pattern")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InvalidInput(
                f"field 'pattern' {self.pattern!r} is not a valid regular expression: "
                f"{exc.msg} at position {exc.pos}"
            ) from None
        try:  # the pattern runs in polars' engine, which lacks look-around and back-references
            pl.select(pl.lit("", dtype=pl.String).str.contains(self.pattern))
        except pl.exceptions.PolarsError as exc:
            detail = str(exc).rsplit("error:", 1)[-1].split("\n", 1)[0].strip()
            raise InvalidInput(
                f"field 'pattern' {self.pattern!r} is not supported: {detail}"
            ) from None

    def describe(self) -> str:
        """One line saying what the rule expects."""
        return f"column {self.column!r} matches the pattern {self.pattern!r}"


@dataclasses.dataclass(frozen=True, slots=True)
class Unique(Rule):
    """No two rows share a value (or, for several columns, the same combination)."""

    columns: Sequence[str]
    kind = "unique"

    def __post_init__(self) -> None:
        _set(self, "columns", require_names(self.columns, "columns"))

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns this rule reads."""
        return tuple(self.columns)

    def describe(self) -> str:
        """One line saying what the rule expects."""
        if len(self.columns) == 1:
            return f"column {self.columns[0]!r} has no repeated values"
        return f"columns {', '.join(map(repr, self.columns))} have no repeated combination"


def _count(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"field {field!r} must be a whole number >= 0, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class RowCount(Rule):
    """The number of rows lies between ``min`` and ``max`` (inclusive)."""

    min: int | None = None
    max: int | None = None
    kind = "row_count"

    def __post_init__(self) -> None:
        low, high = _count(self.min, "min"), _count(self.max, "max")
        if low is None and high is None:
            raise InvalidInput("a row count needs 'min', 'max' or both")
        if low is not None and high is not None and low > high:
            raise InvalidInput(f"'min' {low} is greater than 'max' {high}")

    def describe(self) -> str:
        """One line saying what the rule expects."""
        if self.max is None:
            return f"the data has at least {self.min} rows"
        if self.min is None:
            return f"the data has at most {self.max} rows"
        return f"the data has between {self.min} and {self.max} rows"


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaContract(Rule):
    """The data has exactly these columns (or at least these, with ``allow_extra``)."""

    columns: Sequence[str]
    allow_extra: bool = False
    kind = "schema"

    def __post_init__(self) -> None:
        _set(self, "columns", require_names(self.columns, "columns", allow_empty=True))
        require_bool(self.allow_extra, "allow_extra")

    @property
    def columns_used(self) -> tuple[str, ...]:
        """The columns this rule names."""
        return tuple(self.columns)

    def describe(self) -> str:
        """One line saying what the rule expects."""
        quantifier = "at least" if self.allow_extra else "exactly"
        return f"the data has {quantifier} the columns {_short(self.columns)}"


RULE_KINDS: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (ColumnType, NotNull, Range, AllowedValues, Regex, Unique, RowCount, SchemaContract)
}
