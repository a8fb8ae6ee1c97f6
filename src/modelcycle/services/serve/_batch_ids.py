"""Prediction ids in bulk: the 32-hex, time-ordered form of ``core.ids.new_id``, made vectorised.

An id is ``<12 hex: milliseconds since the epoch><12 hex: random per job><8 hex: row counter>``.
Within one job the millisecond part never decreases and the counter always increases, so ids
sort in row order; the random middle keeps concurrent jobs (and the endpoint's ids, which are
random after the clock) apart. The ids of a chunk are built as one Arrow string array from a
single byte buffer, with no Python loop over rows.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa

from modelcycle.core.errors import InvalidInput

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_ID_CHARS = 32
_COUNTER_DIGITS = 8
_COUNTER_LIMIT = 1 << (4 * _COUNTER_DIGITS)


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
        if self._next + count > _COUNTER_LIMIT:
            raise InvalidInput(
                f"a batch job scores at most {_COUNTER_LIMIT:,} rows; split the input"
            )
        self._millis = max(self._millis, time.time_ns() // 1_000_000)
        prefix = np.frombuffer(f"{self._millis:012x}{self._salt}".encode(), dtype=np.uint8)
        counters = np.arange(self._next, self._next + count, dtype=np.uint64)
        self._next += count
        chars = np.empty((count, _ID_CHARS), dtype=np.uint8)
        chars[:, : _ID_CHARS - _COUNTER_DIGITS] = prefix
        shifts = np.arange(4 * (_COUNTER_DIGITS - 1), -1, -4, dtype=np.uint64)
        nibbles = (counters[:, None] >> shifts[None, :]) & np.uint64(0xF)
        chars[:, _ID_CHARS - _COUNTER_DIGITS :] = _HEX[nibbles]
        offsets = np.arange(0, (count + 1) * _ID_CHARS, _ID_CHARS, dtype=np.int32)
        return pa.StringArray.from_buffers(
            count, pa.py_buffer(offsets), pa.py_buffer(chars.reshape(-1))
        )
