"""The fluent API: the active run per thread and task, buffered logging, ending, search."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

import modelcycle as mc
from modelcycle.core.entities.run import RunStatus
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder store for each test; no background flush, so reads must flush."""
    monkeypatch.setenv("MODELCYCLE_FLUSH_INTERVAL", "3600")
    folder = tmp_path / "store"
    mc.configure(uri=str(folder))
    yield folder
    for _ in range(10):  # end what a failing test left open, innermost first
        if mc.active_run() is None:
            break
        mc.end_run()
    session.configure()


def test_a_run_block_finishes_the_run() -> None:
    with mc.start_run(name="ok") as run:
        assert mc.active_run() is run
        mc.log_param("lr", 0.1)
    stored = mc.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.end_time is not None
    assert stored.end_time >= stored.start_time
    assert stored.params == {"lr": "0.1"}
    assert mc.active_run() is None


def _train_and_fail(ids: list[str], error: BaseException) -> None:
    with mc.start_run() as run:
        ids.append(run.id)
        mc.log_metric("loss", 1.0)
        raise error


def test_an_exception_fails_the_run_and_is_reraised() -> None:
    ids: list[str] = []
    with pytest.raises(ValueError, match=r"fold 3 has no positives"):
        _train_and_fail(ids, ValueError("fold 3 has no positives"))
    stored = mc.get_run(ids[0])
    assert stored.status is RunStatus.FAILED
    assert stored.error is not None
    assert "Traceback" in stored.error
    assert "ValueError: fold 3 has no positives" in stored.error
    assert stored.metrics == {"loss": 1.0}  # the last batch is written with the end
    assert mc.active_run() is None


def test_keyboard_interrupt_kills_the_run() -> None:
    ids: list[str] = []
    with pytest.raises(KeyboardInterrupt, match=r"stop"):
        _train_and_fail(ids, KeyboardInterrupt("stop"))
    stored = mc.get_run(ids[0])
    assert stored.status is RunStatus.KILLED
    assert stored.error == "KeyboardInterrupt"


def test_nested_runs_are_children_of_the_active_run() -> None:
    with mc.start_run(name="outer") as outer:
        with mc.start_run(name="inner") as inner:
            assert mc.active_run() is inner
            mc.log_metric("m", 2.0)
        assert mc.active_run() is outer
        mc.log_metric("m", 1.0)
    assert mc.get_run(inner.id).parent_id == outer.id
    assert mc.get_run(outer.id).parent_id is None
    assert mc.get_run(inner.id).metrics == {"m": 2.0}
    assert mc.get_run(outer.id).metrics == {"m": 1.0}


def test_a_new_thread_has_no_active_run() -> None:
    errors: list[BaseException] = []
    seen: list[object] = []

    def work() -> None:
        seen.append(mc.active_run())
        try:
            mc.log_metric("m", 1.0)
        except mc.InvalidInput as exc:
            errors.append(exc)

    with mc.start_run() as run:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        assert mc.active_run() is run
    assert seen == [None]
    assert len(errors) == 1
    assert "no active run in this thread or task" in str(errors[0])
    assert "with mc.start_run()" in str(errors[0])
    assert mc.get_run(run.id).metrics == {}


def test_threads_log_to_their_own_runs() -> None:
    ids: dict[int, str] = {}

    def work(index: int) -> None:
        with mc.start_run(name=f"t{index}") as run:
            ids[index] = run.id
            for step in range(20):
                mc.log_metric("who", float(index), step=step)

    with mc.start_run(name="main") as main:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert mc.active_run() is main
    for index, run_id in ids.items():
        stored = mc.get_run(run_id)
        assert stored.parent_id is None  # a new thread inherits no parent
        history = mc.get_metric_history(run_id, "who")
        assert set(history.values) == {float(index)}
        assert len(history) == 20


def test_asyncio_tasks_have_their_own_active_run() -> None:
    async def task(name: str) -> tuple[str, str | None]:
        with mc.start_run(name=name) as run:
            for step in range(5):
                await asyncio.sleep(0)
                active = mc.active_run()
                assert active is run
                mc.log_metric("task", float(len(name)), step=step)
        return run.id, mc.get_run(run.id).name

    async def both() -> list[tuple[str, str | None]]:
        return list(await asyncio.gather(task("a"), task("bbb")))

    results = asyncio.run(both())
    assert [name for _, name in results] == ["a", "bbb"]
    for run_id, name in results:
        assert name is not None
        assert list(mc.get_metric_history(run_id, "task").values) == [float(len(name))] * 5
        assert mc.get_run(run_id).parent_id is None


def test_steps_auto_increment_per_key() -> None:
    with mc.start_run() as run:
        for value in (0.5, 0.4, 0.3):
            mc.log_metric("loss", value)
        mc.log_metric("acc", 0.9)
        mc.log_metric("loss", 0.2, step=10)
        mc.log_metric("loss", 0.1)
        mc.log_metric("acc", 0.95, step=3)
        mc.log_metric("acc", 0.97, step=1)  # an earlier explicit step does not rewind
        mc.log_metric("acc", 0.99)
    assert list(mc.get_metric_history(run.id, "loss").steps) == [0, 1, 2, 10, 11]
    assert list(mc.get_metric_history(run.id, "acc").steps) == [0, 1, 3, 4]
    assert mc.get_run(run.id).metrics == {"loss": 0.1, "acc": 0.99}


