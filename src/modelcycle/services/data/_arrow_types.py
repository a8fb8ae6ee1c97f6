"""Arrow types: the names users write, the canonical forms snapshots store, and column kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

_NAMED_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "number": pa.float64(),
    "str": pa.string(),
    "string": pa.string(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "category": pa.dictionary(pa.int32(), pa.string()),
    "categorical": pa.dictionary(pa.int32(), pa.string()),
}


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type a user names.

    ``int``, ``float``, ``string``, ``bool``, ``date``, ``datetime``, ``category``, or any Arrow
    alias such as ``int32`` or ``timestamp[ms]``.

    Raises:
        InvalidInput: the name is not a type.
    """
    key = name.strip().lower()
    if key in _NAMED_TYPES:
        return _NAMED_TYPES[key]
    try:
        return pa.type_for_alias(key)
    except ValueError:
        known = ", ".join(sorted(_NAMED_TYPES))
        raise InvalidInput(
            f"unknown type {name!r}: use one of {known}, or an Arrow type such as int32"
        ) from None


def arrow_types(names: Mapping[str, str] | None) -> dict[str, pa.DataType]:
    """``{column: type name}`` as Arrow types."""
    return {column: arrow_type(name) for column, name in (names or {}).items()}


def canonical_type(dtype: pa.DataType) -> pa.DataType:
    """The one form a snapshot stores for equivalent types, so that equal data hashes equally.

    Strings and binaries of every offset width become ``string`` / ``binary``; dictionaries
    get ``int32`` indices over canonical values.
    """
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_dictionary(dtype):
        return pa.dictionary(pa.int32(), canonical_type(dtype.value_type))
    return dtype


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with canonical types and no metadata (pandas' index notes and the like)."""
    fields = [pa.field(f.name, canonical_type(f.type), nullable=True) for f in schema]
    return pa.schema(fields)


def column_kind(dtype: pa.DataType, distinct: int | None, limit: int) -> ColumnKind:
    """How to read a column of ``dtype`` with ``distinct`` values (None: more than ``limit``)."""
    if pa.types.is_boolean(dtype):
        return ColumnKind.BOOLEAN
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return ColumnKind.NUMERIC
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return ColumnKind.DATETIME
    if pa.types.is_dictionary(dtype):
        return ColumnKind.CATEGORICAL
    if pa.types.is_string(dtype):
        return (
            ColumnKind.CATEGORICAL
            if distinct is not None and distinct <= limit
            else (ColumnKind.TEXT)
        )
    return ColumnKind.OTHER
