"""Packing metric series into columns: int64 steps, float64 values, int64 timestamps."""

from __future__ import annotations

import sys
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_SWAP = sys.byteorder != "little"  # stored little-endian whatever the machine


def pack(kind: str, items: Sequence[float] | Sequence[int]) -> bytes:
    """Pack numbers as an array of ``kind`` ("q" int64, "d" float64)."""
    packed = array(kind, items)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return packed.tobytes()


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