@pytest.mark.parametrize(("step", "expected"), [(5, [5, 5]), (None, [0, 1])])
def test_log_metrics_at_one_step(step: int | None, expected: list[int]) -> None:
    with mc.start_run() as run:
        mc.log_metrics({"a": 1.0, "b": 2.0}, step=step)
        mc.log_metrics({"a": 3.0, "b": 4.0}, step=step)
    for key in ("a", "b"):
        assert list(mc.get_metric_history(run.id, key).steps) == expected
    assert mc.get_run(run.id).metrics == {"a": 3.0, "b": 4.0}


def test_reads_inside_the_block_see_buffered_points() -> None:
    with mc.start_run() as run:
        for step in range(3):
            mc.log_metric("x", float(step))
        mc.set_tag("phase", "train")
        stored = mc.get_run(run.id)
        assert stored.metrics == {"x": 2.0}
        assert stored.tags == {"phase": "train"}
        assert stored.status is RunStatus.RUNNING
        mc.log_metric("x", 9.0)
        assert list(mc.get_metric_history(run.id, "x").values) == [0.0, 1.0, 2.0, 9.0]
        assert [r.id for r in mc.search_runs(filter="metrics.x = 9")] == [run.id]
        assert run.info.metrics == {"x": 9.0}


def test_a_conflicting_param_fails_where_it_is_logged() -> None:
    with mc.start_run() as run:
        mc.log_param("depth", 3)
        mc.log_param("depth", "3")
        with pytest.raises(mc.Conflict, match=r"param 'depth' .* already '3'.* to '4'"):
            mc.log_param("depth", 4)
    assert mc.get_run(run.id).params == {"depth": "3"}
    assert mc.get_run(run.id).status is RunStatus.FINISHED


def test_search_runs_as_a_dataframe() -> None:
    mc.set_project("frames")
    with mc.start_run(name="one") as one:
        mc.log_metric("x", 0.5)
        mc.log_param("y", "gbm")
        mc.set_tag("z", "a")
    with mc.start_run(name="two") as two:
        mc.log_metric("x", 0.7)
        mc.log_param("y", "linear")
    frame = mc.search_runs(order_by="metrics.x desc", output="pandas")
    assert {"run_id", "status", "metrics.x", "params.y", "tags.z"} <= set(frame.columns)
    assert list(frame["run_id"]) == [two.id, one.id]
    assert list(frame["metrics.x"]) == [0.7, 0.5]
    assert list(frame["params.y"]) == ["linear", "gbm"]
    assert frame["tags.z"].iloc[1] == "a"
    assert frame["tags.z"].isna().iloc[0]
    assert list(frame["status"]) == ["finished", "finished"]


def test_search_runs_defaults_to_the_current_project() -> None:
    mc.set_project("first")
    with mc.start_run(name="in-first"):
        pass
    mc.set_project("second")
    with mc.start_run(name="in-second"):
        pass
    assert [r.name for r in mc.search_runs()] == ["in-second"]
    assert {r.name for r in mc.search_runs(project="*")} == {"in-first", "in-second"}
    assert [r.name for r in mc.search_runs(project="first")] == ["in-first"]
    with pytest.raises(mc.InvalidInput, match=r"output must be 'list' or 'pandas'"):
        mc.search_runs(output="json")  # type: ignore[call-overload]


def test_end_run_ends_the_active_run() -> None:
    run = mc.start_run()
    mc.log_metric("m", 1.0)
    mc.end_run(RunStatus.FAILED)
    assert mc.active_run() is None
    stored = mc.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.metrics == {"m": 1.0}
    run.end()  # ending twice is a no-op
    assert mc.get_run(run.id).status is RunStatus.FAILED


def test_log_batch_writes_at_once_in_order_with_buffered_points() -> None:
    with mc.start_run() as run:
        mc.log_metric("x", 1.0)  # buffered, step 0
        mc.log_batch(metrics=[("x", 2.0, 1), ("x", 3.0, 2, 5)], params={"p": 1}, tags={"t": 2})
        stored = session.get_session().tracking.get_run(run.id)  # bypass the flush-on-read
        assert stored.params == {"p": "1"}
        assert stored.tags == {"t": "2"}
        assert list(mc.get_metric_history(run.id, "x").values) == [1.0, 2.0, 3.0]
        with pytest.raises(mc.InvalidInput, match=r"a metric point is \(key, value, step\)"):
            mc.log_batch(metrics=[("x", 1.0)])  # type: ignore[list-item]


def test_logging_outside_a_run_says_how_to_start_one() -> None:
    with pytest.raises(mc.InvalidInput, match=r"no active run .* `with mc.start_run\(\):`"):
        mc.log_metric("m", 1.0)
    with pytest.raises(mc.InvalidInput, match=r"no active run"):
        mc.log_param("p", 1)
    with pytest.raises(mc.InvalidInput, match=r"no active run"):
        mc.set_tag("t", 1)
