"""Prediction ids in bulk: the 32-hex, time-ordered form of ``core.ids.new_id``, made vectorised.

An id is ``<12 hex: milliseconds since the epoch><12 hex: random per job><8 hex: row counter>``.
Within one job the millisecond part never decreases and the counter always increases, so ids
sort in row order; the random middle keeps concurrent jobs (and the endpoint's ids, which are
random after the clock) apart. The ids of a chunk are built as one Arrow string array from a
single byte buffer, with no Python loop over rows.

A job hands out ``IdBlock``s in row order (``IdSequence.reserve``): the prefix and first
counter of a run of ids, small enough to travel with a chunk to a worker, which spells the ids
out itself (``IdBlock.ids``) exactly as the job would have.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from modelcycle.core.errors import InvalidInput

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_QUADS = (
    np.stack([_HEX[(np.arange(1 << 16) >> shift) & 0xF] for shift in (12, 8, 4, 0)], axis=1)
    .copy()
    .view(np.uint32)
    .reshape(-1)
)
"""Entry ``n`` holds the four hex characters of the 16-bit number ``n``, as one uint32."""
_ID_CHARS = 32
_COUNTER_DIGITS = 8
_COUNTER_LIMIT = 1 << (4 * _COUNTER_DIGITS)


@dataclass(frozen=True, slots=True)
class IdBlock:
    """``count`` consecutive ids: a 24-hex prefix (clock and job) and the first row counter."""

    prefix: str
    start: int
    count: int

    def id_at(self, index: int) -> str:
        """The id of row ``index`` of the block."""
        return f"{self.prefix}{self.start + index:0{_COUNTER_DIGITS}x}"

    def ids(self) -> pa.StringArray:
        """The block's ids, in increasing order, as one Arrow string array."""
        count = self.count
        prefix = np.frombuffer(self.prefix.encode(), dtype=np.uint8)
        counters = np.arange(self.start, self.start + count, dtype=">u4")
        # Each row is 8 uint32 words: 6 of prefix, then the counter's two big-endian 16-bit
        # halves, four hex characters each, looked up in one take.
        words = np.empty((count, _ID_CHARS // 4), dtype=np.uint32)
        words.view(np.uint8)[:, : _ID_CHARS - _COUNTER_DIGITS] = prefix
        np.take(_HEX_QUADS, counters.view(">u2").reshape(count, 2), out=words[:, 6:])
        chars = words.view(np.uint8)
        offsets = np.arange(0, (count + 1) * _ID_CHARS, _ID_CHARS, dtype=np.int32)
        return pa.StringArray.from_buffers(
            count, pa.py_buffer(offsets), pa.py_buffer(chars.reshape(-1))
        )


class IdSequence:
    """Hands out consecutive, time-ordered prediction ids for one scoring job."""

    def __init__(self) -> None:
        self._salt = os.urandom(6).hex()
        self._millis = 0
        self._next = 0

    def take(self, count: int) -> pa.StringArray:
        """The next ``count`` ids, in increasing order.

        Raises:
            InvalidInput: the job would exceed 4,294,967,296 rows.
        """
        return self.reserve(count).ids()

    def reserve(self, count: int) -> IdBlock:
        """The next ``count`` ids, as a block to spell out here or elsewhere.

        Raises:
            InvalidInput: the job would exceed 4,294,967,296 rows.
        """
        if self._next + count > _COUNTER_LIMIT:
            raise InvalidInput(
                f"a batch job scores at most {_COUNTER_LIMIT:,} rows; split the input"
            )
        self._millis = max(self._millis, time.time_ns() // 1_000_000)
        block = IdBlock(f"{self._millis:012x}{self._salt}", self._next, count)
        self._next += count
        return block
