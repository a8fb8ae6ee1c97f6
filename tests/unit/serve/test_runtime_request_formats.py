"""Request bodies turned into columns: every accepted shape, and the 400 for the others."""

from __future__ import annotations

from typing import Any

import pytest

from modelcycle.services.serve._request_formats import BadRequest, invocations_body, predict_body

NAMES = ("a", "b")
EXPECTED = {"a": [1, 3], "b": ["x", "y"]}


@pytest.mark.parametrize(
    "body",
    [
        [{"a": 1, "b": "x"}, {"a": 3, "b": "y"}],
        {"records": [{"b": "x", "a": 1}, {"b": "y", "a": 3}]},
        {"columns": {"a": [1, 3], "b": ["x", "y"]}},
        [[1, "x"], [3, "y"]],
    ],
    ids=["records", "records-key", "columns", "rows"],
)
def test_predict_bodies(body: Any) -> None:
    assert predict_body(body, NAMES) == EXPECTED


def test_one_record_and_one_column() -> None:
    assert predict_body({"a": 1, "b": "x"}, NAMES) == {"a": [1], "b": ["x"]}
    assert predict_body([{"a": 1}, {"a": 2}], ("a",)) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [3, "y"]]}},
        {"dataframe_split": {"data": [[1, "x"], [3, "y"]]}},
        {"dataframe_records": [{"a": 1, "b": "x"}, {"a": 3, "b": "y"}]},
        {"instances": [[1, "x"], [3, "y"]]},
        {"inputs": {"a": [1, 3], "b": ["x", "y"]}},
    ],
    ids=["split", "split-no-columns", "records", "instances", "inputs"],
)
def test_invocations_bodies(body: Any) -> None:
    assert invocations_body(body, NAMES) == EXPECTED


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "non-empty list of records"),
        (
            [{"a": 1, "b": 2}, {"a": 1, "c": 2}],
            r"record 1 has columns \['a', 'c'\], unlike record 0",
        ),
        ([{"a": 1, "b": 2}, {"a": 1}], "record 1 has columns"),
        ([{"a": 1}, [1]], "every record must be a JSON object"),
        ([[1, 2], [1]], r"row 1 has 1 values for 2 columns \(a, b\)"),
        ({"columns": {"a": [1], "b": [1, 2]}}, "all of the same length"),
        ("text", "the body must be a record"),
    ],
)
def test_bad_predict_bodies_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        predict_body(body, NAMES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "must be a JSON object"),
        ({"inputs": 1, "instances": 2}, "exactly one of"),
        ({"dataframe_split": {"columns": "ab", "data": [[1, 2]]}}, "list of column names"),
        ({"dataframe_split": [[1, 2]]}, "dataframe_split needs"),
    ],
)
def test_bad_invocations_bodies_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        invocations_body(body, NAMES)
