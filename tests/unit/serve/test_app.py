"""The real-time endpoint, served by uvicorn on loopback, with a registered model.

The app runs as a server runs it: inside the body limit and the request log (``wrap_app``).

Every test runs twice: with the Python model (the holder given a plain ``LoadedModel``) and with
the version's ONNX form (the holder given ``load_runtime``, both versions exported).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from tests.unit.serve.apps import uvicorn_on_loopback

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.services.registry.logged import load_logged_model
from modelcycle.services.serve.app import MAX_HEADER_IDS, build_app
from modelcycle.services.serve.endpoint import wrap_app
from modelcycle.services.serve.metrics import ServingMetrics
from modelcycle.services.serve.model_holder import ModelHolder, load_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

uvicorn = pytest.importorskip("uvicorn")

MAX_BODY = 32 * 1024 * 1024


class Server:
    """A served model and what it logged."""

    def __init__(
        self, port: int, holder: ModelHolder, logged: list[tuple[Any, ...]], runtime: str
    ) -> None:
        self.port = port
        self.holder = holder
        self.logged = logged
        self.runtime = runtime

    def call(
        self, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http
                text = response.read()
                return response.status, dict(response.headers), _decode(text)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _decode(error.read())


def _decode(text: bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.decode()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data: pd.DataFrame = load_breast_cancer(as_frame=True).data
    return data


@pytest.fixture(params=["python", "onnx"])
def server(tmp_path: Path, frame: pd.DataFrame, request: pytest.FixtureRequest) -> Iterator[Server]:
    runtime: str = request.param
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc")
    y = load_breast_cancer().target
    for c in (1.0, 0.001):
        model = LogisticRegression(C=c, max_iter=5000).fit(frame, y)
        with mc.start_run() as run:
            mc.log_model(model, input_example=frame.head(10))
        version = mc.models.register(run, "bc")
        if runtime == "onnx":
            assert mc.models.export(version.ref, format="onnx").parity.passed
    mc.models.set_alias("bc", "production", 1, force=True, reason="test")
    current = session.get_session()
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    holder = ModelHolder(
        lambda: current.registry.get("bc", "bc@production"),
        (
            (lambda version: load_runtime(current.artifacts, version))
            if runtime == "onnx"
            else (lambda version: load_logged_model(current.artifacts, version.model))
        ),
        poll_seconds=3600,
        on_swap=lambda version: metrics.serving(version.name, version.version, version.id),
    )
    holder.load_now()
    logged: list[tuple[Any, ...]] = []
    app = build_app(holder, metrics, log_predictions=lambda *a: logged.append(a))
    with uvicorn_on_loopback(wrap_app(app, metrics, max_body_bytes=MAX_BODY)) as port:
        yield Server(port, holder, logged, runtime)
    session.configure()


def test_predict_takes_records_columns_and_one_row(server: Server, frame: pd.DataFrame) -> None:
    rows = frame.head(3)
    status, headers, body = server.call("/predict", rows.to_dict(orient="records"))
    assert status == 200
    assert len(body["predictions"]) == 3
    assert len(body["probabilities"][0]) == 2
    assert headers["x-prediction-id"].split(",") == body["ids"]
    assert headers["x-prediction-count"] == "3"
    assert headers["x-model-version"] == body["model"] == "bc@1"
    by_columns = server.call("/predict", {"columns": rows.to_dict(orient="list")})[2]
    assert by_columns["predictions"] == body["predictions"]
    one = server.call("/predict", rows.iloc[0].to_dict())[2]
    assert one["predictions"] == body["predictions"][:1]
    assert len(server.logged) == 3
    ids, _, version_id, latency, columns, outputs = server.logged[0]
    assert list(ids) == body["ids"]
    assert version_id == server.holder.current.version.id  # type: ignore[union-attr]
    assert latency > 0
    assert list(columns) == list(frame.columns)
    assert outputs[0]["prediction"] == body["predictions"][0]


def test_a_large_answer_carries_its_ids_in_the_body_and_its_count_in_a_header(
    server: Server, frame: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelcycle.serve.access")
    most = frame.head(MAX_HEADER_IDS).to_dict(orient="records")
    status, headers, body = server.call("/predict", most)
    assert status == 200
    assert headers["x-prediction-id"].split(",") == body["ids"]
    assert headers["x-prediction-count"] == str(MAX_HEADER_IDS)
    rows = frame.sample(20_000, replace=True, random_state=0).to_dict(orient="records")
    status, headers, body = server.call("/predict", rows)
    assert status == 200
    assert "x-prediction-id" not in headers
    assert headers["x-prediction-count"] == "20000"
    assert len(body["ids"]) == len(set(body["ids"])) == 20_000
    assert sum(len(name) + len(value) for name, value in headers.items()) < 1024
    assert len(server.logged[-1][0]) == 20_000  # every row still goes to the prediction log
    lines = [r for r in caplog.records if r.name == "modelcycle.serve.access"]
    assert [line.fields["predictions"] for line in lines] == [MAX_HEADER_IDS, 20_000]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "make",
    [
        lambda f: {"dataframe_split": {"columns": list(f.columns), "data": f.values.tolist()}},
        lambda f: {"dataframe_records": f.to_dict(orient="records")},
        lambda f: {"instances": f.to_dict(orient="records")},
        lambda f: {"inputs": f.to_dict(orient="list")},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_invocations_speaks_mlflow_formats(server: Server, frame: pd.DataFrame, make: Any) -> None:
    status, _, body = server.call("/invocations", make(frame.head(4)))
    assert status == 200, body
    expected = server.call("/predict", frame.head(4).to_dict(orient="records"))[2]
    assert body["predictions"] == expected["predictions"]


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "non-empty list"),
        (b'{"dataframe_split": 1, "inputs": 2}', 400, None),
        (b'{"mean radius": 1.0}', 422, "'mean texture': missing"),
        (b'{"mean radius": "big"}', 422, "mean radius"),
    ],
)
def test_bad_bodies_are_4xx_with_a_detail(
    server: Server, raw: bytes, status: int, fragment: str | None
) -> None:
    path = "/invocations" if b"dataframe_split" in raw else "/predict"
    code, _, body = server.call(path, raw=raw)
    assert code == status
    assert isinstance(body["detail"], str)
    if fragment is not None:
        assert fragment in body["detail"]


def test_health_ready_metrics_and_openapi(server: Server, frame: pd.DataFrame) -> None:
    assert server.call("/health")[0] == 200
    expected_runtime = "onnx" if server.runtime == "onnx" else "python (array)"
    assert server.call("/ready")[2] == {
        "status": "ready",
        "model": "bc@1",
        "runtime": expected_runtime,
    }
    server.call("/predict", frame.head(2).to_dict(orient="records"))
    server.call("/predict", raw=b"{bad")
    status, headers, text = server.call("/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert 'modelcycle_requests_total{route="/predict",status="200"} 1.0' in text
    assert 'modelcycle_requests_total{route="/predict",status="400"} 1.0' in text
    assert "modelcycle_request_seconds_bucket" in text
    assert "modelcycle_predictions_total" in text
    assert "process_resident_memory_bytes" in text
    document = server.call("/openapi.json")[2]
    record = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    properties = record["schema"]["oneOf"][0]["properties"]
    assert properties["mean radius"] == {"type": "number"}
    assert len(properties) == frame.shape[1]


def test_an_alias_move_swaps_versions_without_a_failed_request(
    server: Server, frame: pd.DataFrame
) -> None:
    body = frame.head(1).to_dict(orient="records")
    stop = threading.Event()
    answers: list[tuple[int, str]] = []

    def load() -> None:
        while not stop.is_set():
            status, headers, _ = server.call("/predict", body)
            answers.append((status, headers.get("x-model-version", "")))

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(load)
        time.sleep(0.3)
        mc.models.set_alias("bc", "production", 2, force=True, reason="swap test")
        assert server.holder.check() is True
        time.sleep(0.3)
        stop.set()
    assert answers
    assert {status for status, _ in answers} == {200}
    versions = [v for _, v in answers]
    assert versions[0] == "bc@1"
    assert versions[-1] == "bc@2"
    assert set(versions) == {"bc@1", "bc@2"}
    assert server.holder.swaps == 1
    text = server.call("/metrics")[2]
    info = {
        re.search(r'version="(\d+)"', line).group(1): line.rsplit(" ", 1)[1]  # type: ignore[union-attr]
        for line in text.splitlines()
        if line.startswith("modelcycle_model_info{")
    }
    assert info == {"1": "0.0", "2": "1.0"}


def test_a_failing_log_never_fails_the_request(tmp_path: Path, frame: pd.DataFrame) -> None:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc")
    try:
        with mc.start_run() as run:
            mc.log_model(
                LogisticRegression(max_iter=5000).fit(frame, load_breast_cancer().target),
                input_example=frame.head(5),
            )
        version = mc.models.register(run, "bc")
        current = session.get_session()
        holder = ModelHolder(
            lambda: current.registry.get("bc", version.ref),
            lambda found: load_runtime(current.artifacts, found),
        )
        holder.load_now()

        def refuse(*_: Any) -> None:
            raise RuntimeError("the log is broken")

        metrics = ServingMetrics(lambda: 0, lambda: 0)
        app = build_app(holder, metrics, log_predictions=refuse)
        with uvicorn_on_loopback(wrap_app(app, metrics, max_body_bytes=MAX_BODY)) as port:
            status, headers, body = Server(port, holder, [], "python").call(
                "/predict", frame.head(2).to_dict(orient="records")
            )
        assert status == 200
        assert len(body["ids"]) == 2
        assert headers["x-model-version"] == "bc@1"
    finally:
        session.configure()
