"""``POST /feedback``: ground truth over HTTP, as a Starlette route to mount on an app.

The body is one label, ``{"prediction_id": "...", "label": ...}``, or many,
``{"items": [{"prediction_id": "...", "label": ...}, ...]}``. Answers, each a JSON object:

- 200: every label was stored; the body holds the counts (``FeedbackSummary.to_dict()``);
- 207: some were stored, others were not (unknown ids or invalid items, counted and sampled);
- 404: no label was stored because no id is a logged prediction (``detail`` names them);
- 400: the body is not JSON; 413: it is larger than ``max_bytes``; 422: it is JSON of the
  wrong shape (``detail`` says what is wrong);
- 503: the store could not be reached.

A caller's mistake is never a 500. The stores are used from a worker thread, so the event
loop is never blocked by the database or the prediction log's segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import ModelCycleError, NotFound
from modelcycle.services.monitor.feedback import SAMPLE_SIZE, record_feedback, record_frame
from modelcycle.services.registry.versions import current_actor

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

MAX_BYTES = 32 * 1024 * 1024
MAX_ITEMS = 100_000


class _Unprocessable(Exception):
    """A JSON body of the wrong shape (422)."""


def feedback_route(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    *,
    path: str = "/feedback",
    actor: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_items: int = MAX_ITEMS,
) -> Route:
    """The ``POST`` route storing feedback into these stores (see the module docstring).

    Args:
        metadata: The store of the prediction log's index and of the feedback.
        artifacts: The store of the prediction log's segments.
        path: Where to mount it.
        actor: Recorded as who sent the labels (default: the serving process's user,
            ``MODELCYCLE_USER`` or the OS user).
        max_bytes: Larger bodies are refused with 413.
        max_items: More items in one body are refused with 422.
    """
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    who = actor or current_actor()

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > max_bytes:
            return _json({"detail": f"the body is over {max_bytes} bytes; send fewer items"}, 413)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return _json({"detail": f"the body is not JSON: {error}"}, 400)
        try:
            if isinstance(payload, dict) and "items" in payload:
                items = _items(payload["items"], max_items)
                return await run_in_threadpool(_many, metadata, artifacts, items, who)
            prediction_id, label = _one(payload)
            return await run_in_threadpool(_single, metadata, artifacts, prediction_id, label, who)
        except _Unprocessable as error:
            return _json({"detail": str(error)}, 422)

    return Route(path, endpoint, methods=["POST"], name="feedback")


def feedback_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 path item of the route, for the serving app's ``/openapi.json``."""
    item = {
        "type": "object",
        "properties": {"prediction_id": {"type": "string"}, "label": {}},
        "required": ["prediction_id", "label"],
    }
    many = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item, "minItems": 1}},
        "required": ["items"],
    }
    error = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    answers = {
        "200": "every label was stored; the body holds the counts",
        "207": "some labels were stored, others were not (unknown ids or invalid items)",
        "400": "the body is not JSON",
        "404": "no label was stored: no id is a logged prediction",
        "413": "the body is too large; send fewer items",
        "422": "the body is JSON of the wrong shape",
        "503": "the store could not be reached",
    }
    return {
        "post": {
            "summary": "The true label of logged predictions (joined by prediction id)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"oneOf": [item, many]}}},
            },
            "responses": {
                code: {
                    "description": text,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object"} if code < "300" else error
                        }
                    },
                }
                for code, text in answers.items()
            },
        }
    }


def _one(payload: object) -> tuple[str, Any]:
    if not isinstance(payload, dict):
        raise _Unprocessable(
            'the body must be {"prediction_id": "...", "label": ...} or {"items": [...]}'
        )
    missing = [key for key in ("prediction_id", "label") if key not in payload]
    if missing:
        raise _Unprocessable(
            f'the body lacks {" and ".join(missing)}; send {{"prediction_id": "...", "label": ...}}'
        )
    prediction_id = payload["prediction_id"]
    if not isinstance(prediction_id, str):
        raise _Unprocessable(f"prediction_id {prediction_id!r} must be a string")
    return prediction_id, payload["label"]


def _items(items: object, max_items: int) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise _Unprocessable("items must be a non-empty list of {prediction_id, label} objects")
    if len(items) > max_items:
        raise _Unprocessable(f"{len(items)} items in one body; send at most {max_items}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Unprocessable(f"items[{index}] is not an object with prediction_id and label")
    return items


def _single(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    prediction_id: str,
    label: Any,
    actor: str,
) -> Response:
    try:
        stored = record_feedback(
            metadata, artifacts, prediction_id, label, actor=actor, source="http"
        )
    except NotFound as error:
        return _json({"code": error.code, "detail": error.message}, 404)
    except ModelCycleError as error:
        return _error(error)
    counts = {
        "received": 1,
        "recorded": 1,
        "relabelled": int(stored.revision > 1),
        "unknown": 0,
        "unknown_ids": [],
        "invalid": 0,
        "invalid_rows": [],
        "duplicates": 0,
    }
    return _json(counts, 200)


def _many(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    items: list[dict[str, Any]],
    actor: str,
) -> Response:
    import polars as pl

    ids = [item.get("prediction_id") for item in items]
    labels = [item.get("label") for item in items]
    frame = pl.DataFrame(
        {
            "prediction_id": [i if isinstance(i, str) else repr(i) for i in ids],
            # JSON text per label, null where absent (the JSON was parsed item by item anyway).
            "label": [None if label is None else orjson.dumps(label).decode() for label in labels],
        },
        schema={"prediction_id": pl.String, "label": pl.String},
    )
    try:
        summary = record_frame(
            metadata, artifacts, frame, labels_are_json=True, actor=actor, source="http"
        )
    except ModelCycleError as error:
        return _error(error)
    body = summary.to_dict()
    if summary.recorded and (summary.unknown or summary.invalid):
        return _json(body, 207)
    if summary.recorded:
        return _json(body, 200)
    if summary.unknown:
        shown = ", ".join(summary.unknown_ids[:SAMPLE_SIZE])
        body["detail"] = f"no logged prediction has the id(s) {shown}; nothing was stored"
        body["code"] = NotFound.code
        return _json(body, 404)
    body["detail"] = f"no item is valid; nothing was stored ({'; '.join(summary.invalid_rows)})"
    return _json(body, 422)


def _error(error: ModelCycleError) -> Response:
    status = 422 if error.http_status == 400 else error.http_status
    return _json(error.to_dict(), status)


def _json(body: dict[str, Any], status: int) -> Response:
    from starlette.responses import Response

    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
