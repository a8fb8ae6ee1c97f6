"""The quickstart that `make demo` runs works on a fresh embedded store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.sdk import session

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.py"


@pytest.mark.slow
def test_the_quickstart_tracks_a_real_sweep(tmp_path: Path) -> None:
    env = {**os.environ, "MODELCYCLE_URI": str(tmp_path / "store")}
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    best_id = re.search(r"modelcycle runs show ([0-9a-f]{32})", done.stdout)
    assert best_id is not None, done.stdout

    mc.configure(str(tmp_path / "store"))
    try:
        run = mc.get_run(best_id.group(1))
        assert run.status is mc.RunStatus.FINISHED
        assert run.params["model"] == "GradientBoostingClassifier"
        assert len(mc.get_metric_history(run.id, "val_roc_auc")) == 100
        assert 0.9 < run.metrics["val_roc_auc"] <= 1.0
        [artifact] = run.artifacts
        assert artifact.path == "learning_curve.html"
        assert artifact.size > 1_000_000  # plotly.js is inlined: the plot works offline
        assert run.parent_id is not None
        assert mc.get_run(run.parent_id).tags["best_run"] == run.id
        assert run.environment_digest is not None
    finally:
        session.configure()
