"""The OpenAPI document of a served version, with the model's real input columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.core.entities.model import ColumnSpec, ModelVersion

_JSON_TYPES = {
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "category": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _column(column: ColumnSpec) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_JSON_TYPES.get(column.dtype, {}))
    if column.nullable:
        schema["nullable"] = True
    return schema


def openapi_document(version: ModelVersion) -> dict[str, Any]:
    """OpenAPI 3.1 for ``/predict`` and ``/invocations`` of ``version``."""
    inputs = version.model.signature.inputs
    record = {
        "type": "object",
        "properties": {c.name: _column(c) for c in inputs},
        "required": [c.name for c in inputs if not c.nullable],
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "properties": {c.name: {"type": "array", "items": _column(c)} for c in inputs},
    }
    predict_body = {
        "oneOf": [
            record,
            {"type": "array", "items": record},
            {"type": "object", "properties": {"records": {"type": "array", "items": record}}},
            {"type": "object", "properties": {"columns": columns}},
        ]
    }
    invocations_body = {
        "type": "object",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}},
                },
            },
            "dataframe_records": {"type": "array", "items": record},
            "instances": {"type": "array"},
            "inputs": {},
        },
    }
    answer = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "probabilities": {"type": "array", "items": {"type": "array"}},
            "classes": {"type": "array"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "model": {"type": "string"},
        },
    }
    error = {"type": "object", "properties": {"detail": {"type": "string"}}}

    def scoring(body: dict[str, Any], summary: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                },
                "responses": {
                    "200": {"description": "predictions", "content": _json(answer)},
                    "400": {"description": "the body is not a request", "content": _json(error)},
                    "422": {"description": "input not matching the model", "content": _json(error)},
                },
            }
        }

    return {
        "openapi": "3.1.0",
        "info": {"title": f"{version.name} ({version.ref})", "version": str(version.version)},
        "paths": {
            "/predict": scoring(predict_body, f"Predict with {version.ref}"),
            "/invocations": scoring(invocations_body, "MLflow-compatible scoring"),
            "/health": {"get": {"responses": {"200": {"description": "the process answers"}}}},
            "/ready": {"get": {"responses": {"200": {"description": "a model is loaded"}}}},
            "/metrics": {"get": {"responses": {"200": {"description": "Prometheus metrics"}}}},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
