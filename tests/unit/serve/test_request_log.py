"""Request ids, the per-request JSON line, error lines, and the body limit, driven as ASGI."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve.body_limit import BodyLimit
from modelcycle.services.serve.log_format import (
    JsonFormatter,
    TextFormatter,
    current_request_id,
    logging_config,
    resolve_log_format,
)
from modelcycle.services.serve.metrics import ServingMetrics
from modelcycle.services.serve.request_log import RequestLog, request_id_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.services.serve.request_log import ASGIApp, Message, Receive, Scope, Send


def _read(handler_stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in handler_stream.getvalue().splitlines()]


class Captured:
    """What the serve loggers wrote, one parsed JSON object per line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return _read(self.stream)


@pytest.fixture
def logged() -> Iterator[Captured]:
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("modelcycle.serve")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _scope(
    path: str = "/predict", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers or [],
        "client": ("127.0.0.1", 50514),
    }


def _call(app: ASGIApp, scope: dict[str, Any], body: list[bytes] | None = None) -> list[Message]:
    """Run one request through ``app``; the messages it sent."""
    chunks = list(body or [b""])
    sent: list[Message] = []

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    return sent


async def _scoring(scope: Scope, receive: Receive, send: Send) -> None:
    """An app answering like the scoring route: ids and version in headers."""
    logging.getLogger("modelcycle.serve").info("scoring")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-prediction-id", b"a,b,c"),
                (b"x-prediction-count", b"3"),
                (b"x-model-version", b"bc@2"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def _failing(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the model broke")


async def _many_rows(scope: Scope, receive: Receive, send: Send) -> None:
    """An answer too large for ``X-Prediction-Id``: only the count is in a header."""
    headers = [(b"x-prediction-count", b"20000"), (b"x-model-version", b"bc@2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def test_predictions_are_counted_from_the_count_header(logged: Captured) -> None:
    _call(RequestLog(_many_rows), _scope())
    assert logged.lines[-1]["predictions"] == 20000
    _call(RequestLog(_echo), _scope())  # no prediction at all
    assert logged.lines[-1]["predictions"] == 0


def _headers(message: Message) -> dict[bytes, bytes]:
    return dict(message["headers"])


def test_a_sane_request_id_is_echoed_and_logged(logged: Captured) -> None:
    sent = _call(RequestLog(_scoring), _scope(headers=[(b"x-request-id", b"trace-42.a:b")]))
    assert _headers(sent[0])[b"x-request-id"] == b"trace-42.a:b"
    scoring, access = logged.lines
    assert scoring["message"] == "scoring"
    assert scoring["request_id"] == "trace-42.a:b"  # lines logged inside the app carry it
    assert access["logger"] == "modelcycle.serve.access"
    assert access["request_id"] == "trace-42.a:b"
    assert access["method"] == "POST"
    assert access["path"] == "/predict"
    assert access["status"] == 200
    assert access["model"] == "bc@2"
    assert access["predictions"] == 3
    assert access["client"] == "127.0.0.1:50514"
    assert access["latency_ms"] >= 0
    assert access["level"] == "info"
    assert access["time"].endswith("Z")
    assert isinstance(access["pid"], int)
    assert current_request_id.get() is None  # reset after the request


@pytest.mark.parametrize(
    "incoming",
    [b"", b"x" * 129, b"has space", b"semi;colon", b"\xff\xfe", b"-leading-dash", b"new\nline"],
)
def test_an_insane_request_id_is_replaced(incoming: bytes, logged: Captured) -> None:
    sent = _call(RequestLog(_scoring), _scope(headers=[(b"x-request-id", incoming)]))
    echoed = _headers(sent[0])[b"x-request-id"]
    assert echoed != incoming
    assert len(echoed) == 32
    int(echoed, 16)
    assert logged.lines[-1]["request_id"] == echoed.decode()


def test_each_request_without_an_id_gets_a_new_one() -> None:
    first = _headers(_call(RequestLog(_scoring), _scope())[0])[b"x-request-id"]
    second = _headers(_call(RequestLog(_scoring), _scope())[0])[b"x-request-id"]
    assert first != second
    assert request_id_of([(b"x-request-id", b"A" * 128)]) == "A" * 128


def test_an_error_in_the_app_is_logged_with_the_request_id_and_answered(
    logged: Captured,
) -> None:
    sent = _call(RequestLog(_failing), _scope(headers=[(b"x-request-id", b"req-1")]))
    assert sent[0]["status"] == 500
    assert _headers(sent[0])[b"x-request-id"] == b"req-1"
    assert json.loads(sent[1]["body"])["request_id"] == "req-1"
    error, access = logged.lines
    assert error["level"] == "error"
    assert error["request_id"] == "req-1"
    assert error["error"] == "RuntimeError: the model broke"
    assert "Traceback" in error["traceback"]
    assert access["status"] == 500


def test_the_access_line_can_be_turned_off(logged: Captured) -> None:
    _call(RequestLog(_scoring, access=False), _scope())
    assert [line["message"] for line in logged.lines] == ["scoring"]


def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def run() -> None:
        await RequestLog(lifespan)({"type": "lifespan"}, _no_receive, _no_send)
        await BodyLimit(lifespan, 10)({"type": "lifespan"}, _no_receive, _no_send)

    asyncio.run(run())
    assert seen == ["lifespan", "lifespan"]


async def _no_receive() -> Message:
    return {"type": "lifespan.startup"}


async def _no_send(message: Message) -> None:
    return None


def test_a_long_path_is_cut_in_the_log(logged: Captured) -> None:
    _call(RequestLog(_scoring), _scope(path="/" + "a" * 5000))
    assert len(logged.lines[-1]["path"]) < 600


# -- formatters -----------------------------------------------------------------------------


def _record(message: str, **fields: Any) -> logging.LogRecord:
    record = logging.LogRecord("modelcycle.serve", logging.WARNING, __file__, 1, message, (), None)
    if fields:
        record.fields = fields
    return record


def test_the_json_line_is_one_line_whatever_the_message_holds() -> None:
    text = JsonFormatter().format(_record('two\nlines "quoted"', n=1, value=float("nan")))
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == 'two\nlines "quoted"'
    assert line["n"] == 1
    assert line["value"] is None  # orjson writes NaN as null
    assert line["level"] == "warning"


def test_the_text_line_holds_the_fields() -> None:
    text = TextFormatter().format(_record("worker ready", model="bc@1"))
    assert "WARNING" in text
    assert text.endswith("worker ready model=bc@1")


def test_the_log_format_resolves() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_log_format("auto", Terminal()) == "text"
    assert resolve_log_format("auto", io.StringIO()) == "json"
    assert resolve_log_format("json") == "json"
    with pytest.raises(InvalidInput, match="'xml' is not one of json, text, auto"):
        resolve_log_format("xml")
    config = logging_config("json")
    assert config["formatters"]["serve"]["()"].endswith("log_format.JsonFormatter")
    assert config["loggers"]["modelcycle"] == {"level": "INFO"}


# -- body limit -----------------------------------------------------------------------------


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_body_over_the_announced_limit_is_refused_unread() -> None:
    sent = _call(BodyLimit(_echo, 10), _scope(headers=[(b"content-length", b"11")]), [b"x" * 11])
    assert sent[0]["status"] == 413
    assert "at most 10 bytes, the request sent 11 bytes" in json.loads(sent[1]["body"])["detail"]


def test_a_body_within_the_limit_passes() -> None:
    sent = _call(BodyLimit(_echo, 10), _scope(headers=[(b"content-length", b"10")]), [b"x" * 10])
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"x" * 10


def test_a_chunked_body_is_counted() -> None:
    chunked = [(b"transfer-encoding", b"chunked")]
    sent = _call(BodyLimit(_echo, 10), _scope(headers=chunked), [b"x" * 6, b"y" * 6])
    assert sent[0]["status"] == 413
    sent = _call(BodyLimit(_echo, 10), _scope(headers=chunked), [b"x" * 5, b"y" * 5])
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"x" * 5 + b"y" * 5


def test_the_body_limit_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="max_bytes=0 must be a positive number"):
        BodyLimit(_echo, 0)


# -- request metrics ------------------------------------------------------------------------


async def _gone(scope: Scope, receive: Receive, send: Send) -> None:
    """An app whose client left before it answered: nothing is sent."""
    await receive()


def _requests(metrics: ServingMetrics) -> dict[tuple[str, str], float]:
    family = next(iter(metrics.requests.collect()))
    return {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_answered_requests_are_counted_under_a_bounded_route_label() -> None:
    metrics = ServingMetrics(lambda: 0, lambda: 0)
    metrics.routes.add("/predict")
    limited = RequestLog(BodyLimit(_echo, 10), metrics=metrics)
    big = [(b"content-length", b"11")]
    _call(limited, _scope(headers=big), [b"x" * 11])  # refused before any routing: a 413
    _call(limited, _scope(path="/scan/1", headers=big), [b"x" * 11])
    _call(limited, _scope(path="/scan/2", headers=big), [b"x" * 11])
    _call(RequestLog(_gone, metrics=metrics), _scope())  # never answered: not counted
    assert _requests(metrics) == {("/predict", "413"): 1.0, ("unmatched", "413"): 2.0}
    histogram = next(iter(metrics.latency.collect()))
    counts = {
        sample.labels["route"]: sample.value
        for sample in histogram.samples
        if sample.name.endswith("_count")
    }
    assert counts == {"/predict": 1.0, "unmatched": 2.0}
