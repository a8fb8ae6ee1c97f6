"""Type names shared by validation rules and cleansing recipes.

Two spellings are accepted wherever a type is named:

- a *family*: ``int`` (any signed or unsigned integer), ``float``, ``number`` (integer, float or
  decimal), ``string``, ``bool``, ``datetime`` (any unit, any time zone), ``date`` and
  ``categorical`` (categorical or enum);
- an exact polars type: a class name such as ``Int32`` or ``Datetime`` (any parameters), or the
  full printed form such as ``Datetime(time_unit='ms', time_zone='UTC')`` to match parameters too.
"""

from __future__ import annotations

import inspect
from functools import cache

import polars as pl

from modelcycle.core.errors import InvalidInput

FAMILIES: tuple[str, ...] = (
    "int",
    "float",
    "number",
    "string",
    "bool",
    "datetime",
    "date",
    "categorical",
)

# A cast needs one concrete type per family.
_CAST_TARGETS: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "number": pl.Float64(),
    "string": pl.String(),
    "bool": pl.Boolean(),
    "datetime": pl.Datetime("us"),
    "date": pl.Date(),
    "categorical": pl.Categorical(),
}


@cache
def polars_type_names() -> dict[str, type[pl.DataType]]:
    """Every polars data type class by name (``Utf8`` folds into ``String``)."""
    found = {
        name: value
        for name, value in vars(pl).items()
        if inspect.isclass(value) and issubclass(value, pl.DataType) and value is not pl.DataType
    }
    found.pop("Utf8", None)
    return found


def _base_name(name: str) -> str:
    return name.split("(", 1)[0].strip()


def check_type_name(name: object) -> str:
    """Return ``name`` if it names a family or a polars type, else raise ``InvalidInput``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a type name must be a non-empty string, got {name!r}")
    if name in FAMILIES or _base_name(name) in polars_type_names() or name == "Utf8":
        return name
    raise InvalidInput(
        f"unknown type {name!r}; use one of {', '.join(FAMILIES)} "
        f"or a polars type such as Int32, Float32, String, Datetime"
    )


def family_of(dtype: pl.DataType) -> str | None:
    """The family of a polars type (``number`` is never returned: it is a union)."""
    checks = (
        ("int", dtype.is_integer()),
        ("float", dtype.is_float()),
        ("string", dtype == pl.String),
        ("bool", dtype == pl.Boolean),
        ("datetime", isinstance(dtype, pl.Datetime)),
        ("date", dtype == pl.Date),
        ("categorical", isinstance(dtype, pl.Categorical | pl.Enum)),
    )
    return next((family for family, hit in checks if hit), None)


def type_matches(dtype: pl.DataType, name: str) -> bool:
    """Whether a column of type ``dtype`` satisfies the type ``name``."""
    if name == "number":
        return dtype.is_numeric()
    if name in FAMILIES:
        return family_of(dtype) == name
    if name == "Utf8":
        name = "String"
    if "(" in name:
        return str(dtype) == name
    return type(dtype).__name__ == name or str(dtype) == name


def suggested_type_name(dtype: pl.DataType) -> str:
    """The name ``suggest_rules`` writes: the family when there is one, else the exact type."""
    return family_of(dtype) or str(dtype)


def cast_target(name: str) -> pl.DataType:
    """The concrete polars type a ``Cast`` step converts to."""
    check_type_name(name)
    if name in _CAST_TARGETS:
        return _CAST_TARGETS[name]
    base = "String" if name == "Utf8" else name
    cls = polars_type_names().get(base)
    if cls is None:
        raise InvalidInput(
            f"cannot cast to {name!r}: give a family ({', '.join(FAMILIES)}) or a polars type "
            "name without parameters such as Int32, Float32, UInt8, Date"
        )
    try:
        return cls()
    except TypeError:
        raise InvalidInput(
            f"cannot cast to {name!r}: that polars type needs parameters; "
            f"use a family ({', '.join(FAMILIES)}) or a simple type such as Int32"
        ) from None
