"""Signature inference from examples, and input validation against a signature."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature
from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging.signature import infer_signature, validate_input


@pytest.fixture
def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [1, 2, 3],
            "x": [0.5, np.nan, 2.0],
            "ok": [True, False, True],
            "name": ["a", "b", "c"],
            "at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            "grade": pd.Categorical(["lo", "hi", "lo"]),
        }
    )


FRAME_SPECS = (
    ColumnSpec("n", "integer"),
    ColumnSpec("x", "float", nullable=True),
    ColumnSpec("ok", "boolean"),
    ColumnSpec("name", "string"),
    ColumnSpec("at", "datetime"),
    ColumnSpec("grade", "category"),
)


def test_pandas_frame_columns_are_typed_by_family(typed_frame: pd.DataFrame) -> None:
    signature = infer_signature(typed_frame)
    assert signature.kind is InputKind.FRAME
    assert signature.inputs == FRAME_SPECS
    assert signature.outputs == ()


def test_polars_frame_matches_pandas_and_keeps_nullable_integers() -> None:
    frame = pl.DataFrame(
        {
            "n": [1, None, 3],
            "x": [0.5, 1.5, 2.0],
            "name": ["a", "b", None],
            "grade": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "day": pl.Series(["2024-01-01"] * 3).str.to_date(),
        }
    )
    assert infer_signature(frame).inputs == (
        ColumnSpec("n", "integer", nullable=True),
        ColumnSpec("x", "float"),
        ColumnSpec("name", "string", nullable=True),
        ColumnSpec("grade", "category"),
        ColumnSpec("day", "datetime"),
    )


@pytest.mark.parametrize(
    ("example", "dtype"),
    [
        (np.array([[1.0, 2.0], [3.0, 4.0]]), "float"),
        (np.array([[1, 2], [3, 4]]), "integer"),
        ([[1, 2], [3, 4]], "integer"),
        (np.array([[True, False]]), "boolean"),
    ],
)
def test_arrays_give_numbered_columns_of_one_type(example: object, dtype: str) -> None:
    signature = infer_signature(example)
    assert signature.kind is InputKind.ARRAY
    assert signature.inputs == (ColumnSpec("0", dtype), ColumnSpec("1", dtype))


def test_object_arrays_are_typed_per_column_and_nan_makes_nullable() -> None:
    mixed = np.array([[1, "a"], [2, "b"]], dtype=object)
    assert infer_signature(mixed).inputs == (ColumnSpec("0", "integer"), ColumnSpec("1", "string"))
    with_nan = np.array([[1.0, np.nan], [2.0, 3.0]])
    assert [c.nullable for c in infer_signature(with_nan).inputs] == [False, True]


@pytest.mark.parametrize(
    "example",
    [{"a": [1, 2], "b": ["x", "y"]}, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], {"a": 1, "b": "x"}],
    ids=["dict-of-columns", "list-of-rows", "one-row-dict"],
)
def test_named_python_structures_give_frames(example: object) -> None:
    signature = infer_signature(example)
    assert signature.kind is InputKind.FRAME
    assert signature.inputs == (ColumnSpec("a", "integer"), ColumnSpec("b", "string"))


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (pd.DataFrame({"a": []}), "has no rows"),
        (pd.DataFrame({"a": [1, "x"]}, dtype=object), r"no supported type: a \(object\)"),
        (pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s")}), "no supported type: d"),
        (np.zeros((2, 2, 2)), r"must be 2-D.*shape \(2, 2, 2\)"),
        ("text", "cannot read input of type str"),
        ([[1, 2], [3]], "not all the same length"),
        ({"a": [1, 2], "b": [1]}, "do not line up"),
    ],
)
def test_bad_examples_are_refused_with_the_reason(example: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        infer_signature(example)


def test_classifier_outputs_are_prediction_and_one_probability_per_class() -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    model = LogisticRegression().fit(x, ["no", "no", "maybe", "yes", "yes", "maybe"])
    signature = infer_signature(x, model)
    assert signature.outputs == (
        ColumnSpec("prediction", "string"),
        ColumnSpec("proba_maybe", "float"),
        ColumnSpec("proba_no", "float"),
        ColumnSpec("proba_yes", "float"),
    )


def test_regressor_outputs_and_multi_output() -> None:
    x = np.arange(12.0).reshape(6, 2)
    single = LinearRegression().fit(x, x[:, 0] * 2)
    assert infer_signature(x, single).outputs == (ColumnSpec("prediction", "float"),)
    double = LinearRegression().fit(x, x * 2)
    assert [c.name for c in infer_signature(x, double).outputs] == ["prediction_0", "prediction_1"]


def test_an_example_the_model_cannot_take_is_refused() -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    with pytest.raises(InvalidInput, match=r"does not fit the LogisticRegression: predict raised"):
        infer_signature(pd.DataFrame({"b": [1.0]}), model)


# ---- validation -------------------------------------------------------------------------------

SIGNATURE = Signature(inputs=FRAME_SPECS)
ROW: dict[str, Any] = {
    "n": 4,
    "x": 1.5,
    "ok": False,
    "name": "d",
    "at": "2024-05-01",
    "grade": "hi",
}


def test_a_valid_row_dict_is_converted_and_ordered() -> None:
    row = dict(reversed(list(ROW.items())))
    frame = validate_input(row, SIGNATURE)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(SIGNATURE.input_names)
    assert frame["at"].iloc[0] == pd.Timestamp("2024-05-01")
    assert isinstance(frame["grade"].dtype, pd.CategoricalDtype)


def test_every_problem_is_listed_in_one_error() -> None:
    row = {**ROW, "n": "four", "ok": 1, "extra": 0}
    del row["name"]
    with pytest.raises(InvalidInput, match=r"does not match the model signature") as caught:
        validate_input(row, SIGNATURE)
    message = str(caught.value)
    assert "(4 problems)" in message
    assert "column 'name': missing" in message
    assert "column 'extra': unexpected" in message
    assert "column 'n': expected integer, got string, e.g. 'four'" in message
    assert "column 'ok': expected boolean, got integer" in message
    assert "the model takes: n (integer), x (float)" in message


def test_nulls_are_refused_only_in_columns_that_are_not_nullable() -> None:
    rows = [ROW, {**ROW, "x": None}]
    assert len(validate_input(rows, SIGNATURE)) == 2
    with pytest.raises(InvalidInput, match="column 'name': 1 missing value but the column is not"):
        validate_input([ROW, {**ROW, "name": None}], SIGNATURE)


def test_integers_go_into_float_columns_and_whole_floats_into_integer_ones() -> None:
    signature = Signature(inputs=(ColumnSpec("i", "integer"), ColumnSpec("f", "float")))
    frame = validate_input({"i": [1.0, 2.0], "f": [1, 2]}, signature)
    assert isinstance(frame, pd.DataFrame)
    assert frame["i"].dtype == np.int64
    assert frame["f"].dtype == np.float64
    with pytest.raises(InvalidInput, match="column 'i': expected integer, got float"):
        validate_input({"i": [1.5], "f": [1.0]}, signature)


def test_dates_that_do_not_parse_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"not dates, e\.g\. 'soon'"):
        validate_input({**ROW, "at": "soon"}, SIGNATURE)


def test_polars_and_unnamed_rows_are_accepted_for_a_frame_signature() -> None:
    signature = Signature(inputs=(ColumnSpec("a", "float"), ColumnSpec("b", "string")))
    from_polars = validate_input(pl.DataFrame({"b": ["x"], "a": [1.0]}), signature)
    assert isinstance(from_polars, pd.DataFrame)
    assert list(from_polars.columns) == ["a", "b"]
    from_rows = validate_input([[1.0, "x"]], signature)
    assert isinstance(from_rows, pd.DataFrame)
    assert from_rows.iloc[0].tolist() == [1.0, "x"]
    with pytest.raises(InvalidInput, match="3 unnamed columns but the model takes 2: a, b"):
        validate_input([[1.0, "x", 3]], signature)


ARRAY = Signature(inputs=(ColumnSpec("0", "float"), ColumnSpec("1", "float")), kind=InputKind.ARRAY)


def test_array_signatures_take_arrays_and_cast_integers() -> None:
    out = validate_input([[1, 2], [3, 4]], ARRAY)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert validate_input(np.array([5.0, 6.0]), ARRAY).shape == (1, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([[1.0, 2.0, 3.0]], "input has 3 columns but the model takes 2"),
        ([["a", "b"]], "expected an array of float, got string"),
        ([[1.0, np.nan]], "column '1': 1 missing value but the column is not nullable"),
        ({"0": 1.0, "1": 2.0}, "cannot read input of type dict"),
        (np.empty((0, 2)), "input has no rows"),
    ],
)
def test_bad_array_input_is_refused(data: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_input(data, ARRAY)


def test_validated_output_of_a_valid_example_is_the_example(typed_frame: pd.DataFrame) -> None:
    signature = infer_signature(typed_frame)
    assert validate_input(typed_frame, signature) is typed_frame


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("float", "float64"),
        ("integer", "float64"),
        ("datetime", "datetime64"),
        ("boolean", "boolean"),
    ],
)
def test_a_nullable_column_of_only_missing_values_is_typed_not_refused(
    dtype: str, expected: str
) -> None:
    # A one-row request with null: pandas holds the column as objects, which is not text.
    signature = Signature(inputs=(ColumnSpec("x", dtype, nullable=True),))
    frame = validate_input({"x": [None]}, signature)
    assert isinstance(frame, pd.DataFrame)
    assert str(frame["x"].dtype).startswith(expected)
    assert frame["x"].isna().all()  # missing stays missing: never 0, False or ""
    with pytest.raises(InvalidInput, match="1 missing value but the column is not nullable"):
        validate_input({"x": [None]}, Signature(inputs=(ColumnSpec("x", dtype),)))


def test_missing_booleans_stay_missing() -> None:
    signature = Signature(inputs=(ColumnSpec("vip", "boolean", nullable=True),))
    frame = validate_input({"vip": [True, None, False]}, signature)
    assert isinstance(frame, pd.DataFrame)
    assert frame["vip"].tolist()[0] is True
    assert frame["vip"].isna().tolist() == [False, True, False]
