"""The real-time endpoint: a Starlette app serving one model reference.

Routes: ``POST /predict`` and ``POST /invocations`` (MLflow's scoring formats), ``GET /health``
(the process answers), ``GET /ready`` and ``GET /ping`` (a version is loaded; 503 until then;
``/ping`` is the name SageMaker hosting polls), ``GET /metrics`` (Prometheus) and
``GET /openapi.json`` (with the model's real input schema). Every ``GET`` route answers ``HEAD``.

Every prediction gets an id, returned in the body (``ids``) and, for an answer of at most
``MAX_HEADER_IDS`` rows, in the ``X-Prediction-Id`` header (comma-separated); a larger answer's
ids are only in its body, as a header of thousands of ids is more than proxies let through.
``X-Prediction-Count`` always says how many predictions the answer holds. The rows are handed
to ``log`` (the prediction log's bounded queue) after the answer is computed; the log never
blocks or fails a request.

Every error is JSON ``{"detail": "..."}`` saying what was wrong and how to fix it: an unknown
route is a 404 naming the routes, a method a route does not take a 405 with ``Allow``, a body
that is neither a JSON request nor CSV (``Content-Type: text/csv``, a header line then rows,
as ``mlflow models serve`` takes) a 400, or a 415 when ``Content-Type`` names another format,
input that does not match the signature (or numbers out of its types' range) a 422, a model
still loading a 503 with ``Retry-After``; only a fault of the server is a 500, whose body also
gives the ``request_id`` its log lines carry. (The body limit's 413 and the request log's 500
are JSON too.)

The two scoring routes are plain ASGI callables inside Starlette's router (so middleware still
wraps them): no ``Request`` or ``Response`` objects, the body parsed by orjson into columns,
checked and laid out by the version's runtime (``_runtime``), the answer encoded by orjson.
The model runs on the event loop: one row takes microseconds in ONNX Runtime, and a hop to a
thread pool would cost more than that. Starlette rather than FastAPI: its validation layer
would cost more per request than the model does. Requests are counted and timed for
``/metrics`` by the request log (``request_log.RequestLog``), around the whole app.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._csv_body import csv_columns, is_csv
from modelcycle.services.serve._request_formats import (
    BadRequest,
    content_type_problem,
    invocations_body,
    predict_body,
)
from modelcycle.services.serve.log_format import current_request_id
from modelcycle.services.serve.openapi import openapi_document

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Mapping,
        MutableMapping,
        Sequence,
    )

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
_RETRY_AFTER = (b"retry-after", b"1")
SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval while the app serves (see ``_favour_latency``)."""
MAX_HEADER_IDS = 100
"""The most prediction ids ``X-Prediction-Id`` carries (3.3 KB); past it only the body does."""
_MAX_ECHOED_PATH = 200


