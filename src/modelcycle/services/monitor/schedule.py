"""Run the monitor periodically in the foreground, and read durations such as ``1h``.

``run_every`` calls a job every ``every_s`` seconds on the monotonic clock (a wall-clock jump
neither skips nor doubles a run). A run that takes longer than the period delays the next one
rather than overlapping it; missed slots are not made up. A job that raises is logged and
counted, and the loop goes on. SIGTERM and SIGINT (Ctrl-C) ask the loop to stop: the run in
progress finishes, no new one starts, and ``run_every`` returns its summary.

Under cron or systemd, run one report per invocation instead of this loop::

    # crontab: every hour, at minute 5
    5 * * * *  modelcycle --uri /srv/mc monitor run churn@production --since 1h

    # systemd: monitor.service (Type=oneshot, ExecStart=modelcycle monitor run ...)
    # plus monitor.timer with OnCalendar=hourly and Persistent=true

or keep ``modelcycle monitor schedule churn@production --every 1h`` running as a service
(``Restart=on-failure``; systemd's stop sends SIGTERM, which ends it cleanly between runs).
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ScheduleSummary", "parse_duration", "run_every"]

logger = logging.getLogger("modelcycle.monitor.schedule")

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` or ``"1w"``.

    Raises:
        InvalidInput: not a positive number followed by ms, s, m (or min), h, d or w.
    """
    given: object = text
    match = _DURATION.match(given) if isinstance(given, str) else None
    if match is None:
        raise InvalidInput(
            f"duration {text!r} is not a number and a unit: write e.g. 30s, 15m, 1h, 2d or 1w"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise InvalidInput(f"duration {text!r} must be longer than zero")
    return seconds


@dataclass(slots=True)
class ScheduleSummary:
    """What a schedule did: runs started, those that failed, why the last one failed."""

    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    stopped_by: str | None = None  # "max_runs", "signal" or "stop"
    results: list[Any] = field(default_factory=list)


def run_every(
    job: Callable[[], Any],
    every_s: float,
    *,
    max_runs: int | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[int, Any], None] | None = None,
    on_error: Callable[[int, BaseException], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    keep_results: bool = False,
) -> ScheduleSummary:
    """Call ``job`` now and then every ``every_s`` seconds until stopped.

    Args:
        job: One monitor run; what it returns goes to ``on_result``.
        every_s: Seconds between the starts of two runs.
        max_runs: Stop after this many runs (failed ones count).
        stop: Set it to stop between runs (SIGTERM and SIGINT set it too, when this is
            called from the main thread).
        on_result: Called with (run number from 1, result) after each run that succeeds.
        on_error: Called with (run number, exception) after each run that fails; the
            failure is logged in any case.
        clock: Seconds on a monotonic clock.
        keep_results: Keep every result in the summary (for tests; a long schedule should not).

    Raises:
        InvalidInput: ``every_s`` is not positive or ``max_runs`` is below 1.
    """
    given: object = every_s  # checked as a plain object: it comes from callers' code
    if isinstance(given, bool) or not isinstance(given, int | float) or not given > 0:
        raise InvalidInput(f"every={every_s!r} must be a positive number of seconds")
    if max_runs is not None and (isinstance(max_runs, bool) or max_runs < 1):
        raise InvalidInput(f"max_runs={max_runs!r} must be at least 1")
    stop = stop if stop is not None else threading.Event()
    summary = ScheduleSummary()
    reached = False
    with _stopping_on_signals(stop, summary):
        due = clock()
        while not stop.is_set():
            summary.runs += 1
            _one(job, summary, on_result, on_error, keep_results)
            reached = max_runs is not None and summary.runs >= max_runs
            if reached:
                break
            due = _next_due(due, every_s, clock())
            if stop.wait(max(0.0, due - clock())):
                break
    if summary.stopped_by is None:  # the signal handler names itself
        summary.stopped_by = "max_runs" if reached else "stop"
    return summary


def _one(
    job: Callable[[], Any],
    summary: ScheduleSummary,
    on_result: Callable[[int, Any], None] | None,
    on_error: Callable[[int, BaseException], None] | None,
    keep: bool,
) -> None:
    try:
        result = job()
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, never the end of the loop
        summary.failures += 1
        summary.last_error = f"{type(exc).__name__}: {exc}"
        logger.warning("monitor run %d failed: %s", summary.runs, summary.last_error)
        if on_error is not None:
            on_error(summary.runs, exc)
        return
    if keep:
        summary.results.append(result)
    if on_result is not None:
        on_result(summary.runs, result)


def _next_due(previous: float, every_s: float, now: float) -> float:
    """The next start on the grid ``previous + k * every_s`` that is not in the past."""
    due = previous + every_s
    if due < now:  # the run overran: skip the slots it covered, do not make them up
        due += ((now - due) // every_s + 1) * every_s
    return due


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event, summary: ScheduleSummary) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while the loop runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        summary.stopped_by = "signal"
        logger.info("%s received: stopping after the current run", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
