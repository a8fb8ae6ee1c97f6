"""The real-time endpoint: a Starlette app serving one model reference.

Routes: ``POST /predict`` and ``POST /invocations`` (MLflow's scoring formats), ``GET /health``
(the process answers), ``GET /ready`` (a version is loaded; 503 until then), ``GET /metrics``
(Prometheus) and ``GET /openapi.json`` (with the model's real input schema).

Every prediction gets an id, returned in the body (``ids``) and the ``X-Prediction-Id`` header,
and is handed to ``log`` (the prediction log's bounded queue) after the answer is computed; the
log never blocks or fails a request. A malformed body is a 400, input that does not match the
signature a 422, each with a ``detail``; only a fault of the server is a 500.

The two scoring routes are plain ASGI callables inside Starlette's router (so middleware still
wraps them): no ``Request`` or ``Response`` objects, the body parsed by orjson into columns,
checked and laid out by the version's runtime (``_runtime``), the answer encoded by orjson.
The model runs on the event loop: one row takes microseconds in ONNX Runtime, and a hop to a
thread pool would cost more than that. Starlette rather than FastAPI: its validation layer
would cost more per request than the model does.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._request_formats import (
    BadRequest,
    invocations_body,
    predict_body,
)
from modelcycle.services.serve.openapi import openapi_document

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from modelcycle.services.serve.metrics import ServingMetrics
    from modelcycle.services.serve.model_holder import ModelHolder

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    Parse = Callable[[Any, Sequence[str]], dict[str, list[Any]]]
    PredictionLog = Callable[
        [Sequence[str], int, str, float, dict[str, list[Any]], list[dict[str, Any]]], None
    ]

log = logging.getLogger("modelcycle.serve")

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_JSON_TYPE = (b"content-type", b"application/json")
SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval while the app serves (see ``_favour_latency``)."""


def build_app(
    holder: ModelHolder,
    metrics: ServingMetrics,
    *,
    log_predictions: PredictionLog | None = None,
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> Starlette:
    """The ASGI app serving ``holder``'s current version.

    ``on_shutdown`` runs when the server stops gracefully (e.g. flushing the prediction log).
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(_: Request) -> Response:
        serving = holder.current
        if serving is None:
            return _json({"status": "loading", "detail": holder.last_error}, 503)
        return _json(
            {
                "status": "ready",
                "model": serving.version.ref,
                "runtime": serving.runtime.describe(),
            }
        )

    async def prometheus(_: Request) -> Response:
        from starlette.responses import Response

        body, media_type = metrics.render()
        return Response(body, media_type=media_type)

    async def openapi(_: Request) -> Response:
        serving = holder.current
        if serving is None:
            return _json({"detail": "no model loaded yet"}, 503)
        return _json(openapi_document(serving.version))

    def scoring(route: str, parse: Parse) -> ScoringEndpoint:
        return ScoringEndpoint(route, parse, holder, metrics, log_predictions)

    return Starlette(
        routes=[
            Route("/predict", scoring("/predict", predict_body), methods=["POST"]),
            Route("/invocations", scoring("/invocations", invocations_body), methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        lifespan=_lifespan(on_shutdown),
    )


def _lifespan(on_shutdown: Sequence[Callable[[], None]]) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        restore = _favour_latency()
        try:
            yield
        finally:
            try:
                for step in on_shutdown:
                    step()
            finally:
                restore()

    return lifespan


def _favour_latency() -> Callable[[], None]:
    """Tune the process for answering requests while the app serves; returns the undo.

    - The interpreter's thread switch interval goes from 5 ms to 0.5 ms: the prediction log's
      thread encodes records in Python, and a request waiting for the GIL would otherwise wait
      up to 5 ms each time that thread holds it.
    - What is alive now (imports, the loaded model) moves to the garbage collector's permanent
      generation (``gc.freeze``), so a full collection walks only what requests and the log
      made since: tens of milliseconds less per full collection. Reference cycles among the
      frozen objects (say, of a model swapped out later) are only reclaimed after the server
      stops, when they are unfrozen.
    """
    import gc
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    gc.freeze()

    def restore() -> None:
        sys.setswitchinterval(interval)
        gc.unfreeze()

    return restore


class ScoringEndpoint:
    """``POST /predict`` or ``POST /invocations`` as a plain ASGI app (one per route)."""

    __slots__ = ("_holder", "_log", "_metrics", "_parse", "_route")

    def __init__(
        self,
        route: str,
        parse: Parse,
        holder: ModelHolder,
        metrics: ServingMetrics,
        log_predictions: PredictionLog | None,
    ) -> None:
        self._route = route
        self._parse = parse
        self._holder = holder
        self._metrics = metrics
        self._log = log_predictions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body, answer it, send the answer, count it."""
        start = time.perf_counter()
        in_flight = self._metrics.in_flight
        in_flight.inc()
        try:
            body = await _read_body(receive)
            if body is None:  # the client went away before sending the whole body
                return
            status, payload, headers = self._answer(body, start)
            headers.append((b"content-length", str(len(payload)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        finally:
            in_flight.dec()
        self._metrics.observe(self._route, status, time.perf_counter() - start)

    def _answer(self, body: bytes, start: float) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        serving = self._holder.current
        if serving is None:
            return _error(503, "the model is still loading; retry when /ready says so")
        runtime = serving.runtime
        try:
            columns = self._parse(orjson.loads(body), runtime.input_names)
            prediction = runtime.predict(columns)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        except BadRequest as exc:
            return _error(400, exc.message)
        except InvalidInput as exc:
            return _error(422, exc.message)
        except Exception:
            log.exception("prediction failed on %s", self._route)
            return _error(500, "the model failed on this input; see the server log")
        now_ms = time.time_ns() // 1_000_000
        ids = new_ids(prediction.rows, now_ms)
        version = serving.version
        answer = prediction.answer
        answer["ids"] = ids
        answer["model"] = version.ref
        self._metrics.count_outputs(str(version.version), prediction.labels, answer["predictions"])
        if self._log is not None:
            latency_ms = (time.perf_counter() - start) * 1000
            try:
                self._log(ids, now_ms, version.id, latency_ms, columns, prediction.outputs())
            except Exception:  # the answer stands; only its log entry is lost, and said so
                log.exception("the prediction log refused %d prediction(s)", len(ids))
        headers = [
            _JSON_TYPE,
            (b"x-prediction-id", ",".join(ids).encode()),
            (b"x-model-version", version.ref.encode()),
        ]
        return 200, orjson.dumps(answer, option=_JSON_OPTIONS), headers


def new_ids(count: int, now_ms: int) -> list[str]:
    """``count`` prediction ids made at ``now_ms``: 32 hex characters, sorting by time.

    The same form as ``core.ids.new_id`` (a 48-bit millisecond clock and 80 random bits), with
    the clock read once and the randomness drawn in one call for the whole request.
    """
    clock = f"{now_ms:012x}"
    noise = os.urandom(10 * count).hex()
    return [clock + noise[i : i + 20] for i in range(0, 20 * count, 20)]


async def _read_body(receive: Receive) -> bytes | None:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body if message["type"] == "http.request" else None
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(status: int, detail: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return status, orjson.dumps({"detail": detail}), [_JSON_TYPE]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    body = orjson.dumps(data, option=_JSON_OPTIONS)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
