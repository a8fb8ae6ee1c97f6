"""Eight processes write to one store at once; every param, tag and metric point arrives.

Each writer is a fresh interpreter (``sys.executable -c``), so no engine or connection is
inherited. The writers start together: each opens the store, says ``ready``, and waits for a
``go`` file, so that their transactions overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.settings import resolve_settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

WRITERS = 8
RUNS_PER_WRITER = 2
PARAMS = 5
POINTS = 40  # per metric key: fluent (buffered) and batch (explicit) keys each get this many

_PRELUDE = """
import json, os, sys, time
from pathlib import Path
import modelcycle as mc
from modelcycle.sdk.session import get_session

worker = int(sys.argv[1])
go = Path(sys.argv[2])
mc.configure(uri=os.environ["STORE_URI"], artifacts=os.environ["STORE_ARTIFACTS"])
mc.set_project("load")
get_session()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
"""

_OWN_RUNS = """
ids = []
for r in range({runs}):
    with mc.start_run(name=f"w{{worker}}-r{{r}}") as run:
        mc.log_params({{f"p{{i}}": f"{{worker}}-{{r}}-{{i}}" for i in range({params})}})
        for i in range({points}):
            mc.log_metric("fluent", float(i))
            if i % 10 == 9:
                mc.set_tag("progress", str(i))
        points = [("batch", float(i), i) for i in range({points})]
        mc.log_batch(metrics=points, tags={{"w": str(worker)}})
        ids.append(run.id)
print(json.dumps(ids), flush=True)
"""

_SHARED_RUN = """
run_id = os.environ["SHARED_RUN"]
buffer = get_session().buffer
for i in range({points}):
    buffer.add_metric(run_id, f"w{{worker}}/buffered", float(i), i, int(time.time() * 1000))
    buffer.add_metric(run_id, "shared", float(worker), worker * {points} + i, 0)
buffer.add_tags(run_id, {{f"t{{worker}}": "done"}})
mc.log_batch(
    run_id,
    params={{f"w{{worker}}.p{{i}}": str(i) for i in range({params})}},
    metrics=[(f"w{{worker}}/batch", float(i), i) for i in range({points})],
)
mc.flush()
print(json.dumps([run_id]), flush=True)
"""


@pytest.fixture
def service(store: dict[str, str]) -> Iterator[LocalTrackingService]:
    """The test's own view of the store (opened first, so the schema exists)."""
    settings = resolve_settings(store["STORE_URI"], store["STORE_ARTIFACTS"])
    assert settings.artifacts_url is not None
    tracking = LocalTrackingService(
        open_metadata_store(settings.metadata_url),
        open_artifact_store(settings.artifacts_url),
        settings,
    )
    yield tracking
    tracking.close()


def _run_writers(body: str, env: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """Start the writers, release them together, and return what each printed."""
    go = tmp_path / "go"
    script = textwrap.dedent(_PRELUDE) + textwrap.dedent(body)
    child_env = {**os.environ, **env, "MODELCYCLE_FLUSH_INTERVAL": "0.05"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(worker), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
            cwd=tmp_path,
        )
        for worker in range(WRITERS)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            line = writer.stdout.readline()
            assert line == "ready\n", writer.communicate(timeout=60)[1]
        go.touch()
        outputs = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


@pytest.mark.slow
def test_writers_on_their_own_runs_lose_nothing(
    store: dict[str, str], service: LocalTrackingService, tmp_path: Path
) -> None:
    printed = _run_writers(
        _OWN_RUNS.format(runs=RUNS_PER_WRITER, params=PARAMS, points=POINTS), store, tmp_path
    )
    all_ids = [run_id for ids in printed for run_id in ids]
    assert len(set(all_ids)) == WRITERS * RUNS_PER_WRITER
    page = service.search_runs(projects=["load"], limit=1000)
    assert sorted(r.id for r in page.runs) == sorted(all_ids)
    for worker, ids in enumerate(printed):
        for r, run_id in enumerate(ids):
            run = service.get_run(run_id)
            assert run.status.value == "finished"
            assert run.params == {f"p{i}": f"{worker}-{r}-{i}" for i in range(PARAMS)}
            assert run.tags == {"w": str(worker), "progress": str(POINTS - 1)}
            assert run.metrics == {"fluent": POINTS - 1.0, "batch": POINTS - 1.0}
            for key in ("fluent", "batch"):
                history = service.get_metric_history(run_id, key)
                assert list(history.steps) == list(range(POINTS)), key
                assert list(history.values) == [float(i) for i in range(POINTS)], key


@pytest.mark.slow
def test_writers_on_one_run_lose_nothing(
    store: dict[str, str], service: LocalTrackingService, tmp_path: Path
) -> None:
    shared = service.create_run("load", name="shared")
    printed = _run_writers(
        _SHARED_RUN.format(params=PARAMS, points=POINTS),
        {**store, "SHARED_RUN": shared.id},
        tmp_path,
    )
    assert printed == [[shared.id]] * WRITERS
    run = service.get_run(shared.id)
    assert run.params == {f"w{w}.p{i}": str(i) for w in range(WRITERS) for i in range(PARAMS)}
    assert run.tags == {f"t{w}": "done" for w in range(WRITERS)}
    for worker in range(WRITERS):
        for key in (f"w{worker}/buffered", f"w{worker}/batch"):
            history = service.get_metric_history(shared.id, key)
            assert list(history.steps) == list(range(POINTS)), key
            assert list(history.values) == [float(i) for i in range(POINTS)], key
    history = service.get_metric_history(shared.id, "shared")
    assert list(history.steps) == list(range(WRITERS * POINTS))
    assert Counter(history.values) == {float(w): POINTS for w in range(WRITERS)}
    assert run.metrics["shared"] == WRITERS - 1.0
