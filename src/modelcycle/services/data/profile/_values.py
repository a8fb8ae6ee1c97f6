"""What counts as a present value: NaN is missing, like null; infinities are not finite."""

from __future__ import annotations

import math
from typing import Any

import polars as pl


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is null, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def present(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column with NaN turned into null (decimals as floats)."""
    col = pl.col(name)
    if dtype.is_float():
        return col.fill_nan(None)
    if dtype.is_decimal():
        return col.cast(pl.Float64)
    return col


def numeric_values(name: str, dtype: pl.DataType) -> pl.Expr:
    """The finite values of a numeric column."""
    col = present(name, dtype)
    return col.filter(col.is_finite()) if dtype.is_float() else col


def json_scalar(value: Any) -> str | int | float | bool | None:
    """A cell value as JSON: finite floats or None, datetimes as ISO strings, others as str."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return finite(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
