"""Thrift's compact protocol, as much as a Parquet footer needs: structs read and written as lists.

A struct is ``Fields``: ``(field id, compact type, value)`` in field order, every field kept as
read, so a footer can be rewritten with only the fields a caller changes. Lists and sets are
``(element type, [values])``; binaries stay bytes; maps are refused (a Parquet footer has none).
"""

from __future__ import annotations

import struct
from typing import Any

from modelcycle.core.errors import InvalidInput

Fields = list[tuple[int, int, Any]]
"""A Thrift struct: ``(field id, compact type, value)`` in field order."""

TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)


def read_struct(data: bytes) -> Fields:
    """The struct encoded at the start of ``data``.

    Raises:
        InvalidInput: ``data`` holds a type this reader does not know.
    """
    return _Decoder(data).struct()


_MISSING = object()


def field(fields: Fields, fid: int, default: Any = _MISSING) -> Any:
    """The value of field ``fid``, else ``default``.

    Raises:
        InvalidInput: the field is absent and no default was given.
    """
    for found, _, value in fields:
        if found == fid:
            return value
    if default is _MISSING:
        raise InvalidInput(f"the Parquet footer lacks field {fid}")
    return default


def replaced(fields: Fields, fid: int, kind: int, value: Any) -> Fields:
    """``fields`` with field ``fid`` set to ``value`` (added if absent), in field order."""
    kept = [f for f in fields if f[0] != fid]
    return sorted([*kept, (fid, kind, value)], key=lambda f: f[0])


class _Decoder:
    """Reads Thrift compact-protocol structs from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def struct(self) -> Fields:
        fields: Fields = []
        fid = 0
        while True:
            head = self._byte()
            if head == 0:
                return fields
            kind = head & 0x0F
            fid = fid + (head >> 4) if head >> 4 else self._zigzag()
            value = kind == TRUE if kind in (TRUE, FALSE) else self._value(kind)
            fields.append((fid, kind, value))

    def _value(self, kind: int) -> Any:
        if kind in (I16, I32, I64):
            return self._zigzag()
        if kind == BINARY:
            size = self._varint()
            self.pos += size
            return self.data[self.pos - size : self.pos]
        if kind == STRUCT:
            return self.struct()
        if kind in (LIST, SET):
            head = self._byte()
            size = self._varint() if head >> 4 == 15 else head >> 4
            element = head & 0x0F
            return element, [self._value(element) for _ in range(size)]
        if kind in (TRUE, FALSE):  # a boolean inside a list
            return self._byte() == 1
        if kind == BYTE:
            return self._byte()
        if kind == DOUBLE:
            self.pos += 8
            return struct.unpack_from("<d", self.data, self.pos - 8)[0]
        raise InvalidInput(f"the Parquet footer holds an unknown Thrift type {kind}")

    def _byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def _varint(self) -> int:
        shift = result = 0
        while True:
            byte = self._byte()
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def _zigzag(self) -> int:
        number = self._varint()
        return (number >> 1) ^ -(number & 1)


def write_struct(fields: Fields, out: bytearray) -> None:
    """Append ``fields`` to ``out`` as one compact-protocol struct.

    Raises:
        InvalidInput: a value has a type this writer does not know.
    """
    last = 0
    for fid, kind, value in fields:
        wire = (TRUE if value else FALSE) if kind in (TRUE, FALSE) else kind
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | wire)
        else:
            out.append(wire)
            _varint((fid << 1) ^ (fid >> 63), out)
        last = fid
        if kind not in (TRUE, FALSE):
            _encode_value(kind, value, out)
    out.append(0)


def _encode_value(kind: int, value: Any, out: bytearray) -> None:
    if kind in (I16, I32, I64):
        _varint((value << 1) ^ (value >> 63), out)
    elif kind == BINARY:
        _varint(len(value), out)
        out += value
    elif kind == STRUCT:
        write_struct(value, out)
    elif kind in (LIST, SET):
        element, items = value
        out.append(len(items) << 4 | element if len(items) < 15 else 0xF0 | element)
        if len(items) >= 15:
            _varint(len(items), out)
        for item in items:
            _encode_value(element, item, out)
    elif kind in (TRUE, FALSE):
        out.append(1 if value else 2)
    elif kind == BYTE:
        out.append(value & 0xFF)
    elif kind == DOUBLE:
        out += struct.pack("<d", value)
    else:
        raise InvalidInput(f"cannot write Thrift type {kind}")


def _varint(number: int, out: bytearray) -> None:
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
