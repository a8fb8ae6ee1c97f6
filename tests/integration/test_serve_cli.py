"""``modelcycle serve`` as a real process, and batch predictions in the prediction log."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import openapi_spec_validator
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.store.predictions import find_prediction, read_predictions

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("uvicorn")


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    mc.configure(uri)
    mc.set_project("bc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with mc.start_run() as run:
        mc.log_model(LogisticRegression(max_iter=5000).fit(X, y), input_example=X.head(10))
    mc.models.register(run, "bc")
    mc.models.set_alias("bc", "production", 1, force=True, reason="test")
    session.configure()
    return uri


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_served_predictions_are_logged_with_their_ids(store: str) -> None:
    port = _free_port()
    env = {**os.environ, "MODELCYCLE_URI": store}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelcycle",
            "serve",
            "bc@production",
            "-p",
            "bc",
            "--port",
            str(port),
            "--flush-seconds",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    assert json.loads(r.read())["model"] == "bc@1"
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        row = load_breast_cancer(as_frame=True).data.head(2).to_dict(orient="records")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=json.dumps(row).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            answer = json.loads(response.read())
        feedback = _post_feedback(port, {"prediction_id": answer["ids"][1], "label": 0})
        unknown = _post_feedback(port, {"prediction_id": "f" * 32, "label": 0})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=10) as r:
            document = json.loads(r.read())
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)  # waits, and closes the pipes
    assert server.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises it after shutting down
    mc.configure(store)
    mc.set_project("bc")
    try:
        current = session.get_session()
        logged = find_prediction(current.metadata, current.artifacts, answer["ids"][1])
        assert logged is not None
        assert logged.source == "http"
        assert logged.outputs["prediction"] == answer["predictions"][1]
        assert logged.model_version_id == mc.models.get("bc@1").id
        assert feedback[0] == 200
        assert current.metadata.feedback.get(answer["ids"][1]).label == 0
        assert unknown[0] == 404
        assert "f" * 32 in str(unknown[1]["detail"])
        openapi_spec_validator.validate(document)  # the mounted /feedback is described too
        described = document["paths"]["/feedback"]["post"]
        assert {"200", "207", "404", "422"} <= set(described["responses"])
    finally:
        session.configure()


def _post_feedback(port: int, body: object) -> tuple[int, dict[str, object]]:
    """POST /feedback; retried while the prediction is not yet in the log (written every 0.2 s)."""
    deadline = time.monotonic() + 10
    while True:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/feedback",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                return error.code, json.loads(error.read())
            time.sleep(0.2)


def test_batch_predictions_are_logged(store: str) -> None:
    mc.configure(store)
    mc.set_project("bc")
    try:
        frame = load_breast_cancer(as_frame=True).data.head(50)
        scored = mc.predict_batch("bc@production", frame)
        assert isinstance(scored, pd.DataFrame)
        current = session.get_session()
        table = read_predictions(
            current.metadata, current.artifacts, model_version_id=mc.models.get("bc@1").id
        )
        assert sorted(table.column("id").to_pylist()) == sorted(scored["prediction_id"])
        assert set(table.column("source").to_pylist()) == {"batch"}
    finally:
        session.configure()


def _serve_cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelcycle", "serve", "bc@production", "-p", "bc", *args],
        env={**os.environ, "MODELCYCLE_URI": store},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_a_bad_worker_count_is_one_error_line(store: str, workers: str) -> None:
    done = _serve_cli(store, "--workers", workers)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: --workers must be 1 or more, got {workers}",
        "hint: give --workers 1 for one process, or about one per CPU core",
    ]


def test_a_busy_port_is_one_error_line(store: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _serve_cli(store, "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use by another process",
        f"hint: stop the process listening on port {port}, or pick another --port",
    ]
