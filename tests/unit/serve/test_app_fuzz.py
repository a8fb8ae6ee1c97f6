"""No body a caller sends makes the scoring routes answer 5xx: they answer 200 or a JSON 4xx.

The served model takes a string, an integer, a float and a boolean column, and is served both
from its ONNX form and as the Python model. Bodies are a list of nasty payloads plus a few
hundred generated ones (Hypothesis): records, lists, MLflow's formats, with values of every
JSON type, huge and out-of-range numbers, empty and nested containers. The app is driven as
ASGI, wrapped as a server runs it (``wrap_app``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tests.unit.serve.apps import call, model_app

import modelcycle as mc
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.services.serve.request_log import ASGIApp

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

GOOD: dict[str, Any] = {"city": "paris", "age": 30, "spend": 40.5, "vip": True}
NASTY: list[bytes] = [
    b"",
    b" ",
    b"\xef\xbb\xbf{}",  # a byte order mark
    b"\xff\xfe\x00{",
    b"\x00",
    b"{",
    b'{"city": "paris"',
    b"[" * 1100 + b"]" * 1100,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"NaN",
    b"Infinity",
    b'{"city": "paris", "age": 30, "spend": NaN, "vip": true}',
    b'{"city": "paris", "age": 30, "spend": -Infinity, "vip": true}',
    b'{"city": "paris", "age": 30, "spend": 1e999, "vip": true}',
    b'{"city": "paris", "age": ' + b"9" * 5000 + b', "spend": 1, "vip": true}',
    b'{"city": "paris", "age": 9223372036854775808, "spend": 1, "vip": true}',
    b'{"city": "paris", "age": -9223372036854775809, "spend": 1, "vip": true}',
    b'{"city": "paris", "age": 18446744073709551615, "spend": 1, "vip": true}',
    b'{"city": "paris", "age": 30, "spend": 1e308, "vip": true}',
    b'{"city": "paris", "age": 30, "spend": 5e-324, "vip": true}',
    b'{"city": "\\ud800", "age": 30, "spend": 1, "vip": true}',  # a lone surrogate
    b'{"city": "paris", "city": 1, "age": 30, "spend": 1, "vip": true}',
    b'{"city": "\\u0000", "age": 30, "spend": 1, "vip": true}',
    b'{"city": ["paris"], "age": [30], "spend": [1], "vip": [true]}',
    b'{"city": {}, "age": {}, "spend": {}, "vip": {}}',
    b"null",
    b"true",
    b"0",
    b'"paris"',
    b"[]",
    b"[[]]",
    b"[{}]",
    b"[null]",
    b"[1, {}]",
    b'{"records": null}',
    b'{"records": [[1, 2, 3, 4]]}',
    b'{"columns": {"city": "paris"}}',
    b'{"columns": {"city": ["a"], "age": [1, 2]}}',
    b'{"columns": {"": []}}',
    b'{"dataframe_split": {"columns": null, "data": [["paris", 30, 1.0, true]]}}',
    b'{"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}}',
    b'{"dataframe_split": {"data": [["paris", 30, 1.0]]}}',
    b'{"dataframe_split": {"data": [[]]}}',
    b'{"dataframe_records": {}}',
    b'{"instances": [["paris", 30, 1.0, true], ["nice"]]}',
    b'{"inputs": {"city": ["paris"], "age": [30], "spend": [1.0], "vip": [true], "x": [1]}}',
    b'{"inputs": "paris"}',
    b'{"inputs": [], "instances": []}',
]


def _call(
    app: ASGIApp, path: str, body: bytes, content_type: bytes = b"application/json"
) -> tuple[int, dict[bytes, bytes], bytes]:
    return call(app, "POST", path, body, content_type)


def _check(app: ASGIApp, body: bytes, content_type: bytes = b"application/json") -> None:
    for path in ("/predict", "/invocations"):
        status, headers, answer = _call(app, path, body, content_type)
        assert status in (200, 400, 422), (path, body[:300], status, answer[:300])
        assert headers[b"content-type"] == b"application/json"
        decoded = json.loads(answer)
        if status == 200:
            count = len(decoded["predictions"])
            assert len(decoded["ids"]) == count
            assert headers[b"x-prediction-count"] == str(count).encode()
        else:
            assert isinstance(decoded["detail"], str)
            assert decoded["detail"]


@pytest.fixture(scope="module", params=["onnx", "python"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    mc.configure(str(tmp_path_factory.mktemp("store")))
    mc.set_project("churn")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon", "nice"], 200).astype(object),
            "age": rng.integers(18, 80, 200),
            "spend": rng.normal(50, 10, 200),
            "vip": rng.choice([True, False], 200),
        }
    )
    target = ((frame["city"] == "paris") ^ (frame["spend"] > 50)).astype(int)
    prep = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("numbers", StandardScaler(), ["age", "spend", "vip"]),
        ]
    )
    model = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(frame, target)
    try:
        with mc.start_run() as run:
            mc.log_model(model, input_example=frame.head(20))
        version = mc.models.register(run, "churn")
        onnx = request.param == "onnx"
        if onnx:
            assert mc.models.export(version.ref, format="onnx").parity.passed
        app, holder = model_app("churn", version.ref, prefer_onnx=onnx, access=False)
        assert holder.current is not None
        assert holder.current.runtime.name == request.param
        yield app
    finally:
        session.configure()


@pytest.mark.parametrize("body", NASTY, ids=range(len(NASTY)))
def test_nasty_bodies_are_answered_without_a_5xx(app: ASGIApp, body: bytes) -> None:
    _check(app, body)


def test_a_good_body_still_predicts(app: ASGIApp) -> None:
    status, headers, answer = _call(app, "/predict", json.dumps(GOOD).encode())
    assert status == 200
    assert json.loads(answer)["ids"] == headers[b"x-prediction-id"].decode().split(",")


def test_an_integer_past_64_bits_is_a_422(app: ASGIApp) -> None:
    body = json.dumps([GOOD, {**GOOD, "age": 2**63}]).encode()
    status, _, answer = _call(app, "/predict", body)
    if status != 200:  # the Python model reads it as a float through pandas
        assert status == 422
        assert "out of the range" in json.loads(answer)["detail"]


def test_a_float_past_the_onnx_forms_float32_range_is_a_422(
    app: ASGIApp, request: pytest.FixtureRequest
) -> None:
    body = json.dumps([GOOD, {**GOOD, "spend": -1e308}]).encode()
    status, _, answer = _call(app, "/predict", body)
    if request.node.callspec.params["app"] == "python":  # float64, where 1e308 is a number
        assert status == 200
        return
    assert status == 422
    assert "column 'spend': a value is beyond the float32 range" in json.loads(answer)["detail"]


_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -1e308, 2**63, -(2**63) - 1, 2**64, 10**30])
    | st.text(max_size=8)
)
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_VALUE = {
    "city": st.sampled_from(["paris", "lyon", "mars", ""]) | _JSON,
    "age": st.integers(-(2**70), 2**70) | _JSON,
    "spend": st.floats(allow_nan=False, allow_infinity=False) | _JSON,
    "vip": st.booleans() | _JSON,
}
_RECORD = st.fixed_dictionaries({}, optional={**_VALUE, "extra": _JSON}).map(
    lambda record: record or dict(GOOD)
)
_BODY = st.one_of(
    _RECORD,
    st.lists(_RECORD, min_size=1, max_size=4),
    st.builds(lambda rows: {"records": rows}, st.lists(_RECORD, max_size=3)),
    st.builds(lambda r: {"columns": {k: [v] for k, v in r.items()}}, _RECORD),
    st.builds(lambda rows: {"dataframe_records": rows}, st.lists(_RECORD, max_size=3)),
    st.builds(
        lambda r: {"dataframe_split": {"columns": list(r), "data": [list(r.values())]}}, _RECORD
    ),
    st.builds(lambda rows: {"instances": [list(r.values()) for r in rows]}, st.lists(_RECORD)),
    st.builds(lambda r: {"inputs": r}, _JSON),
    _JSON,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_BODY)
def test_generated_bodies_are_answered_without_a_5xx(app: ASGIApp, body: Any) -> None:
    _check(app, json.dumps(body).encode())


_CSV_FIELD = st.one_of(
    st.sampled_from(["paris", "", "true", "1e308", "-1e309", "9" * 40, "nan", "inf", '"a,b"']),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.text(max_size=6),
)
_CSV_NAMES = st.lists(
    st.sampled_from([*GOOD, "extra", "", '"age"']), min_size=1, max_size=6, unique=True
)


@st.composite
def _csv_bodies(draw: st.DrawFn) -> bytes:
    names = draw(_CSV_NAMES)
    rows = draw(
        st.lists(st.lists(_CSV_FIELD, min_size=len(names), max_size=len(names)), max_size=3)
    )
    if draw(st.booleans()) and rows:  # a ragged row
        rows[-1] = rows[-1][:-1]
    lines = [",".join(names), *(",".join(row) for row in rows)]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_csv_bodies())
def test_generated_csv_bodies_are_answered_without_a_5xx(app: ASGIApp, body: bytes) -> None:
    _check(app, body, b"text/csv")


def test_a_good_csv_body_predicts(app: ASGIApp) -> None:
    body = b"vip,spend,age,city\ntrue,40.5,30,paris\nfalse,,41,nice\n"
    status, _, answer = _call(app, "/invocations", body, b"text/csv")
    assert status == 422  # spend is not nullable: the empty field is a missing value
    assert "spend" in json.loads(answer)["detail"]
    status, _, answer = _call(app, "/invocations", body.replace(b",,", b",1.5,"), b"text/csv")
    assert status == 200, answer
    assert len(json.loads(answer)["predictions"]) == 2
