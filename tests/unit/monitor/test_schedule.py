"""The foreground schedule: runs until told to stop, failures logged and counted, durations."""

from __future__ import annotations

import logging
import os
import signal
import threading

import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.schedule import _next_due, parse_duration, run_every


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("15min", 900.0),
        ("1h", 3600.0),
        (" 2d ", 172800.0),
        ("1w", 604800.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("2H", 7200.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1", "1 hour", "-1h", "1y", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match=f"duration {text!r}"):
        parse_duration(text)


def test_max_runs_stops_the_loop() -> None:
    seen: list[int] = []
    summary = run_every(lambda: len(seen), 0.001, max_runs=3, on_result=lambda n, r: seen.append(n))
    assert seen == [1, 2, 3]
    assert (summary.runs, summary.failures, summary.stopped_by) == (3, 0, "max_runs")


def test_a_failed_run_is_logged_counted_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    errors: list[tuple[int, str]] = []

    def job() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise InvalidInput("the window holds no predictions: model version v")
        return len(calls)

    with caplog.at_level(logging.WARNING, "modelcycle.monitor.schedule"):
        summary = run_every(
            job,
            0.001,
            max_runs=4,
            on_error=lambda n, e: errors.append((n, str(e))),
            keep_results=True,
        )
    assert summary.runs == 4
    assert summary.failures == 1
    assert summary.results == [1, 3, 4]
    assert errors == [(2, "the window holds no predictions: model version v")]
    assert summary.last_error == "InvalidInput: the window holds no predictions: model version v"
    assert "monitor run 2 failed: InvalidInput: the window holds" in caplog.text


def test_the_stop_event_wakes_the_wait_between_runs() -> None:
    stop = threading.Event()
    runs: list[int] = []
    # A long period: the loop would wait an hour after the first run if the event did not
    # wake it; another thread sets it once the first run is done.
    timer = threading.Timer(0.05, stop.set)

    def job() -> None:
        runs.append(1)
        timer.start()

    summary = run_every(job, 3600.0, stop=stop)
    timer.join()
    assert len(runs) == 1
    assert summary.stopped_by == "stop"


def test_sigterm_finishes_the_current_run_then_stops() -> None:
    before = signal.getsignal(signal.SIGTERM)
    finished: list[int] = []

    def job() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the run is in progress
        finished.append(1)

    summary = run_every(job, 3600.0, max_runs=5)
    assert finished == [1]
    assert (summary.runs, summary.stopped_by) == (1, "signal")
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back


def test_off_the_main_thread_no_signal_handler_is_installed() -> None:
    done: dict[str, object] = {}

    def loop() -> None:
        done["summary"] = run_every(lambda: None, 0.001, max_runs=2)

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join(10)
    summary = done["summary"]
    assert getattr(summary, "runs", None) == 2


@pytest.mark.parametrize(
    ("previous", "now", "due"),
    [
        (0.0, 0.5, 10.0),  # on time: the next slot
        (0.0, 10.0, 10.0),
        (0.0, 25.0, 30.0),  # the run overran two slots: they are skipped, not made up
        (100.0, 130.0, 140.0),
    ],
)
def test_the_next_run_is_on_the_grid(previous: float, now: float, due: float) -> None:
    assert _next_due(previous, 10.0, now) == due


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidInput, match="every=0 must be a positive number of seconds"):
        run_every(lambda: None, 0)
    with pytest.raises(InvalidInput, match="max_runs=0 must be at least 1"):
        run_every(lambda: None, 1.0, max_runs=0)
