"""Batched tracking writes: what makes fluent logging fast, and what a crash can lose.

Metric points and tags are appended to an in-memory batch per run and written in one
transaction when any of these happens first:

- ``flush_interval`` seconds pass (the background thread; default 1 s);
- a run holds ``max_pending`` points (default 10,000; written by the logging thread itself,
  which bounds memory and gives back-pressure);
- the run ends (``close``), ``flush()`` is called, or the interpreter exits.

So a process killed with SIGKILL loses at most the points logged in its last
``flush_interval`` seconds and at most ``max_pending`` points per run; everything before is in
the store. Params are not buffered: a conflicting param must fail where it is logged.

The background thread also sends each open run's heartbeat every ``heartbeat_interval``
seconds, from which other processes tell a live run from a dead one.

A failed background write keeps its batch and is retried on the next flush; the error is
raised to the caller at the next ``flush`` or ``close`` of that run if it persists.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelcycle.core.errors import ModelCycleError
from modelcycle.services.tracking.validation import (
    MAX_TAG_LENGTH,
    check_key,
    check_metric_value,
    check_step,
    check_text_value,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.core.entities.run import MetricTuple, RunStatus
    from modelcycle.core.ports import TrackingService

_log = logging.getLogger(__name__)
DEFAULT_MAX_PENDING = 10_000


@dataclass(slots=True)
class _Pending:
    metrics: list[MetricTuple] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None


class RunBuffer:
    """Buffers metric points and tags of the runs this process writes.

    Thread-safe. One buffer serves every run of one store in a process.
    """

    def __init__(
        self,
        service: TrackingService,
        *,
        flush_interval: float = 1.0,
        heartbeat_interval: float = 10.0,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._service = service
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time keeps point order
        self._pending: dict[str, _Pending] = {}
        self._metric_keys: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = time.monotonic()
        _BUFFERS.add(self)

    # -- the logging side -----------------------------------------------------------------

    def open(self, run_id: str) -> None:
        """Start buffering for ``run_id`` and heartbeating it."""
        with self._lock:
            self._pending.setdefault(run_id, _Pending())
        self._ensure_thread()

    def add_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Buffer one point (checked now, written later)."""
        if key not in self._metric_keys:
            check_key(key, "metric")
            self._metric_keys.add(key)
        point = (key, check_metric_value(key, value), check_step(key, step), timestamp)
        with self._lock:
            pending = self._pending.get(run_id)
            if pending is None:
                pending = self._pending[run_id] = _Pending()
            pending.metrics.append(point)
            full = len(pending.metrics) >= self._max_pending
        if full:
            self.flush(run_id)

    def add_metrics(
        self, run_id: str, values: Mapping[str, float], step: int, timestamp: int
    ) -> None:
        """Buffer one point for each key of ``values``."""
        for key, value in values.items():
            self.add_metric(run_id, key, value, step, timestamp)

    def add_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        """Buffer tags (checked now, written later; a later value of a key wins)."""
        checked = {
            check_key(k, "tag"): check_text_value(k, v, "tag", MAX_TAG_LENGTH)
            for k, v in tags.items()
        }
        with self._lock:
            pending = self._pending.setdefault(run_id, _Pending())
            pending.tags.update(checked)

    # -- writing --------------------------------------------------------------------------

    def flush(self, run_id: str | None = None) -> None:
        """Write what is buffered (for one run or all); raise a write error that persists."""
        with self._lock:
            run_ids = [run_id] if run_id is not None else list(self._pending)
        for rid in run_ids:
            self._write(rid, raise_errors=True)

    def close(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Write the run's last batch together with its end: durable when this returns."""
        with self._write_lock:
            with self._lock:
                pending = self._pending.pop(run_id, None) or _Pending()
            try:
                self._service.end_run(
                    run_id, status, error=error, metrics=pending.metrics, tags=pending.tags
                )
            except BaseException:
                with self._lock:  # keep the batch: nothing is lost if ending fails
                    self._pending.setdefault(run_id, pending)
                raise

    def shutdown(self) -> None:
        """Stop the background thread and write everything still buffered."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        with contextlib.suppress(ModelCycleError):
            self.flush()

    def forget(self) -> None:
        """Drop every batch and the background thread without writing (after a fork)."""
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending = {}
        self._thread = None

    def _write(self, run_id: str, *, raise_errors: bool) -> None:
        with self._write_lock:
            with self._lock:
                pending = self._pending.get(run_id)
                if pending is None:
                    return
                metrics, tags = pending.metrics, pending.tags
                pending.metrics, pending.tags = [], {}
            if not metrics and not tags:
                if raise_errors and pending.error is not None:
                    error, pending.error = pending.error, None
                    raise error
                return
            try:
                self._service.log_batch(run_id, metrics=metrics, tags=tags)
            except Exception as exc:
                with self._lock:
                    pending.metrics[:0] = metrics
                    pending.tags = {**tags, **pending.tags}
                    pending.error = exc
                if raise_errors:
                    raise
                _log.warning("tracking write for run %s failed, will retry: %s", run_id, exc)
            else:
                pending.error = None

    # -- the background thread ------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="modelcycle-flush", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            with self._lock:
                run_ids = list(self._pending)
            for run_id in run_ids:
                self._write(run_id, raise_errors=False)
            if time.monotonic() - self._last_heartbeat >= self._heartbeat_interval:
                self._last_heartbeat = time.monotonic()
                try:
                    self._service.heartbeat(run_ids)
                except Exception as exc:  # noqa: BLE001 - kept and retried
                    _log.warning("heartbeat failed, will retry: %s", exc)


_BUFFERS: weakref.WeakSet[RunBuffer] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for buffer in list(_BUFFERS):
        buffer.shutdown()


def _forget_parent_batches() -> None:
    """In a forked child: the batches belong to the parent, which writes them itself."""
    for buffer in list(_BUFFERS):
        buffer.forget()


os.register_at_fork(after_in_child=_forget_parent_batches)
