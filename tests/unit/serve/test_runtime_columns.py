"""Request columns checked without pandas, by the pandas validator's rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature
from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._columns import ColumnPlan, is_numeric, supports


def _plan(*columns: tuple[str, str, bool]) -> ColumnPlan:
    return ColumnPlan(Signature(tuple(ColumnSpec(n, d, nullable) for n, d, nullable in columns)))


def test_a_float_signature_becomes_one_matrix_in_signature_order() -> None:
    plan = _plan(("b", "float", False), ("a", "float", False))
    matrix = plan.matrix({"a": [1, 2.5], "b": [3.0, 4]}, np.float32)
    assert matrix.dtype == np.float32
    assert matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, [[3.0, 1.0], [4.0, 2.5]])


def test_integer_boolean_and_nullable_columns() -> None:
    plan = _plan(("n", "integer", False), ("m", "integer", True), ("flag", "boolean", True))
    n, m, flag = plan.arrays({"n": [1, 2.0], "m": [3, None], "flag": [True, None]})
    assert n.dtype == np.int64
    np.testing.assert_array_equal(n, [1, 2])
    np.testing.assert_array_equal(m, [3.0, np.nan])  # missing integers become float, as in pandas
    np.testing.assert_array_equal(flag, [1.0, np.nan])
    matrix = plan.matrix({"n": [1, 2], "m": [3, None], "flag": [False, True]}, np.float64)
    np.testing.assert_array_equal(matrix, [[1, 3, 0], [2, np.nan, 1]])


def test_text_and_categories_are_object_arrays_of_text() -> None:
    plan = _plan(("city", "string", True), ("grade", "category", False))
    city, grade = plan.arrays({"city": ["paris", None], "grade": [1, 2]})
    assert city.dtype == object
    assert city.tolist() == ["paris", ""]
    assert grade.tolist() == ["1", "2"]
    assert plan.arrays({"city": ["x"], "grade": [True]})[1].tolist() == ["True"]


@pytest.mark.parametrize(
    ("columns", "problems"),
    [
        ({"a": [1.0]}, ["column 'b': missing"]),
        (
            {"a": [1.0], "b": [1], "c": [2]},
            ["column 'c': unexpected (not in the signature)"],
        ),
        ({"a": ["x"], "b": [1]}, ["column 'a': expected float, got string, e.g. 'x'"]),
        ({"a": [1.0], "b": [1.5]}, ["column 'b': expected integer, got float"]),
        ({"a": [1.0, None], "b": [1, 2]}, ["column 'a': 1 missing value but the column"]),
        (
            {"a": [1.0, "y"], "b": [1, None]},
            [
                "column 'a': expected float, got mixed values (float, string), e.g. 'y'",
                "column 'b': 1 missing value but the column is not nullable",
            ],
        ),
    ],
    ids=["missing", "unexpected", "text", "fraction", "null", "two"],
)
def test_every_problem_is_listed_by_column(
    columns: dict[str, list[Any]], problems: list[str]
) -> None:
    plan = _plan(("a", "float", False), ("b", "integer", False))
    count = len(problems)
    title = f"({count} problem{'s' if count > 1 else ''})"
    with pytest.raises(InvalidInput, match=r"does not match the model signature") as caught:
        plan.matrix(columns, np.float64)
    message = caught.value.message
    assert title in message
    assert message.endswith("the model takes: a (float), b (integer)")
    for problem in problems:
        assert problem in message


def test_a_category_refuses_mixed_kinds_and_datetimes_are_not_handled() -> None:
    plan = _plan(("grade", "category", False))
    with pytest.raises(InvalidInput, match=r"'grade': expected category, got mixed values"):
        plan.arrays({"grade": [1, "a"]})
    dated = Signature((ColumnSpec("when", "datetime"),))
    assert not supports(dated)
    with pytest.raises(InvalidInput, match=r"\['when'\] have types"):
        ColumnPlan(dated)
    assert is_numeric(Signature((ColumnSpec("0", "float"),), kind=InputKind.ARRAY))


def test_integer_and_float_columns_take_the_quick_path_and_the_careful_one_alike() -> None:
    plan = _plan(("n", "integer", False), ("x", "float", False))
    quick = plan.matrix({"x": [0.5, 2], "n": [1, 2]}, np.float64)
    careful = plan.matrix({"x": [0.5, 2], "n": [1, 2.0]}, np.float64)  # a whole float
    np.testing.assert_array_equal(quick, [[1, 0.5], [2, 2.0]])
    np.testing.assert_array_equal(careful, quick)
    with pytest.raises(InvalidInput, match=r"'n': expected integer, got float"):
        plan.matrix({"x": [0.5], "n": [1.5]}, np.float64)
