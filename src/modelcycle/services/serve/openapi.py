"""The OpenAPI 3.1 document of a served version, with the model's real input columns.

The request schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses) and say what the server
takes: each column's JSON type as the signature check reads it (an ``integer`` column also
takes whole floats, a ``category`` column strings, integers or booleans), ``null`` only in a
nullable column, every column required (a nullable one too: its value may be ``null``), no
other column, and non-empty lists.
Every shape the routes take is listed, each error answer with its ``{"detail": ...}`` body,
and the headers of an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.core.entities.model import ColumnSpec, ModelVersion

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "category": {"type": ["string", "integer", "boolean"]},
    "datetime": {"type": "string", "format": "date-time"},
}
_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_ERRORS = {
    "400": "the body is not JSON, or not one of the shapes this route takes",
    "413": "the body is larger than the server takes (--max-body-mb)",
    "415": "the body is neither JSON nor CSV (Content-Type names another format)",
    "422": "the input does not match the model's signature",
    "503": "the model is still loading; retry when /ready answers 200",
}
_ANSWER_HEADERS = {
    "X-Prediction-Count": "How many predictions the answer holds.",
    "X-Prediction-Id": "The prediction ids, comma-separated; only for at most 100 rows.",
    "X-Model-Version": "The version that answered, e.g. churn@3.",
    "X-Request-Id": "The caller's X-Request-Id if sane, else a new id.",
}


def _column(column: ColumnSpec) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_JSON_TYPES.get(column.dtype, {}))
    if column.nullable and "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*kinds, "null"]
    return schema


def _non_empty(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1}


def _request_schemas(inputs: Sequence[ColumnSpec]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body schemas of ``/predict`` and ``/invocations``."""
    names = [c.name for c in inputs]
    record = {
        "type": "object",
        "properties": {c.name: _column(c) for c in inputs},
        "required": names,
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "properties": {c.name: _non_empty(_column(c)) for c in inputs},
        "required": names,
        "additionalProperties": False,
    }
    row = {
        "type": "array",
        "description": f"values in signature order: {', '.join(names)}",
        "prefixItems": [_column(c) for c in inputs],
        "minItems": len(inputs),
        "maxItems": len(inputs),
    }
    records = _non_empty(record)
    rows = _non_empty(row)
    predict = {
        "oneOf": [record, records, rows, _only("records", records), _only("columns", columns)]
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": names}},
            "data": {
                "description": "rows of values in the order of columns (default: signature order)",
                **_non_empty({"type": "array"}),
            },
        },
        "required": ["data"],
    }
    # MLflow's formats; other keys (MLflow's "params") are ignored
    invocations = {
        "oneOf": [
            _only("dataframe_split", split, strict=False),
            _only("dataframe_records", records, strict=False),
            _only("instances", {"oneOf": [records, rows, columns]}, strict=False),
            _only("inputs", {"oneOf": [records, rows, columns]}, strict=False),
        ]
    }
    return predict, invocations


def _only(key: str, schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {key: schema},
        "required": [key],
    }
    if strict:
        wrapped["additionalProperties"] = False
    return wrapped


def openapi_document(version: ModelVersion) -> dict[str, Any]:
    """OpenAPI 3.1 for the routes serving ``version``."""
    predict_body, invocations_body = _request_schemas(version.model.signature.inputs)
    names = ",".join(column.name for column in version.model.signature.inputs)
    csv_text = f"a header line naming the columns ({names[:2000]}), then one line per row"
    answer = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "probabilities": {"type": "array", "items": {"type": "array"}},
            "classes": {"type": "array"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "model": {"type": "string"},
        },
        "required": ["predictions", "ids", "model"],
    }
    headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in _ANSWER_HEADERS.items()
    }

    def scoring(body: dict[str, Any], summary: str) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": {"description": "predictions", "headers": headers, "content": _json(answer)}
        }
        responses.update(
            {
                code: {"description": text, "content": _json(_ERROR)}
                for code, text in _ERRORS.items()
            }
        )
        return {
            "post": {
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": body},
                        "text/csv": {"schema": {"type": "string", "description": csv_text}},
                    },
                },
                "responses": responses,
            }
        }

    ready = {
        "get": {
            "responses": {
                "200": {"description": "a version is loaded and answers"},
                "503": {"description": "the model is still loading", "content": _json(_ERROR)},
            }
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{version.name} ({version.ref})", "version": str(version.version)},
        "paths": {
            "/predict": scoring(predict_body, f"Predict with {version.ref}"),
            "/invocations": scoring(invocations_body, "MLflow-compatible scoring"),
            "/health": {"get": {"responses": {"200": {"description": "the process answers"}}}},
            "/ready": ready,
            "/ping": ready,
            "/metrics": {"get": {"responses": {"200": {"description": "Prometheus metrics"}}}},
            "/openapi.json": {"get": {"responses": {"200": {"description": "this document"}}}},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
