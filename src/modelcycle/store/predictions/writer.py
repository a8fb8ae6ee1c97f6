"""The prediction log writer: a bounded queue off the request path, drained into Parquet segments.

``submit`` checks the record and encodes it as a flat row (inputs and outputs as JSON) in the
caller's thread, appends the row to an in-memory queue under a short lock and returns at once;
it never waits for I/O. A daemon thread drains the queue and writes a segment when ``max_rows``
records are waiting or ``max_seconds`` have passed since the oldest unwritten record arrived.
Each segment is one Parquet blob in the artifact store (content-addressed, written atomically)
plus one index row in the metadata store; no prediction becomes a SQL row.

When the queue is full, ``submit`` drops the record, counts it in ``dropped`` and returns
False: the prediction itself still succeeds, only its log entry is lost, and the counter says
so. A malformed record is refused at ``submit`` and counted in ``rejected``. Inputs and outputs
are stored as JSON text (numpy values are converted; NaN and the
infinities become ``null``). A failed segment write never stops the thread: the segment is
kept in memory for the next attempt (it counts against ``queue_size``, so memory stays
bounded), ``failures`` is counted, ``last_error`` holds the error, and attempts back off up to
a minute apart.

Loss window. What a ``SIGKILL`` (or power loss) of the process can lose is what is not yet
written: at most ``max_seconds`` of accepted records, or ``max_rows`` records, whichever
triggers first, plus what arrived in the queue while a segment was being written, plus any
segments held after failed writes, never more than ``queue_size`` records in total. Every
record accepted before a call to ``flush()`` or ``close()`` is durable when that call returns
(blob and index row committed).
Register ``close`` with ``atexit`` where the writer is created so a normal exit loses nothing::

    writer = PredictionLogWriter(metadata, artifacts)
    atexit.register(writer.close)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput, StoreError
from modelcycle.store.predictions._rows import ENCODE_ERRORS, Row, encode_row

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    import pyarrow as pa

    from modelcycle.core.entities.prediction import PredictionRecord
    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

_MAX_BACKOFF_SECONDS = 60.0


class PredictionLogWriter:
    """Logs predictions to Parquet segments without blocking the caller.

    Args:
        metadata: The store that indexes segments.
        artifacts: The store that holds the segment blobs.
        max_rows: Write a segment once this many records wait; also the largest segment.
        max_seconds: Write a segment once the oldest unwritten record is this old.
        queue_size: Records held in memory (queued or awaiting a retried write); beyond it,
            ``submit`` drops records.

    Thread safety: ``submit``, ``submit_many``, ``flush`` and ``close`` may be called from any
    number of threads. ``close`` is idempotent.

    Raises:
        InvalidInput: a limit is not positive.
    """

    def __init__(
        self,
        metadata: SqlMetadataStore,
        artifacts: ArtifactStore,
        *,
        max_rows: int = 20_000,
        max_seconds: float = 2.0,
        queue_size: int = 50_000,
    ) -> None:
        limits: tuple[tuple[str, object], ...] = (
            ("max_rows", max_rows),
            ("max_seconds", max_seconds),
            ("queue_size", queue_size),
        )
        for name, value in limits:
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidInput(f"{name}={value!r} must be a positive number")
        self._metadata = metadata
        self._artifacts = artifacts
        self._max_rows = int(max_rows)
        self._max_seconds = float(max_seconds)
        self._queue_size = int(queue_size)
        self._queue: deque[Row] = deque()
        self._tables: list[pa.Table] = []  # from submit_table, already in the segment schema
        self._table_rows = 0
        self._lock = threading.Lock()  # the queue and the counters; held only briefly
        self._wake = threading.Condition(self._lock)  # the thread: a write may be due
        self._freed = threading.Condition(self._lock)  # submit_table: room may have come back
        self._io = threading.Lock()  # one writer of segments at a time (thread or flush)
        self._held: list[pa.Table] = []  # segments whose write failed, oldest first
        self._held_rows = 0
        self._oldest: float | None = None  # monotonic arrival of the oldest unwritten record
        self._retry_at = 0.0
        self._streak = 0  # consecutive failed writes, for the backoff
        self._in_flight = 0  # rows taken from the queue whose segments are being written
        self._dropped = self._written = self._failures = self._rejected = 0
        self._last_error: Exception | None = None
        self._closed = self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="modelcycle-prediction-log", daemon=True
        )
        self._thread.start()

    # -- the request path -------------------------------------------------------------------

    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for the log; never blocks on I/O.

        The record is checked and JSON-encoded here, in the caller's thread (a few
        microseconds); a malformed one is counted in ``rejected`` and ``last_error`` names it.

        Returns:
            True if the record was accepted; False if it was malformed, or dropped because the
            queue is full or the writer is closed (``dropped`` counts those).
        """
        try:
            row = encode_row(record)
        except ENCODE_ERRORS as error:
            self._reject(1, _describe(record, error))
            return False
        with self._lock:
            if self._closed or self._room() <= 0:
                self._dropped += 1
                return False
            self._queue.append(row)
            if self._oldest is None:
                self._oldest = time.monotonic()
                self._wake.notify()  # starts the max_seconds clock of the thread
            elif self._queued() == self._max_rows:
                self._wake.notify()
        return True

    def submit_many(self, records: Iterable[PredictionRecord]) -> int:
        """Queue many records at once; never blocks on I/O (for whole tables, see ``submit_table``).

        Malformed records are counted in ``rejected``; well-formed ones beyond the free room in
        the queue are dropped and counted in ``dropped``.

        Returns:
            How many records were accepted.
        """
        rows: list[Row] = []
        bad: list[str] = []
        for record in records:
            try:
                rows.append(encode_row(record))
            except ENCODE_ERRORS as error:
                bad.append(_describe(record, error))
        if bad:
            self._reject(len(bad), bad[-1])
        with self._lock:
            room = 0 if self._closed else self._room()
            accepted = max(0, min(room, len(rows)))
            self._dropped += len(rows) - accepted
            if accepted:
                self._queue.extend(rows[:accepted])
                if self._oldest is None:  # starts the max_seconds clock of the thread
                    self._oldest = time.monotonic()
                    self._wake.notify()
                elif self._queued() >= self._max_rows:
                    self._wake.notify()
        return accepted

    def submit_table(self, table: pa.Table, *, timeout: float | None = 60.0) -> None:
        """Queue a table of already-encoded rows (batch scoring), waiting for room if need be.

        Unlike ``submit``, this applies back-pressure instead of dropping: a batch job that
        logs faster than segments are written waits for them, so every scored row is logged.

        Args:
            table: Rows in ``SEGMENT_SCHEMA`` (``inputs`` and ``outputs`` as JSON text).
            timeout: Seconds to wait for room in the queue overall; None waits as long as it
                takes.

        Raises:
            InvalidInput: the table does not fit the segment schema, or an id or a source is
                malformed (the table is refused whole).
            StoreError: the writer is closed, or no room came back within ``timeout`` (the log
                cannot be written; ``last_error`` says why); rows queued before stay queued.
        """
        from modelcycle.store.predictions import _segments

        table = _segments.checked_table(table)
        deadline = None if timeout is None else time.monotonic() + timeout
        step = max(1, self._queue_size // 2)
        for start in range(0, table.num_rows, step):
            self._enqueue_table(table.slice(start, step), deadline)

    def _enqueue_table(self, piece: pa.Table, deadline: float | None) -> None:
        with self._lock:
            while not self._closed and self._room() < piece.num_rows:
                self._wake.notify()  # write what waits now, rather than when it falls due
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StoreError(
                        f"the prediction log had no room for {piece.num_rows:,} rows in time "
                        f"(last error: {self._last_error})"
                    )
                self._freed.wait(left)
            if self._closed:
                raise StoreError("the prediction log is closed")
            self._tables.append(piece)
            self._table_rows += piece.num_rows
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._wake.notify()

    def _queued(self) -> int:
        """Rows waiting in the queue; the caller holds ``_lock``."""
        return len(self._queue) + self._table_rows

    def _reject(self, count: int, last: str) -> None:
        with self._lock:
            self._rejected += count
            self._last_error = InvalidInput(
                f"{count} prediction(s) left out of the log as malformed; last: {last}"
            )

    def _room(self) -> int:
        """Free places for records; the caller holds ``_lock``."""
        return self._queue_size - self._queued() - self._held_rows - self._in_flight

    # -- counters ---------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records refused because the queue was full or the writer closed."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """Accepted records left out of the log as malformed (``last_error`` names the last)."""
        return self._rejected

    @property
    def depth(self) -> int:
        """Accepted records not yet written (queued, being written, or held after a failure)."""
        with self._lock:
            return self._queued() + self._held_rows + self._in_flight

    @property
    def written(self) -> int:
        """Records written to indexed segments."""
        return self._written

    @property
    def failures(self) -> int:
        """Segment writes that failed (their rows were kept for the next attempt)."""
        return self._failures

    @property
    def last_error(self) -> Exception | None:
        """The last write or encoding error, or None."""
        return self._last_error

    # -- durability -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every record accepted so far; on return they are durable.

        Raises:
            StoreError: a segment could not be written; its rows are kept for the next attempt.
        """
        with self._io:
            error = self._write_pending()
        if error is not None:
            raise StoreError(f"the prediction log could not write a segment: {error}") from error

    def close(self) -> None:
        """Flush and stop the background thread. Safe to call more than once.

        Records submitted after ``close`` are dropped and counted.

        Raises:
            StoreError: the final flush failed (the records are still in memory; another
                ``close`` or ``flush`` retries).
        """
        with self._lock:
            self._closed = self._stopping = True
            self._wake.notify()
            self._freed.notify_all()  # a waiting submit_table fails rather than waits on
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the background thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping:
                    wait = self._seconds_until_due()
                    if wait is not None and wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._stopping:
                    return
            with self._io:
                self._write_pending()

    def _seconds_until_due(self) -> float | None:
        """None: nothing to write; otherwise seconds until a write is due (<= 0: now)."""
        now = time.monotonic()
        if self._held_rows:  # overdue already; only the backoff after a failure delays them
            return self._retry_at - now
        if not self._queue and not self._tables:
            return None
        oldest = self._oldest if self._oldest is not None else now
        due = 0.0 if self._queued() >= self._max_rows else oldest + self._max_seconds - now
        return max(due, self._retry_at - now)

    def _write_pending(self) -> Exception | None:
        """Write held segments, then the queue; the caller holds ``_io``. Never raises."""
        with self._lock:
            rows, tables = list(self._queue), self._tables
            self._queue.clear()
            self._tables, self._table_rows = [], 0
            oldest, self._oldest = self._oldest, None
            self._in_flight = len(rows) + sum(table.num_rows for table in tables)
            if not self._in_flight and not self._held:
                return None
        try:
            pieces = self._pieces(rows, tables) if self._in_flight else []
        except Exception as error:  # noqa: BLE001 - the thread must survive anything
            pieces = []
            with self._lock:
                self._rejected += self._in_flight
                self._last_error = error
        with self._lock:
            self._held.extend(pieces)
            self._held_rows += sum(piece.num_rows for piece in pieces)
            self._in_flight = 0
            held = list(self._held)
        return self._write_held(held, oldest)

    def _pieces(self, rows: list[Row], tables: list[pa.Table]) -> list[pa.Table]:
        import pyarrow as pa

        from modelcycle.store.predictions import _segments

        parts = [_segments.table_from_rows(rows), *tables] if rows else tables
        return _segments.split(pa.concat_tables(parts), self._max_rows)

    def _write_held(self, held: list[pa.Table], oldest: float | None) -> Exception | None:
        from modelcycle.store.predictions import _segments

        for piece in held:
            try:
                _segments.write_segment(self._metadata, self._artifacts, piece)
            except Exception as error:  # noqa: BLE001 - kept for the next attempt, counted
                with self._lock:
                    self._failures += 1
                    self._streak += 1
                    self._last_error = error
                    backoff = min(
                        self._max_seconds * 2 ** min(self._streak - 1, 16), _MAX_BACKOFF_SECONDS
                    )
                    self._retry_at = time.monotonic() + backoff
                    if oldest is not None and (self._oldest is None or oldest < self._oldest):
                        self._oldest = oldest
                return error
            with self._lock:
                self._held.pop(0)
                self._held_rows -= piece.num_rows
                self._written += piece.num_rows
                self._freed.notify_all()
        with self._lock:
            self._retry_at, self._streak = 0.0, 0
        return None


def _describe(record: object, error: Exception) -> str:
    return f"prediction {getattr(record, 'id', record)!r}: {error}"
