"""RunBuffer (when buffered points reach the store, and that none are dropped) and validation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.entities.run import CodeVersion, RunStatus
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.core.settings import Settings
from modelcycle.services.tracking import LocalTrackingService, RunBuffer
from modelcycle.services.tracking.validation import (
    check_key,
    check_metric_value,
    check_step,
    check_text_value,
)
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import NewRun, open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

NEVER = 3600.0  # a flush interval that never comes within a test


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mc.db'}"


@pytest.fixture
def service(url: str, tmp_path: Path) -> Iterator[LocalTrackingService]:
    artifacts = str(tmp_path / "artifacts")
    tracking = LocalTrackingService(
        open_metadata_store(url),
        open_artifact_store(artifacts),
        Settings(uri=url, metadata_url=url, artifacts_url=artifacts),
        capture=False,
    )
    yield tracking
    tracking.close()


@pytest.fixture
def make_buffer(service: LocalTrackingService) -> Iterator[Callable[..., RunBuffer]]:
    buffers: list[RunBuffer] = []

    def make(**kwargs: float) -> RunBuffer:
        buffer = RunBuffer(service, **kwargs)  # type: ignore[arg-type]
        buffers.append(buffer)
        return buffer

    yield make
    for buffer in buffers:
        buffer.shutdown()  # a write that still fails is dropped here, at the end of the test


def _held(service: LocalTrackingService, run_id: str, key: str = "m") -> int:
    return len(service.get_metric_history(run_id, key))


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"never happened: {what}")


def test_a_full_batch_is_written_by_the_logging_call(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer]
) -> None:
    run = service.create_run("p")
    buffer = make_buffer(flush_interval=NEVER, max_pending=5)
    buffer.open(run.id)
    for step in range(4):
        buffer.add_metric(run.id, "m", float(step), step, 0)
    assert _held(service, run.id) == 0
    buffer.add_metric(run.id, "m", 4.0, 4, 0)  # the fifth point fills the batch
    assert _held(service, run.id) == 5
    for step in range(5, 9):
        buffer.add_metric(run.id, "m", float(step), step, 0)
    assert _held(service, run.id) == 5
    buffer.flush()
    history = service.get_metric_history(run.id, "m")
    assert list(history.steps) == list(range(9))


def test_the_background_thread_writes_after_the_interval(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer]
) -> None:
    run = service.create_run("p")
    buffer = make_buffer(flush_interval=0.02)
    buffer.open(run.id)
    for step in range(3):
        buffer.add_metric(run.id, "m", float(step), step, 0)
    buffer.add_tags(run.id, {"phase": "warmup"})
    buffer.add_tags(run.id, {"phase": "train"})
    _wait_until(lambda: _held(service, run.id) == 3, "the background flush")
    assert service.get_run(run.id).tags == {"phase": "train"}


def test_the_background_thread_sends_heartbeats(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer]
) -> None:
    run = service.create_run("p")
    first = service.get_run(run.id).heartbeat_at
    assert first is not None
    buffer = make_buffer(flush_interval=0.02, heartbeat_interval=0.02)
    buffer.open(run.id)
    time.sleep(0.005)  # a heartbeat in the same millisecond as the start could not be told apart
    _wait_until(lambda: (service.get_run(run.id).heartbeat_at or 0) > first, "a heartbeat")


def test_close_writes_the_last_batch_with_the_end(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer]
) -> None:
    run = service.create_run("p")
    buffer = make_buffer(flush_interval=NEVER)
    buffer.open(run.id)
    buffer.add_metrics(run.id, {"m": 1.0, "n": 2.0}, 0, 0)
    buffer.add_tags(run.id, {"t": 1})
    buffer.close(run.id, RunStatus.FAILED, "boom")
    stored = service.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.error == "boom"
    assert stored.metrics == {"m": 1.0, "n": 2.0}
    assert stored.tags == {"t": "1"}


def test_a_failed_write_keeps_the_batch_and_raises_at_flush(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer], url: str
) -> None:
    project = service.set_project("p")
    missing = new_id()  # well-formed, not (yet) in the store
    buffer = make_buffer(flush_interval=0.02)
    buffer.open(missing)
    for step in range(3):
        buffer.add_metric(missing, "m", float(step), step, 0)
    buffer.add_tags(missing, {"t": "kept"})
    with pytest.raises(NotFound, match=rf"no run with id '{missing}'"):
        buffer.flush()
    time.sleep(0.05)  # let the background thread fail a few times too
    with pytest.raises(NotFound, match=rf"no run with id '{missing}'"):
        buffer.flush(missing)
    with pytest.raises(NotFound, match=rf"no run with id '{missing}'"):
        buffer.close(missing, RunStatus.FINISHED)
    # The run appears (as another process would write it): the same points, never dropped,
    # now land.
    other = open_metadata_store(url)
    other.runs.create(
        NewRun(missing, project.id, None, None, 0, None, None, CodeVersion(), None, {})
    )
    other.close()
    buffer.add_metric(missing, "m", 3.0, 3, 0)
    buffer.flush(missing)
    history = service.get_metric_history(missing, "m")
    assert list(history.steps) == [0, 1, 2, 3]
    assert service.get_run(missing).tags == {"t": "kept"}


def test_close_failure_keeps_the_batch(
    service: LocalTrackingService, make_buffer: Callable[..., RunBuffer]
) -> None:
    run = service.create_run("p")
    buffer = make_buffer(flush_interval=NEVER)
    buffer.open(run.id)
    buffer.add_metric(run.id, "m", 1.0, 0, 0)
    with pytest.raises(InvalidInput, match=r"cannot be ended with status 'running'"):
        buffer.close(run.id, RunStatus.RUNNING)
    buffer.close(run.id, RunStatus.FINISHED)
    assert _held(service, run.id) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b, r: b.add_metric(r, "bad key!", 1.0, 0, 0), r"metric key 'bad key!' may hold"),
        (lambda b, r: b.add_metric(r, "m", "1", 0, 0), r"metric 'm' must be a real number"),
        (lambda b, r: b.add_metric(r, "m", 1.0, -1, 0), r"step of metric 'm' must be an integer"),
        (lambda b, r: b.add_metric(r, "m", 1.0, 1.5, 0), r"step of metric 'm' .* got 1\.5"),
        (lambda b, r: b.add_tags(r, {"t": "x" * 8001}), r"tag 't' is 8001 characters long"),
        (lambda b, r: b.add_tags(r, {"/abs": "x"}), r"tag key '/abs' .* must not start with '/'"),
    ],
)
def test_the_buffer_checks_what_it_is_given_at_once(
    service: LocalTrackingService,
    make_buffer: Callable[..., RunBuffer],
    call: Callable[[RunBuffer, str], None],
    message: str,
) -> None:
    run = service.create_run("p")
    buffer = make_buffer(flush_interval=NEVER)
    buffer.open(run.id)
    with pytest.raises(InvalidInput, match=message):
        call(buffer, run.id)
    buffer.flush()
    stored = service.get_run(run.id)
    assert (stored.metrics, stored.tags) == ({}, {})


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: check_key(3, "param"), r"param key must be a string, got int 3"),  # type: ignore[arg-type]
        (lambda: check_key("", "metric"), r"metric key '' must be 1 to 250 characters, not 0"),
        (lambda: check_key("k" * 300, "tag"), r"tag key 'k{60}' must be 1 to 250 .* not 300"),
        (lambda: check_key("a/../b", "tag"), r"tag key 'a/\.\./b' may hold only .* '\.\.'"),
        (lambda: check_key("é", "param"), r"param key 'é' may hold only letters"),
        (
            lambda: check_text_value("lr", "x" * 6001, "param", 6000),
            r"param 'lr' is 6001 characters long; the limit is 6000 .*log_artifact",
        ),
        (lambda: check_metric_value("acc", None), r"metric 'acc' must be a real number, got None"),
        (lambda: check_metric_value("acc", False), r"metric 'acc' .* got bool False"),
        (lambda: check_step("acc", 2**63), r"step of metric 'acc' .* got 9223372036854775808"),
        (lambda: check_step("acc", True), r"step of metric 'acc' .* got True"),
    ],
)
def test_validation_messages_show_the_offending_value(
    check: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        check()


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (lambda: check_key("val/acc: top-1_x.y", "metric"), "val/acc: top-1_x.y"),
        (lambda: check_text_value("n", 3, "param", 10), "3"),
        (lambda: check_text_value("n", True, "param", 10), "True"),
        (lambda: check_metric_value("m", 3), 3.0),
        (lambda: check_step("m", 2**63 - 1), 2**63 - 1),
    ],
)
def test_validation_accepts_and_normalises(check: Callable[[], object], expected: object) -> None:
    result = check()
    assert result == expected
    assert type(result) is type(expected)
