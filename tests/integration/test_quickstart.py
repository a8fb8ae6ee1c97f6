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
        artifacts = {a.path: a for a in run.artifacts}
        assert sorted(artifacts) == [
            "learning_curve.html",
            "models/model/input_example",
            "models/model/model",
        ]
        curve = artifacts["learning_curve.html"]
        assert curve.size > 1_000_000  # plotly.js is inlined: the plot works offline
        assert run.parent_id is not None
        assert mc.get_run(run.parent_id).tags["best_run"] == run.id
        assert run.environment_digest is not None
        assert {(i.role) for i in run.inputs} == {"train", "validation"}
        _check_the_model_was_shipped(run.id, tmp_path)
        _check_the_model_was_served(done.stdout)
    finally:
        session.configure()


def _check_the_model_was_shipped(run_id: str, folder: Path) -> None:
    mc.set_project("breast-cancer")
    version = mc.models.get("breast-cancer-gbm@production")
    assert version.model.run_id == run_id
    assert version.approval.value == "approved"
    assert version.gate is not None
    assert version.gate.passed
    assert version.exports["onnx"]["parity"]["passed"] is True
    assert (folder / ".modelcycle-reports" / "evaluation.html").stat().st_size > 100_000
    assert (folder / ".modelcycle-reports" / "raw_profile.html").is_file()
    clean = mc.data.get("breast-cancer@2")
    assert clean.lineage.parents == ("breast-cancer@1",)
    assert mc.data.get("breast-cancer-test-failures@latest").num_rows > 0


def _check_the_model_was_served(stdout: str) -> None:
    logged = mc.predictions("breast-cancer-gbm@production")
    sources = logged["source"].value_counts().to_dict()
    test_rows = mc.data.get("breast-cancer-test@1").num_rows
    # 20 + 3 requests, then the shifted test part over HTTP; the test part once in a batch
    assert sources == {"http": 23 + test_rows, "batch": test_rows}
    assert f"The prediction log holds {23 + test_rows} predictions" in stdout  # before the shift
    served = re.search(r"prediction id ([0-9a-f]{32})", stdout)
    assert served is not None
    assert served.group(1) in set(logged["id"])
    _check_the_model_was_monitored(test_rows)


def _check_the_model_was_monitored(test_rows: int) -> None:
    (report,) = mc.monitor.reports("breast-cancer-gbm@production")
    assert report.rows == test_rows
    assert report.dataset_drifted
    assert report.drift_share is not None
    assert report.drift_share > 0.3
    (alert,) = mc.monitor.alerts("breast-cancer-gbm")
    assert alert.state.value == "firing"
    assert alert.delivery_status.value == "delivered"
    labelled = session.get_session().metadata.feedback.count()
    assert labelled == test_rows
