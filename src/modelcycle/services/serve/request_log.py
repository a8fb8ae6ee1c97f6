"""Request ids, one log line and the request metrics per request: a pure ASGI middleware.

``RequestLog`` wraps the served app, the body limit included. Each HTTP request gets an id: the
caller's ``X-Request-Id`` when it is sane (1 to 128 characters of letters, digits and
``._:/+=@-``, starting with a letter or digit), otherwise a new 32-hex-character one. The id is
echoed in the ``X-Request-Id`` response header, set in ``log_format.current_request_id`` while
the request is answered (so every line logged meanwhile carries it, errors included), and
written in the request's line on the ``modelcycle.serve.access`` logger::

    {
        "time": "...",
        "level": "info",
        "logger": "modelcycle.serve.access",
        "message": "POST /predict 200",
        "pid": 4242,
        "request_id": "...",
        "method": "POST",
        "path": "/predict",
        "status": 200,
        "latency_ms": 0.84,
        "model": "churn@3",
        "predictions": 1,
        "client": "127.0.0.1:50514",
    }

``model`` and ``predictions`` come from the app's ``X-Model-Version`` and
``X-Prediction-Count`` response headers (``X-Prediction-Id`` is left out of large answers).
An exception escaping the app is logged (with the request id and the traceback) and answered
with a 500 if no answer was started.

Given the server's ``ServingMetrics``, it also counts every answered request by route and
status and observes its latency (the same figure as ``latency_ms``): being outermost, it sees
the errors answered before the app's routes (a 413) and times the whole request. No Starlette
``BaseHTTPMiddleware``: the per-request cost is one header scan, one wrapped ``send``, one
log record and one metrics observation.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.services.serve.log_format import current_request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

    from modelcycle.services.serve.metrics import ServingMetrics

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = b"x-request-id"
_MODEL_VERSION = b"x-model-version"
_PREDICTION_COUNT = b"x-prediction-count"
_SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
_MAX_PATH = 512

access_log = logging.getLogger("modelcycle.serve.access")
error_log = logging.getLogger("modelcycle.serve")


def new_request_id() -> str:
    """A fresh request id: 32 random hex characters."""
    return os.urandom(16).hex()


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else a new id."""
    for name, value in headers:
        if name == _REQUEST_ID:
            if _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return new_request_id()


class _Answer:
    """What the app answered, read off the response start."""

    __slots__ = ("model", "predictions", "started", "status")

    def __init__(self) -> None:
        self.status = 0
        self.model: bytes | None = None  # the raw header values, decoded only to be logged
        self.predictions = b"0"
        self.started = False


class RequestLog:
    """Gives every HTTP request an id and logs one line when it is answered.

    Args:
        app: The ASGI app to wrap.
        access: Whether to write the per-request line (errors are logged either way).
        metrics: Where to count and time each answered request, if anywhere.
    """

    def __init__(
        self, app: ASGIApp, *, access: bool = True, metrics: ServingMetrics | None = None
    ) -> None:
        self.app = app
        self.access = access
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI event; only ``http`` scopes are logged."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        echoed = (_REQUEST_ID, request_id.encode("ascii"))
        answer = _Answer()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                for name, value in headers:
                    if name == _MODEL_VERSION:
                        answer.model = value
                    elif name == _PREDICTION_COUNT:
                        answer.predictions = value
                headers.append(echoed)
                answer.status = message["status"]
                answer.started = True
                message["headers"] = headers  # in place, as Starlette's own middleware does
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # noqa: BLE001 - logged with the request id and answered with a 500
            # Logged here, with the request id, and answered; not re-raised, so the server
            # does not log it a second time without the id.
            error_log.exception("the app failed on %s %s", scope.get("method"), _path(scope))
            if not answer.started:
                await _server_error(send_with_id, request_id)
            answer.status = 500
        finally:
            seconds = time.perf_counter() - start
            metrics = self.metrics
            if metrics is not None and answer.status:
                # the path of the route Starlette's router matched, if it did
                label = getattr(scope.get("route"), "path", None) or metrics.route_of(scope)
                metrics.observe(label, answer.status, seconds)
            if self.access:
                _log_request(scope, request_id, answer, seconds)
            current_request_id.reset(token)


def _path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    return path if len(path) <= _MAX_PATH else path[:_MAX_PATH] + "..."


def _log_request(scope: Scope, request_id: str, answer: _Answer, seconds: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    method = scope.get("method", "")
    path = _path(scope)
    client = scope.get("client")
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": answer.status,
        "latency_ms": round(seconds * 1000, 3),
        "model": None if answer.model is None else answer.model.decode("latin-1"),
        "predictions": int(answer.predictions) if answer.predictions.isdigit() else 0,
        "client": f"{client[0]}:{client[1]}" if client else None,
    }
    # makeRecord + handle: Logger.info would also walk the stack for the caller's file and line
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %d",
        (method, path, answer.status),
        None,
        extra={"fields": fields},
    )
    access_log.handle(record)


async def _server_error(send: Send, request_id: str) -> None:
    body = orjson.dumps(
        {"detail": "the server failed on this request; see its log", "request_id": request_id}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
