"""Signature type families of pandas columns, numpy arrays and polars columns.

A family is one of ``integer``, ``float``, ``boolean``, ``string``, ``datetime`` and
``category`` (the ``ColumnSpec.dtype`` vocabulary). ``None`` means a column has no family:
mixed values, complex numbers, durations and the like.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

FAMILIES: tuple[str, ...] = ("integer", "float", "boolean", "string", "datetime", "category")

_INFERRED: dict[str, str] = {
    "string": "string",
    "integer": "integer",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}

_NUMPY_KINDS: dict[str, str] = {
    "b": "boolean",
    "i": "integer",
    "u": "integer",
    "f": "float",
    "M": "datetime",
    "U": "string",
    "S": "string",
}


def pandas_family(series: pd.Series[Any]) -> str | None:
    """The family of a pandas column; object columns are judged by their non-null values."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "empty":
            return "string" if pd.api.types.is_string_dtype(dtype) else None
        return _INFERRED.get(inferred)
    return None


def numpy_family(dtype: np.dtype[Any]) -> str | None:
    """The family of a numpy dtype (``None`` for object arrays: look at the values)."""
    return _NUMPY_KINDS.get(dtype.kind)


def polars_family(dtype: pl.DataType) -> str | None:
    """The family of a polars dtype."""
    import polars as pl

    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype in (pl.String, pl.Utf8):
        return "string"
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "category"
    if isinstance(dtype, (pl.Datetime, pl.Date)):
        return "datetime"
    return None


def describe(series: pd.Series[Any]) -> str:
    """How a column's type reads in an error message: its family or its raw kind."""
    family = pandas_family(series)
    if family is not None:
        return family
    if pd.api.types.is_object_dtype(series.dtype):
        return f"mixed values ({pd.api.types.infer_dtype(series, skipna=True)})"
    return str(series.dtype)
