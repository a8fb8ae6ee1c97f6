"""The real-time endpoint: a Starlette app serving one model reference.

Routes: ``POST /predict`` and ``POST /invocations`` (MLflow's scoring formats), ``GET /health``
(the process answers), ``GET /ready`` (a version is loaded), ``GET /metrics`` (Prometheus) and
``GET /openapi.json`` (with the model's real input schema).

Every prediction gets an id, returned in the body (``ids``) and the ``X-Prediction-Id`` header,
and is handed to ``log`` (the prediction log's bounded queue) after the answer is computed; the
log never blocks or fails a request. A malformed body is a 400, input that does not match the
signature a 422, each with a ``detail``; only a fault of the server is a 500.

Starlette rather than FastAPI: the scoring route is a few lines of parsing and one model call,
and FastAPI's validation layer would cost more per request than the model does.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import InvalidInput, ModelCycleError
from modelcycle.core.ids import new_id
from modelcycle.services.serve._request_formats import (
    BadRequest,
    invocations_body,
    predict_body,
)
from modelcycle.services.serve.openapi import openapi_document

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from modelcycle.services.serve.metrics import ServingMetrics
    from modelcycle.services.serve.model_holder import ModelHolder, Serving

    PredictionLog = Callable[
        [Sequence[str], int, str, float, dict[str, list[Any]], list[dict[str, Any]]], None
    ]

log = logging.getLogger("modelcycle.serve")


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

    def scoring(route: str, parse: Callable[[Any, Sequence[str]], dict[str, list[Any]]]) -> Any:
        async def endpoint(request: Request) -> Response:
            return await _measured(
                metrics,
                route,
                lambda: _score(request, holder, metrics, parse, log_predictions, route),
            )

        return endpoint

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(_: Request) -> Response:
        serving = holder.current
        if serving is None:
            return _json({"status": "loading", "detail": holder.last_error}, 503)
        return _json({"status": "ready", "model": serving.version.ref})

    async def prometheus(_: Request) -> Response:
        from starlette.responses import Response

        body, media_type = metrics.render()
        return Response(body, media_type=media_type)

    async def openapi(_: Request) -> Response:
        serving = holder.current
        if serving is None:
            return _json({"detail": "no model loaded yet"}, 503)
        return _json(openapi_document(serving.version))

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
        try:
            yield
        finally:
            for step in on_shutdown:
                step()

    return lifespan


async def _measured(
    metrics: ServingMetrics, route: str, handle: Callable[[], Awaitable[Response]]
) -> Response:
    start = time.perf_counter()
    metrics.in_flight.inc()
    try:
        response = await handle()
    finally:
        metrics.in_flight.dec()
    metrics.latency.labels(route).observe(time.perf_counter() - start)
    metrics.requests.labels(route, str(response.status_code)).inc()
    return response


async def _score(
    request: Request,
    holder: ModelHolder,
    metrics: ServingMetrics,
    parse: Callable[[Any, Sequence[str]], dict[str, list[Any]]],
    log_predictions: PredictionLog | None,
    route: str,
) -> Response:
    start = time.perf_counter()
    serving = holder.current
    if serving is None:
        return _json({"detail": "the model is still loading; retry when /ready says so"}, 503)
    try:
        body = orjson.loads(await request.body())
        columns = parse(body, serving.model.signature.input_names)
        outputs, answer, labels = _predict(serving, columns)
    except (BadRequest, orjson.JSONDecodeError) as exc:
        detail = exc.message if isinstance(exc, ModelCycleError) else f"the body is not JSON: {exc}"
        return _json({"detail": detail}, 400)
    except InvalidInput as exc:
        return _json({"detail": exc.message}, 422)
    except Exception:
        log.exception("prediction failed on %s", route)
        return _json({"detail": "the model failed on this input; see the server log"}, 500)
    rows = len(outputs)
    ids = [new_id() for _ in range(rows)]
    latency_ms = (time.perf_counter() - start) * 1000
    version = serving.version
    answer["ids"] = ids
    answer["model"] = version.ref
    metrics.count_outputs(str(version.version), labels, answer["predictions"])
    if log_predictions is not None:
        log_predictions(ids, time.time_ns() // 1_000_000, version.id, latency_ms, columns, outputs)
    headers = {"X-Prediction-Id": ",".join(ids), "X-Model-Version": version.ref}
    return _json(answer, 200, headers)


def _predict(
    serving: Serving, columns: dict[str, list[Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any] | None]:
    """Per-row outputs (for the log), the response body, and the predicted labels if any."""
    import pandas as pd

    model = serving.model
    frame = pd.DataFrame(columns)
    if model.has_predict_proba and model.classes is not None:
        proba = model.predict_proba(frame)
        classes = list(model.classes)
        labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
        rows = proba.tolist()
        outputs = [
            {"prediction": label, **{f"proba_{c}": p for c, p in zip(classes, row, strict=True)}}
            for label, row in zip(labels, rows, strict=True)
        ]
        answer = {"predictions": labels, "probabilities": rows, "classes": classes}
        return outputs, answer, labels
    predictions = model.predict(frame).tolist()
    return [{"prediction": p} for p in predictions], {"predictions": predictions}, None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
