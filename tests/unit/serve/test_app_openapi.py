"""``/openapi.json`` says what the server takes: bodies its schemas accept are answered 200, and
bodies they refuse are answered 4xx, for a model with a column of every JSON-checked type."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema
import openapi_spec_validator
import pytest
from tests.unit.serve.apps import SHOP_ROW, call

if TYPE_CHECKING:
    from modelcycle.services.serve.request_log import ASGIApp

Validator = jsonschema.Draft202012Validator

ROW = SHOP_ROW
NAMES = list(ROW)


def _call(app: ASGIApp, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    status, _, answer = call(app, method, path, body)
    return status, json.loads(answer)


@pytest.fixture(scope="module")
def schemas(shop_app: ASGIApp) -> dict[str, Any]:
    status, document = _call(shop_app, "GET", "/openapi.json")
    assert status == 200
    assert document["openapi"] == "3.1.0"
    openapi_spec_validator.validate(document)  # a valid OpenAPI 3.1 document
    found = {}
    for path in ("/predict", "/invocations"):
        operation = document["paths"][path]["post"]
        assert {"200", "400", "413", "415", "422", "503"} <= set(operation["responses"])
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        Validator.check_schema(schema)
        found[path] = Validator(schema)
    assert {"/ping", "/openapi.json"} <= set(document["paths"])
    return found


def test_the_columns_have_their_json_types(schemas: dict[str, Any]) -> None:
    record = schemas["/predict"].schema["oneOf"][0]
    assert record["properties"] == {
        "city": {"type": "string"},
        "plan": {"type": ["string", "integer", "boolean"]},
        "age": {"type": "integer"},
        "spend": {"type": ["number", "null"]},
        "vip": {"type": "boolean"},
    }
    assert record["required"] == NAMES  # a nullable column too: its value may be null


ACCEPTED = [
    ("/predict", ROW),
    ("/predict", [ROW, {**ROW, "spend": None}]),
    ("/predict", {**ROW, "spend": None}),
    ("/predict", {**ROW, "age": 31.0}),
    ("/predict", [ROW, ROW]),
    ("/predict", [list(ROW.values())]),
    ("/predict", {"records": [ROW]}),
    ("/predict", {"columns": {k: [v, v] for k, v in ROW.items()}}),
    ("/invocations", {"dataframe_split": {"columns": NAMES, "data": [list(ROW.values())]}}),
    ("/invocations", {"dataframe_split": {"data": [list(ROW.values())]}}),
    ("/invocations", {"dataframe_records": [ROW]}),
    ("/invocations", {"instances": [ROW]}),
    ("/invocations", {"instances": [list(ROW.values())]}),
    ("/invocations", {"inputs": {k: [v] for k, v in ROW.items()}}),
    ("/invocations", {"inputs": [ROW], "params": {}}),
]
REFUSED = [
    ("/predict", {**ROW, "age": "thirty"}),
    ("/predict", {**ROW, "age": 30.5}),
    ("/predict", {**ROW, "vip": 1}),
    ("/predict", {**ROW, "city": None}),
    ("/predict", {k: v for k, v in ROW.items() if k != "age"}),
    ("/predict", {k: v for k, v in ROW.items() if k != "spend"}),  # nullable, still required
    ("/predict", {**ROW, "colour": "red"}),
    ("/predict", []),
    ("/predict", [["paris", "pro"]]),
    ("/predict", {"records": []}),
    ("/predict", {"columns": {k: [] for k in ROW}}),
    ("/predict", "paris"),
    ("/invocations", ROW),
    ("/invocations", {"dataframe_records": [ROW], "instances": [ROW]}),
    ("/invocations", {"dataframe_split": {"columns": NAMES}}),
    ("/invocations", {"dataframe_split": {"columns": ["colour"], "data": [[1]]}}),
    ("/invocations", {"instances": []}),
]


@pytest.mark.parametrize(("path", "body"), ACCEPTED, ids=range(len(ACCEPTED)))
def test_what_the_schema_accepts_is_answered(
    shop_app: ASGIApp, schemas: dict[str, Any], path: str, body: Any
) -> None:
    assert schemas[path].is_valid(body)
    status, answer = _call(shop_app, "POST", path, json.dumps(body).encode())
    assert status == 200, answer


@pytest.mark.parametrize(("path", "body"), REFUSED, ids=range(len(REFUSED)))
def test_what_the_schema_refuses_is_a_4xx(
    shop_app: ASGIApp, schemas: dict[str, Any], path: str, body: Any
) -> None:
    assert not schemas[path].is_valid(body)
    status, answer = _call(shop_app, "POST", path, json.dumps(body).encode())
    assert status in (400, 422), answer
    assert isinstance(answer["detail"], str)
