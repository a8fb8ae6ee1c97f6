"""The endpoint's HTTP contract for callers' mistakes, over a real uvicorn server on loopback.

Every error is JSON with a ``detail``; every answered request, errors included, is counted in
``/metrics`` under its route and status, and timed from its first byte to its answer.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from tests.unit.serve.apps import model_app, uvicorn_on_loopback

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.services.serve.app import build_app
from modelcycle.services.serve.endpoint import wrap_app
from modelcycle.services.serve.metrics import ServingMetrics
from modelcycle.services.serve.model_holder import ModelHolder

if TYPE_CHECKING:
    from collections.abc import Iterator

uvicorn = pytest.importorskip("uvicorn")

MAX_BODY = 64 * 1024
ROUTES = ("POST /predict", "POST /invocations", "GET /health", "GET /ready", "GET /ping")


class Answer:
    """One HTTP answer: status, headers (lower-case names) and raw body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Plain ``http.client`` calls, so any method, media type or timing can be sent."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = "application/json",
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {} if content_type is None else {"Content-Type": content_type}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            found = {name.lower(): value for name, value in response.getheaders()}
            return Answer(response.status, found, data)
        finally:
            connection.close()

    def metrics(self) -> dict[tuple[str, str, str], float]:
        """``(sample name, route, status or le)`` -> value, for the request metrics."""
        text = self.call("GET", "/metrics").body.decode()
        values: dict[tuple[str, str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("modelcycle_request"):
                    labels = sample.labels
                    key = labels.get("status", labels.get("le", ""))
                    values[sample.name, labels.get("route", ""), key] = sample.value
        return values


@pytest.fixture(scope="module")
def row() -> dict[str, float]:
    frame = load_breast_cancer(as_frame=True).data
    first: dict[str, float] = frame.head(1).to_dict(orient="records")[0]
    return first


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    mc.configure(str(tmp_path_factory.mktemp("store")))
    mc.set_project("bc")
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    try:
        with mc.start_run() as run:
            mc.log_model(LogisticRegression(max_iter=5000).fit(x, y), input_example=x.head(10))
        version = mc.models.register(run, "bc")
        app, _ = model_app("bc", version.ref, max_body_bytes=MAX_BODY)
        with uvicorn_on_loopback(app) as port:
            yield Client(port)
    finally:
        session.configure()


def _is_json_error(answer: Answer) -> str:
    assert answer.headers["content-type"] == "application/json", answer.body
    detail = answer.json["detail"]
    assert isinstance(detail, str)
    assert detail
    return detail


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("POST", "/predict/extra"), ("POST", "/predict/")]
)
def test_an_unknown_route_is_a_json_404_naming_the_routes(
    client: Client, method: str, path: str
) -> None:
    answer = client.call(method, path, b"{}" if method == "POST" else None)
    assert answer.status == 404
    detail = _is_json_error(answer)
    assert detail.startswith(f"no route {method} {path};")
    for route in ROUTES:
        assert route in detail


def test_a_long_unknown_path_is_cut_in_the_detail(client: Client) -> None:
    answer = client.call("GET", "/" + "a" * 5000)
    assert answer.status == 404
    assert len(_is_json_error(answer)) < 600


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/predict", "POST"),
        ("PUT", "/invocations", "POST"),
        ("HEAD", "/predict", "POST"),
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/metrics", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(
    client: Client, method: str, path: str, allowed: str
) -> None:
    answer = client.call(method, path)
    assert answer.status == 405
    assert answer.headers["allow"] == allowed
    if method != "HEAD":  # a HEAD answer has no body
        assert _is_json_error(answer) == f"{path} does not take {method}; it takes {allowed}"


@pytest.mark.parametrize("path", ["/health", "/ready", "/ping", "/metrics", "/openapi.json"])
def test_head_answers_every_get_route_without_a_body(client: Client, path: str) -> None:
    head = client.call("HEAD", path)
    assert head.status == 200
    assert head.body == b""
    if path != "/metrics":  # the metrics change between the two calls
        assert int(head.headers["content-length"]) == len(client.call("GET", path).body)


def test_ping_answers_like_ready(client: Client) -> None:
    ping = client.call("GET", "/ping")
    assert ping.status == 200
    assert ping.json == client.call("GET", "/ready").json
    assert ping.json["model"] == "bc@1"


def test_a_body_over_the_limit_is_a_json_413(client: Client) -> None:
    answer = client.call("POST", "/predict", b"[" + b"1," * MAX_BODY + b"1]")
    assert answer.status == 413
    assert f"at most {MAX_BODY} bytes" in _is_json_error(answer)


CSV = b"mean radius,mean texture\n17.99,10.38\n"


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=x", "application/octet-stream", "image/png"]
)
def test_a_body_of_another_media_type_is_a_json_415(client: Client, content_type: str) -> None:
    for path in ("/predict", "/invocations"):
        answer = client.call("POST", path, CSV, content_type)
        assert answer.status == 415
        detail = _is_json_error(answer)
        assert content_type.split(";")[0] in detail
        assert "application/json" in detail
        assert "text/csv" in detail


