"""Packing metric series into columns: int64 steps, float64 values, int64 timestamps."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence

_SWAP = sys.byteorder != "little"  # stored little-endian whatever the machine


def pack(kind: str, items: Sequence[float] | Sequence[int]) -> bytes:
    """Pack numbers as an array of ``kind`` ("q" int64, "d" float64)."""
    packed = array(kind, items)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return packed.tobytes()


def unpack(kind: str, data: bytes) -> array[float] | array[int]:
    """The inverse of ``pack``."""
    packed = array(kind)
    packed.frombytes(data)
    if _SWAP:  # pragma: no cover
        packed.byteswap()
    return packed