def build_app(
    holder: ModelHolder,
    metrics: ServingMetrics,
    *,
    log_predictions: PredictionLog | None = None,
    on_shutdown: Sequence[Callable[[], None]] = (),
    openapi_paths: Mapping[str, Any] | None = None,
) -> Starlette:
    """The ASGI app serving ``holder``'s current version.

    ``on_shutdown`` runs when the server stops gracefully (e.g. flushing the prediction log).
    ``openapi_paths`` are OpenAPI path items of routes mounted besides the app's own (such as
    ``POST /feedback``), added to ``/openapi.json``.
    """
    openapi_paths = dict(openapi_paths or {})
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(_: Request) -> Response:
        serving = holder.current
        if serving is None:
            detail = holder.last_error or "the model is still loading"
            return _json({"status": "loading", "detail": detail}, 503, {"Retry-After": "1"})
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
            return _json({"detail": "no model loaded yet"}, 503, {"Retry-After": "1"})
        document = openapi_document(serving.version)
        document["paths"].update(openapi_paths)
        return _json(document)

    def scoring(route: str, parse: Parse) -> ScoringEndpoint:
        return ScoringEndpoint(route, parse, holder, metrics, log_predictions)

    app = Starlette(
        routes=[
            Route("/predict", scoring("/predict", predict_body), methods=["POST"]),
            Route("/invocations", scoring("/invocations", invocations_body), methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/ping", ready, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=_lifespan(on_shutdown),
    )
    # "/predict/" is an unknown route (a JSON 404), not a redirect to an absolute URL built
    # from the Host header, which a proxy in front (https outside, http inside) would break.
    app.router.redirect_slashes = False
    metrics.routes.update(route.path for route in app.routes if hasattr(route, "path"))
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, a method the route does not take) as JSON."""
    from starlette.exceptions import HTTPException

    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    method = request.method
    path = request.url.path
    if len(path) > _MAX_ECHOED_PATH:
        path = path[:_MAX_ECHOED_PATH] + "..."
    if status == 404:
        detail = f"no route {method} {path}; this server answers {_listing(request.app.routes)}"
    elif status == 405:  # Starlette's Allow lists a set, in no set order: sorted here
        allowed = ", ".join(sorted(m.strip() for m in (headers or {}).get("Allow", "").split(",")))
        headers = {**(headers or {}), "Allow": allowed}
        detail = f"{path} does not take {method}; it takes {allowed}"
    else:
        detail = str(getattr(exc, "detail", "")) or f"HTTP {status}"
    return _json({"detail": detail}, status, dict(headers) if headers else None)


async def _server_error(_: Request, __: Exception) -> Response:
    """A failure of a Starlette route as JSON (the request log logs it with its traceback)."""
    return _json(
        {
            "detail": "the server failed on this request; see its log",
            "request_id": current_request_id.get(),
        },
        500,
    )


def _listing(routes: Sequence[Any]) -> str:
    """``POST /predict, GET /health, ...``: each route with its methods (HEAD left implied)."""
    named = []
    for route in routes:
        methods = sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})
        path = getattr(route, "path", None)
        if path is not None:
            named.append(f"{'|'.join(methods) or 'ANY'} {path}")
    return ", ".join(named)


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
        """Read the body, answer it, send the answer (the request log counts and times it)."""
        start = time.perf_counter()
        in_flight = self._metrics.in_flight
        in_flight.inc()
        try:
            body = await _read_body(receive)
            if body is None:  # the client went away before sending the whole body
                return
            status, payload, headers = self._answer(body, start, scope)
            headers.append((b"content-length", str(len(payload)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        finally:
            in_flight.dec()

    def _answer(
        self, body: bytes, start: float, scope: Scope
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        serving = self._holder.current
        if serving is None:
            status, payload, headers = _error(
                503, "the model is still loading; retry when /ready says so"
            )
            headers.append(_RETRY_AFTER)
            return status, payload, headers
        runtime = serving.runtime
        try:
            try:
                columns = self._parse(orjson.loads(body), runtime.input_names)
            except (orjson.JSONDecodeError, BadRequest):
                if not is_csv(scope["headers"]):
                    raise
                columns = csv_columns(body, runtime.signature)
            prediction = runtime.predict(columns)
        except orjson.JSONDecodeError as exc:
            return _not_a_request(scope, f"the body is not JSON: {exc}")
        except BadRequest as exc:
            return _not_a_request(scope, exc.message)
        except InvalidInput as exc:
            return _error(422, exc.message)
        except OverflowError as exc:  # numpy refusing an integer past 64 bits
            return _error(422, f"a number is out of the range the model's inputs hold: {exc}")
        except Exception:
            log.exception("prediction failed on %s", self._route)
            failed = {
                "detail": "the model failed on this input; see the server log",
                "request_id": current_request_id.get(),
            }
            return 500, orjson.dumps(failed), [_JSON_TYPE]
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
            (b"x-model-version", version.ref.encode()),
            (b"x-prediction-count", b"1" if len(ids) == 1 else str(len(ids)).encode()),
        ]
        if len(ids) <= MAX_HEADER_IDS:
            headers.append((b"x-prediction-id", ",".join(ids).encode()))
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


def _not_a_request(scope: Scope, detail: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """A 415 if the body is labelled as another format than JSON, else a 400 saying why.

    The label is only read here, once the body failed: a JSON body is read whatever it says.
    """
    refused = content_type_problem(scope["headers"])
    return _error(400, detail) if refused is None else _error(415, refused)


def _error(status: int, detail: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return status, orjson.dumps({"detail": detail}), [_JSON_TYPE]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    body = orjson.dumps(data, option=_JSON_OPTIONS)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
