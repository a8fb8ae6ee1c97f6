"""A process killed with SIGKILL mid-run: the store stays sound and the loss is bounded.

The child logs metric points through the fluent API (buffered, flushed in the background
every 0.2 s) and calls ``mc.flush()`` every ``CHUNK`` points, printing ``logged N`` before
the flush and ``flushed N`` after it. From those lines alone the test knows a lower bound of
what is durable and an upper bound of what was logged when the kill landed. Before the kill,
the test also watches the store until it holds points past the last explicit flush, which
only the background flush can have written.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.entities.run import RunStatus
from modelcycle.core.settings import resolve_settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store

if TYPE_CHECKING:
    from pathlib import Path

CHUNK = 400
KILL_AFTER_FLUSHED = CHUNK
BACKGROUND_AHEAD = 20  # points past the last explicit flush seen in the store before the kill

_CHILD = textwrap.dedent(
    f"""
    import os, time
    import modelcycle as mc

    mc.configure(uri=os.environ["STORE_URI"], artifacts=os.environ["STORE_ARTIFACTS"])
    mc.set_project("crash")
    run = mc.start_run(name="victim")
    print("run", run.id, flush=True)
    logged = 0
    while True:
        for _ in range({CHUNK}):
            mc.log_metric("x", float(logged), step=logged)
            logged += 1
            time.sleep(0.001)
        print("logged", logged, flush=True)
        mc.flush()
        print("flushed", logged, flush=True)
    """
)


def _open(store: dict[str, str]) -> LocalTrackingService:
    settings = resolve_settings(store["STORE_URI"], store["STORE_ARTIFACTS"])
    assert settings.artifacts_url is not None
    return LocalTrackingService(
        open_metadata_store(settings.metadata_url),
        open_artifact_store(settings.artifacts_url),
        settings,
    )


def _wait_for_points(store: dict[str, str], run_id: str, count: int) -> int:
    """Poll the store until the run holds ``count`` points of ``x``; return how many it holds."""
    service = _open(store)
    held = 0
    try:
        for _ in range(3000):
            held = len(service.get_metric_history(run_id, "x"))
            if held >= count:
                return held
            time.sleep(0.01)
    finally:
        service.close()
    pytest.fail(f"the background flush never wrote {count} points (store holds {held})")


def _kill_mid_run(store: dict[str, str], cwd: Path) -> tuple[str, int, int, bool, int]:
    """Run the child, SIGKILL it mid-run; return what it printed and what the store held.

    Returns:
        The run id, the last ``logged`` and ``flushed`` counts, whether the last line was a
        ``flushed`` one, and the points seen in the store just before the kill.
    """
    env = {**os.environ, **store, "MODELCYCLE_FLUSH_INTERVAL": "0.2"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    lines: list[str] = []
    seen = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("flushed") and int(line.split()[1]) >= KILL_AFTER_FLUSHED:
                run_id = lines[0].split()[1]
                seen = _wait_for_points(store, run_id, KILL_AFTER_FLUSHED + BACKGROUND_AHEAD)
                os.kill(child.pid, signal.SIGKILL)
                break
        rest, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, err
    lines.extend(line.strip() for line in rest.splitlines())
    run_id = lines[0].split()[1]
    counts = [(word, int(number)) for word, number in (line.split() for line in lines[1:])]
    last_logged = max(n for word, n in counts if word == "logged")
    last_flushed = max(n for word, n in counts if word == "flushed")
    return run_id, last_logged, last_flushed, counts[-1][0] == "flushed", seen


@pytest.mark.slow
def test_a_killed_run_keeps_what_was_flushed(store: dict[str, str], tmp_path: Path) -> None:
    run_id, last_logged, last_flushed, ended_on_flush, seen = _kill_mid_run(store, tmp_path)
    assert last_flushed >= KILL_AFTER_FLUSHED
    assert seen >= KILL_AFTER_FLUSHED + BACKGROUND_AHEAD

    settings = resolve_settings(store["STORE_URI"], store["STORE_ARTIFACTS"])
    if settings.metadata_url.startswith("sqlite"):
        database = settings.metadata_url.removeprefix("sqlite:///")
        with sqlite3.connect(database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    service = _open(store)
    try:
        history = service.get_metric_history(run_id, "x")
        stored = len(history)
        # Whole batches land in logging order: the stored points are a prefix, no holes.
        assert list(history.steps) == list(range(stored))
        assert list(history.values) == [float(i) for i in range(stored)]
        # Everything reported flushed, and everything seen durable before the kill, is there.
        assert stored >= max(last_flushed, seen)
        # At most one flush interval of points is lost: after "logged N" the child logs
        # nothing until "flushed N"; after "flushed N", at most CHUNK more.
        logged_at_kill = last_logged + CHUNK if ended_on_flush else last_logged
        assert stored <= logged_at_kill
        assert logged_at_kill - stored <= CHUNK

        run = service.get_run(run_id)
        assert run.status is RunStatus.KILLED
        assert run.end_time is not None
        assert run.metrics["x"] == float(stored - 1)
        killed = service.search_runs(projects=["crash"], filter="status = 'killed'").runs
        assert [r.id for r in killed] == [run_id]
    finally:
        service.close()
