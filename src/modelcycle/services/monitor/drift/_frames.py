"""Frames in, column plans out: which columns are compared and as what kind.

Kinds follow Evidently 0.7's inference where it has one: floats are numeric; integers are
numeric unless they hold at most 10 distinct values (then categorical); booleans, strings,
categoricals and enums are categorical (a string column whose reference values are mostly
distinct is free text, which is not tested); dates, times and durations are not tested unless
the caller asks for a kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

INTEGER_CATEGORIES = 10  # an integer column with at most this many distinct values is categorical
_PREFIX = 100_000


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How one column is compared: its kind, and whether it may turn out to be free text."""

    name: str
    kind: ColumnKind
    text_check: bool = False
    reason: str | None = None


def as_frame(data: object, side: str) -> pl.DataFrame:
    """``data`` as a polars DataFrame: polars (eager or lazy), pandas or pyarrow.

    Raises:
        InvalidInput: another type, a frame polars cannot read, or a frame without rows.
    """
    try:
        frame = _convert(data, side)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the {side} frame cannot be read: {exc}; give each column one type"
        ) from exc
    if frame.height == 0:
        raise InvalidInput(
            f"the {side} frame has no rows: drift needs at least one row on each side "
            "(check the window or the filter that produced it)"
        )
    return frame


def _convert(data: Any, side: str) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        converted_pandas: pl.DataFrame = pl.from_pandas(data)
        return converted_pandas
    if module == "pyarrow" and hasattr(data, "schema"):
        converted = pl.from_arrow(data)
        if isinstance(converted, pl.DataFrame):
            return converted
    raise InvalidInput(
        f"the {side} must be a polars, pandas or pyarrow frame, got {type(data).__name__}"
    )


def family(dtype: pl.DataType) -> str:
    """The family a dtype belongs to, for comparing the two sides' types."""
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "text"
    if dtype.is_temporal():
        return "temporal"
    return "other"


def choose_columns(
    reference: pl.DataFrame, current: pl.DataFrame, columns: Sequence[str] | None
) -> list[str]:
    """The columns to compare: those asked for, else every reference column.

    Raises:
        InvalidInput: a column is missing on a side, or named twice.
    """
    if isinstance(columns, str):
        raise InvalidInput(f"columns must be a list of names, got the string {columns!r}")
    names = list(reference.columns if columns is None else columns)
    if not names:
        raise InvalidInput("no columns to compare: pass columns=[...] with at least one name")
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    if twice:
        raise InvalidInput(f"columns named more than once: {twice}")
    for side, frame in (("reference", reference), ("current", current)):
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the {side} has no column {', '.join(map(repr, missing))}; "
                f"pass columns=[...] naming columns both sides have "
                f"(the {side} has {', '.join(map(repr, frame.columns[:20]))})"
            )
    return names


def plan_column(
    name: str, reference: pl.Series, current: pl.Series, kind: ColumnKind | str | None
) -> ColumnPlan:
    """How to compare one column (see the module docstring).

    Raises:
        InvalidInput: the two sides hold different types, or ``kind`` does not fit the values.
    """
    families = {family(reference.dtype), family(current.dtype)} - {"null"}
    if len(families) > 1:
        raise InvalidInput(
            f"column {name!r} is {reference.dtype} in the reference but {current.dtype} in the "
            "current; cast one side so both hold the same type"
        )
    found = families.pop() if families else "null"
    if kind is not None:
        return _explicit(name, found, _kind(name, kind))
    return _inferred(name, found, reference, current)


def _kind(name: str, kind: ColumnKind | str) -> ColumnKind:
    if kind not in (ColumnKind.NUMERIC.value, ColumnKind.CATEGORICAL.value):
        raise InvalidInput(
            f"column {name!r}: kind must be 'numeric' or 'categorical', got {kind!r}"
        )
    return ColumnKind(kind)


def _explicit(name: str, found: str, kind: ColumnKind) -> ColumnPlan:
    if found == "other":
        raise InvalidInput(
            f"column {name!r} holds nested or binary values, which no drift test reads; "
            "leave it out of columns=[...]"
        )
    if kind is ColumnKind.NUMERIC and found == "text":
        raise InvalidInput(
            f"column {name!r} holds text, so it cannot be compared as numeric; cast it to "
            f"numbers first or pass column_kinds={{{name!r}: 'categorical'}}"
        )
    return ColumnPlan(name, kind)


def _inferred(name: str, found: str, reference: pl.Series, current: pl.Series) -> ColumnPlan:
    if found == "numeric":
        if reference.dtype.is_integer() and _few_values(reference, current):
            return ColumnPlan(name, ColumnKind.CATEGORICAL)
        return ColumnPlan(name, ColumnKind.NUMERIC)
    if found == "boolean":
        return ColumnPlan(name, ColumnKind.CATEGORICAL)
    if found == "text":
        return ColumnPlan(name, ColumnKind.CATEGORICAL, text_check=reference.dtype == pl.String)
    if found == "null":
        return ColumnPlan(name, ColumnKind.OTHER, reason="no values on either side (all null)")
    if found == "temporal":
        return ColumnPlan(
            name,
            ColumnKind.DATETIME,
            reason=f"{reference.dtype} columns are not tested; pass "
            f"column_kinds={{{name!r}: 'numeric'}} to compare their values as numbers",
        )
    return ColumnPlan(name, ColumnKind.OTHER, reason=f"{reference.dtype} values are not tested")


def _few_values(reference: pl.Series, current: pl.Series) -> bool:
    """Whether both sides together hold at most ``INTEGER_CATEGORIES`` distinct values."""
    for side in (reference, current):
        # a prefix with too many values settles it without hashing the whole column
        if side.head(_PREFIX).n_unique() > INTEGER_CATEGORIES + 1:
            return False
    values = pl.concat(
        [side.drop_nulls().unique().cast(pl.Float64) for side in (reference, current)]
    )
    return values.n_unique() <= INTEGER_CATEGORIES


def column_kinds_of(kinds: Mapping[str, Any] | None, columns: Sequence[str]) -> dict[str, Any]:
    """The explicit kinds by column, every key a compared column.

    Raises:
        InvalidInput: a key names a column not compared.
    """
    given = dict(kinds or {})
    unknown = [k for k in given if k not in columns]
    if unknown:
        raise InvalidInput(
            f"column_kinds names columns that are not compared: {unknown}; "
            f"compared: {list(columns)[:20]}"
        )
    return given