def test_a_csv_body_is_scored_over_http(client: Client, row: dict[str, float]) -> None:
    header = ",".join(f'"{name}"' for name in row).encode()
    values = ",".join(map(repr, row.values())).encode()
    answer = client.call("POST", "/invocations", header + b"\n" + values + b"\n", "text/csv")
    assert answer.status == 200, answer.body
    expected = client.call("POST", "/predict", json.dumps(row).encode()).json
    assert answer.json["probabilities"] == expected["probabilities"]
    partial = client.call("POST", "/invocations", CSV, "text/csv")  # two of the 30 columns
    assert partial.status == 422
    assert "worst area" in _is_json_error(partial)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/merge-patch+json",
        "text/plain;charset=UTF-8",  # a browser's fetch with a string body
        "application/x-www-form-urlencoded",  # curl -d
        "text/csv",  # mislabelled, but JSON all the same
        None,
    ],
)
def test_a_json_body_is_read_whatever_its_label(
    client: Client, row: dict[str, float], content_type: str | None
) -> None:
    answer = client.call("POST", "/predict", json.dumps(row).encode(), content_type)
    assert answer.status == 200, answer.body
    assert len(answer.json["predictions"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"", 400, "not JSON"),
        (CSV, 400, "not JSON"),  # labelled JSON: what is wrong is the body
        (b"\xff\xfe{", 400, "not JSON"),
        (b"[" * 2000 + b"]" * 2000, 400, "not JSON"),
        (b'{"mean radius": NaN}', 400, "not JSON"),
        (b'{"mean radius": 1e999}', 400, "not JSON"),
        (b"null", 400, "must be a record"),
        (b'{"mean radius": "big"}', 422, "mean radius"),
    ],
)
def test_a_bad_body_is_a_json_4xx(client: Client, body: bytes, status: int, fragment: str) -> None:
    answer = client.call("POST", "/predict", body)
    assert answer.status == status
    assert fragment in _is_json_error(answer)


def test_a_model_still_loading_is_a_json_503(client: Client, row: dict[str, float]) -> None:
    def never(*_: Any) -> Any:
        raise AssertionError("not loaded in this test")

    holder = ModelHolder(never, never, poll_seconds=3600)  # load_now never called
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    app = wrap_app(build_app(holder, metrics), metrics, max_body_bytes=MAX_BODY)
    with uvicorn_on_loopback(app) as port:
        loading = Client(port)
        answer = loading.call("POST", "/predict", json.dumps(row).encode())
        assert answer.status == 503
        assert "still loading" in _is_json_error(answer)
        assert answer.headers["retry-after"] == "1"
        for path in ("/ready", "/ping", "/openapi.json"):
            answer = loading.call("GET", path)
            assert answer.status == 503
            assert answer.headers["retry-after"] == "1"
            _is_json_error(answer)
        counted = loading.metrics()
    assert counted["modelcycle_requests_total", "/predict", "503"] == 1
    assert counted["modelcycle_requests_total", "/ping", "503"] == 1


def _delta(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[tuple[str, str, str], float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_every_answer_is_counted_by_route_and_status(client: Client, row: dict[str, float]) -> None:
    one = json.dumps(row).encode()
    before = client.metrics()
    sent = [
        (("POST", "/predict", one), 200),
        (("POST", "/predict", b"{bad"), 400),
        (("GET", "/predict", None), 405),
        (("POST", "/predict", b"x" * (MAX_BODY + 1)), 413),
        (("POST", "/invocations", one), 400),  # not one of MLflow's formats
        (("GET", "/health", None), 200),
        (("GET", "/no/such/route", None), 404),
        (("GET", "/another/one", None), 404),
    ]
    for (method, path, body), status in sent:
        assert client.call(method, path, body).status == status
    assert client.call("POST", "/predict", CSV, "application/octet-stream").status == 415
    assert client.call("POST", "/predict", b'{"mean radius": "x"}').status == 422
    counted = _delta(before, client.metrics())
    requests = {(r, s): v for (name, r, s), v in counted.items() if name.endswith("_total")}
    assert requests == {
        ("/predict", "200"): 1,
        ("/predict", "400"): 1,
        ("/predict", "405"): 1,
        ("/predict", "413"): 1,
        ("/predict", "415"): 1,
        ("/predict", "422"): 1,
        ("/invocations", "400"): 1,
        ("/health", "200"): 1,
        ("unmatched", "404"): 2,  # one series whatever the path
        ("/metrics", "200"): 1,  # the first scrape, counted once answered
    }
    # the latency histogram saw every one of them too
    assert counted["modelcycle_request_seconds_count", "/predict", ""] == 6
    assert counted["modelcycle_request_seconds_count", "unmatched", ""] == 2


def test_the_latency_is_the_whole_request_not_the_model(
    client: Client, row: dict[str, float]
) -> None:
    """A body that arrives 0.3 s after its headers is a request of at least 0.3 s."""
    body = json.dumps(row).encode()
    before = client.metrics()
    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
        head = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        time.sleep(0.3)
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    counted = _delta(before, client.metrics())
    assert counted["modelcycle_request_seconds_count", "/predict", ""] == 1
    assert counted["modelcycle_request_seconds_sum", "/predict", ""] >= 0.3
    assert ("modelcycle_request_seconds_bucket", "/predict", "0.25") not in counted
    assert counted["modelcycle_request_seconds_bucket", "/predict", "+Inf"] == 1


class _BrokenCollector:
    """A metrics collector that fails, so ``GET /metrics`` fails inside a Starlette route."""

    def collect(self) -> Iterator[Any]:
        raise RuntimeError("the collector broke")


def test_a_failing_route_is_a_json_500_with_the_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    holder = ModelHolder(lambda: None, lambda _: None, poll_seconds=3600)  # type: ignore[arg-type,return-value]
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    app = wrap_app(build_app(holder, metrics), metrics, max_body_bytes=MAX_BODY)
    metrics.registry.register(_BrokenCollector())
    with uvicorn_on_loopback(app) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics", headers={"X-Request-Id": "trace-500"})
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    assert response.status == 500
    assert response.getheader("content-type") == "application/json"
    assert body == {
        "detail": "the server failed on this request; see its log",
        "request_id": "trace-500",
    }
    failed = [r for r in caplog.records if r.name == "modelcycle.serve" and r.exc_info]
    assert failed
    assert "the collector broke" in str(failed[-1].exc_info[1])  # type: ignore[index]
