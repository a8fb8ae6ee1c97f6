"""The quickstart's production half: serve the production model, score a batch, read the log.

Imported by ``quickstart.py``. The endpoint is the real ``modelcycle serve`` command in its own
process on a free loopback port; requests go over HTTP with the standard library's client, so
nothing here needs more than ``pip install 'modelcycle[serve]'``.
"""

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
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import modelcycle as mc

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pandas as pd

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_endpoint(model_ref: str, project: str) -> Iterator[str]:
    """``modelcycle serve MODEL_REF`` in a child process; yields its base URL once ready.

    On exit the server gets SIGTERM, which flushes its prediction log before it stops.
    """
    port = free_port()
    command = [sys.executable, "-m", "modelcycle", "serve", model_ref]
    command += ["--port", str(port), "--project", project]
    server = subprocess.Popen(command, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, url)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_ready(server: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            errors = server.stderr.read() if server.stderr is not None else ""
            raise SystemExit(f"the endpoint stopped before it was ready:\n{errors}")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"the endpoint at {url} was not ready within {READY_TIMEOUT_S:.0f} s")


def post_json(url: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """POST ``body`` as JSON; the decoded answer and its headers (names in lower case)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read()), {k.lower(): v for k, v in answer.headers.items()}


def serve_and_score(model_name: str, test: mc.DatasetVersion, target: str, project: str) -> None:
    """Serve ``model_name@production``, send it requests, score a batch, show the log."""
    features: pd.DataFrame = test.load().drop(columns=target)
    records = json.loads(features.head(20).to_json(orient="records"))
    with running_endpoint(f"{model_name}@production", project) as url:
        print(f"\nServing {model_name}@production at {url} (modelcycle serve)")
        answers = [post_json(f"{url}/predict", record) for record in records]
        first, headers = answers[0]
        print(
            f"  sent {len(answers)} one-row requests; the first answered "
            f"{first['predictions'][0]!r} from {headers['x-model-version']}, "
            f"prediction id {headers['x-prediction-id']}"
        )
        mlflow_style = {"dataframe_split": json.loads(features.head(3).to_json(orient="split"))}
        legacy, _ = post_json(f"{url}/invocations", mlflow_style)
        print(f"  an MLflow-style /invocations call scored 3 rows: {legacy['predictions']}")
    print("  stopped the endpoint (SIGTERM flushes its prediction log)")
    scored = mc.predict_batch(f"{model_name}@production", test)
    print(
        f"Scored {test.ref} in a batch: {len(scored)} rows, ids "
        f"{scored['prediction_id'].iloc[0]}..{scored['prediction_id'].iloc[-1]}"
    )


def show_logged(model_name: str, reports: Path) -> None:
    """Print what the prediction log holds for the production model."""
    logged = mc.predictions(f"{model_name}@production")
    by_source = logged.groupby("source").size().to_dict()
    print(
        f"The prediction log holds {len(logged)} predictions of {model_name}@production "
        f"({', '.join(f'{n} {source}' for source, n in sorted(by_source.items()))}); "
        f"newest: {logged['id'].iloc[-1]}"
    )
    logged.tail(1000).to_parquet(reports / "logged_predictions.parquet")
