"""Packing metric series into columns: int64 steps, float64 values, int64 timestamps.

Packed columns are ``bytearray``: SQLite's driver binds one without the adapter lookup it
makes for every ``bytes``, and both drivers store it as binary.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_SWAP = sys.byteorder != "little"  # stored little-endian whatever the machine
INT = struct.Struct("<q")
"""One stored int64: ``INT.unpack_from(packed, 8 * i)`` reads the i-th of a packed column."""
FLOAT = struct.Struct("<d")
"""One stored float64, as ``INT``."""


def pack(kind: str, items: Sequence[float] | Sequence[int]) -> bytearray:
    """Pack numbers as an array of ``kind`` ("q" int64, "d" float64)."""
    packed = array(kind, items)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return bytearray(packed)


def pack_one_int(value: int) -> bytearray:
    """``pack("q", [value])``, faster."""
    return bytearray(INT.pack(value))


def pack_one_float(value: float) -> bytearray:
    """``pack("d", [value])``, faster."""
    return bytearray(FLOAT.pack(value))


def unpack_ints(data: bytes) -> array[int]:
    """The inverse of ``pack("q", ...)``."""
    packed: array[int] = array("q")
    packed.frombytes(data)
    if _SWAP:  # pragma: no cover
        packed.byteswap()
    return packed


def unpack_floats(data: bytes) -> array[float]:
    """The inverse of ``pack("d", ...)``."""
    packed: array[float] = array("d")
    packed.frombytes(data)
    if _SWAP:  # pragma: no cover
        packed.byteswap()
    return packed
