"""CSV bodies (``Content-Type: text/csv``), as ``mlflow models serve`` takes them: a header line
naming the columns, then rows, each column read as the signature's type for it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from tests.unit.serve.apps import SHOP_ROW, call

if TYPE_CHECKING:
    from modelcycle.services.serve.request_log import ASGIApp

ROWS = [SHOP_ROW, {**SHOP_ROW, "city": "lyon", "spend": None, "vip": False, "age": 61}]
CSV = b"city,plan,age,spend,vip\nparis,pro,30,12.5,true\nlyon,pro,61,,false\n"


def _post(
    app: ASGIApp, path: str, body: bytes, content_type: bytes = b"text/csv"
) -> tuple[int, dict[bytes, bytes], Any]:
    status, headers, answer = call(app, "POST", path, body, content_type)
    return status, headers, json.loads(answer)


@pytest.mark.parametrize("path", ["/predict", "/invocations"])
@pytest.mark.parametrize("content_type", [b"text/csv", b"text/csv; charset=utf-8", b"Text/CSV"])
def test_csv_rows_get_the_answer_of_the_same_json_records(
    shop_app: ASGIApp, path: str, content_type: bytes
) -> None:
    status, headers, answer = _post(shop_app, path, CSV, content_type)
    assert status == 200, answer
    _, _, expected = _post(shop_app, "/predict", json.dumps(ROWS).encode(), b"application/json")
    assert answer["predictions"] == expected["predictions"]
    assert answer["probabilities"] == expected["probabilities"]
    assert len(answer["ids"]) == 2
    assert headers[b"x-prediction-count"] == b"2"


def test_the_columns_may_come_in_any_order(shop_app: ASGIApp) -> None:
    shuffled = b"vip,spend,age,plan,city\ntrue,12.5,30,pro,paris\n"
    status, _, answer = _post(shop_app, "/predict", shuffled)
    assert status == 200, answer
    _, _, expected = _post(shop_app, "/predict", json.dumps(SHOP_ROW).encode(), b"application/json")
    assert answer["probabilities"] == expected["probabilities"]


@pytest.mark.parametrize(
    ("body", "status", "fragments"),
    [
        (b"city,plan,age,spend,vip\nparis,pro,thirty,12.5,true\n", 422, ["'age'", "thirty"]),
        (b"city,plan,age,spend,vip\nparis,pro,30,lots,true\n", 422, ["'spend'", "lots"]),
        (b"city,plan,age,spend,vip\nparis,pro,30,1.0,maybe\n", 422, ["'vip'", "maybe"]),
        (b"city,plan,age,spend\nparis,pro,30,1.0\n", 422, ["vip"]),  # a missing column
        (b"city,plan,age,spend,vip,colour\nparis,pro,30,1,true,red\n", 422, ["colour"]),
        (b"city,plan,age,spend,vip\n", 400, ["no rows"]),
        (b"city,plan,age,spend,vip\nparis,pro,30\n", 400, ["readable CSV"]),
        (b"", 400, ["readable CSV"]),
    ],
)
def test_a_bad_csv_body_is_a_4xx_naming_what_is_wrong(
    shop_app: ASGIApp, body: bytes, status: int, fragments: list[str]
) -> None:
    for path in ("/predict", "/invocations"):
        got, headers, answer = _post(shop_app, path, body)
        assert got == status, answer
        assert headers[b"content-type"] == b"application/json"
        for fragment in fragments:
            assert fragment in answer["detail"]


def test_a_json_body_labelled_csv_is_still_read_as_json(shop_app: ASGIApp) -> None:
    status, _, answer = _post(shop_app, "/predict", json.dumps(SHOP_ROW).encode())
    assert status == 200, answer


def test_another_format_is_still_a_415_naming_both_taken(shop_app: ASGIApp) -> None:
    status, _, answer = _post(shop_app, "/predict", CSV, b"application/octet-stream")
    assert status == 415
    assert "application/json" in answer["detail"]
    assert "text/csv" in answer["detail"]
