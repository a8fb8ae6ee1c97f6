"""compute_drift: default tests by kind and size, overrides, inputs, and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift import (
    DriftReport,
    compute_drift,
    default_test,
    get_drift_test,
)


def _frame(rows: int, seed: int, *, shift: float = 0.0, nulls: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    many = rng.normal(shift, 1, rows)
    many[:nulls] = np.nan
    return pl.DataFrame(
        {
            "many": many,
            "four": rng.integers(0, 4, rows).astype(np.float64),
            "two": rng.integers(0, 2, rows).astype(np.float64),
            "city": rng.choice(["a", "b", "c"], rows),
            "flag": rng.random(rows) < 0.3,
        }
    )


def _tests(report: DriftReport) -> dict[str, str | None]:
    return {c.name: c.test for c in report.columns.values()}


@pytest.mark.parametrize(
    ("rows", "nulls", "expected"),
    [
        (1_000, 0, {"many": "ks", "four": "chisquare", "two": "z", "city": "chisquare",
                    "flag": "z"}),
        (1_010, 10, {"many": "ks"}),  # nulls do not count towards the size
        (1_001, 0, {"many": "wasserstein", "four": "jensenshannon", "two": "jensenshannon",
                    "city": "jensenshannon", "flag": "jensenshannon"}),
    ],
)  # fmt: skip
def test_the_default_test_follows_kind_and_size(
    rows: int, nulls: int, expected: dict[str, str]
) -> None:
    report = compute_drift(_frame(rows, 1, nulls=nulls), _frame(500, 2))
    chosen = _tests(report)
    assert {k: chosen[k] for k in expected} == expected
    assert report.column("many").reference_nulls == nulls
    assert report.column("many").reference_rows == rows


def test_default_test_table() -> None:
    numeric, categorical = ColumnKind.NUMERIC, ColumnKind.CATEGORICAL
    assert default_test(numeric, 1000, 6) == "ks"
    assert default_test(numeric, 1000, 5) == "chisquare"
    assert default_test(numeric, 10, 2) == "z"
    assert default_test(numeric, 1001, 5) == "jensenshannon"
    assert default_test(numeric, 1001, 6) == "wasserstein"
    assert default_test(categorical, 1000, 3) == "chisquare"
    assert default_test(categorical, 1000, 2) == "z"
    assert default_test(categorical, 5000, 2) == "jensenshannon"
    with pytest.raises(InvalidInput, match="not datetime"):
        default_test(ColumnKind.DATETIME, 10, 10)


def test_kinds_are_inferred_like_evidentlys() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {
            "small_int": rng.integers(0, 8, 300),
            "wide_int": rng.integers(0, 500, 300),
            "real": rng.normal(size=300),
            "flag": rng.random(300) < 0.5,
            "text": rng.choice(["x", "y", "z"], 300),
            "cat": pl.Series(rng.choice(["x", "y"], 300)).cast(pl.Categorical),
        }
    )
    kinds = {c.name: c.kind for c in compute_drift(frame, frame).columns.values()}
    assert kinds == {
        "small_int": ColumnKind.CATEGORICAL,
        "wide_int": ColumnKind.NUMERIC,
        "real": ColumnKind.NUMERIC,
        "flag": ColumnKind.CATEGORICAL,
        "text": ColumnKind.CATEGORICAL,
        "cat": ColumnKind.CATEGORICAL,
    }


def test_a_shift_is_found_and_the_share_decides_the_dataset() -> None:
    report = compute_drift(_frame(5_000, 4), _frame(5_000, 5, shift=0.8))
    assert report.drifted_columns == ["many"]
    assert report.share == pytest.approx(1 / 5)
    assert report.drifted is False
    low = compute_drift(_frame(5_000, 4), _frame(5_000, 5, shift=0.8), drift_share=0.2)
    assert low.drifted is True
    same = compute_drift(_frame(5_000, 4), _frame(5_000, 4))
    assert same.drifted_columns == []
    assert all(c.score == 0.0 for c in same.columns.values())


def test_a_test_for_every_column_or_per_column() -> None:
    ref, cur = _frame(3_000, 6), _frame(3_000, 7, shift=0.2)
    everywhere = compute_drift(ref, cur, tests="psi")
    assert set(_tests(everywhere).values()) == {"psi"}
    mixed = compute_drift(ref, cur, tests={"many": "ks", "city": get_drift_test("chisquare")})
    assert _tests(mixed) == {
        "many": "ks", "four": "jensenshannon", "two": "jensenshannon", "city": "chisquare",
        "flag": "jensenshannon",
    }  # fmt: skip
    ks = get_drift_test("ks").score(ref["many"], cur["many"], ColumnKind.NUMERIC, 0.05)
    assert mixed.column("many").score == ks[0]


def test_thresholds_for_a_test_or_for_all() -> None:
    ref, cur = _frame(3_000, 6), _frame(3_000, 7, shift=0.2)
    default = compute_drift(ref, cur)
    assert default.column("many").threshold == 0.1
    assert default.column("many").drifted is True
    raised = compute_drift(ref, cur, thresholds={"wasserstein": 0.5})
    assert raised.column("many").threshold == 0.5
    assert raised.column("many").drifted is False
    assert raised.column("city").threshold == 0.1
    everywhere = compute_drift(ref, cur, thresholds=0.3)
    assert {c.threshold for c in everywhere.columns.values()} == {0.3}


def test_explicit_kinds_override_the_inference() -> None:
    ref, cur = _frame(800, 8), _frame(800, 9)
    report = compute_drift(ref, cur, column_kinds={"many": "categorical", "flag": "numeric"})
    assert report.column("many").kind is ColumnKind.CATEGORICAL
    assert report.column("many").test == "chisquare"
    assert report.column("flag").kind is ColumnKind.NUMERIC
    assert report.column("flag").test == "z"


def test_pandas_and_pyarrow_frames_give_the_same_report() -> None:
    ref, cur = _frame(2_000, 10, nulls=30), _frame(1_500, 11, shift=0.3)
    polars_report = compute_drift(ref, cur)
    for other in (
        compute_drift(ref.to_pandas(), cur.to_pandas()),
        compute_drift(ref.to_arrow(), cur.to_arrow()),
        compute_drift(ref.lazy(), cur.lazy()),
    ):
        assert other.columns == polars_report.columns


def test_columns_selects_and_orders() -> None:
    report = compute_drift(_frame(100, 1), _frame(100, 2), columns=["city", "many"])
    assert list(report.columns) == ["city", "many"]


def test_missing_values_are_counted_and_dropped() -> None:
    ref = pl.DataFrame({"x": [1.0, None, np.nan, np.inf, 2.0, 3.0] * 50})
    cur = pl.DataFrame({"x": [1.0, 2.0, 3.0, None] * 50})
    column = compute_drift(ref, cur).column("x")
    assert (column.reference_nulls, column.current_nulls) == (150, 50)
    assert column.drifted is False
    assert column.score == 1.0


# ----------------------------------------------------------------------------- not tested


def test_columns_no_test_reads_are_recorded_with_the_reason() -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rng = np.random.default_rng(12)
    ref = pl.DataFrame(
        {
            "when": [start + dt.timedelta(hours=i) for i in range(200)],
            "empty": pl.Series([None] * 200, dtype=pl.Float64),
            "note": [f"free text number {i}" for i in range(200)],
            "x": rng.normal(size=200),
        }
    )
    cur = ref.with_columns(pl.lit(None, dtype=pl.Float64).alias("x"))
    report = compute_drift(ref, cur)
    reasons = {c.name: c.reason or "" for c in report.columns.values()}
    assert "column_kinds={'when': 'numeric'}" in reasons["when"]
    assert reasons["empty"] == "no values in the reference or current (all null, NaN or infinite)"
    assert reasons["note"].startswith("free text (200 distinct of 200 reference values)")
    assert reasons["x"] == "no values in the current (all null, NaN or infinite)"
    assert report.tested_columns == []
    assert (report.share, report.drifted) == (0.0, False)
    as_numbers = compute_drift(ref, ref, columns=["when"], column_kinds={"when": "numeric"})
    assert as_numbers.column("when").test == "ks"
    assert compute_drift(ref, ref, tests={"note": "chisquare"}).column("note").tested


# ----------------------------------------------------------------------------- bad input


def test_a_test_that_cannot_take_the_column_names_column_and_fix() -> None:
    with pytest.raises(InvalidInput, match=r"column 'city': drift test 'ks' takes numeric columns"):
        compute_drift(_frame(100, 1), _frame(100, 2), tests={"city": "ks"})
    with pytest.raises(InvalidInput, match=r"column 'city' holds text, so it cannot be compared"):
        compute_drift(_frame(100, 1), _frame(100, 2), column_kinds={"city": "numeric"})


def test_a_missing_column_is_named() -> None:
    ref = _frame(100, 1)
    with pytest.raises(InvalidInput, match=r"the current has no column 'city'; pass columns="):
        compute_drift(ref, ref.drop("city"))
    with pytest.raises(InvalidInput, match=r"the reference has no column 'nope'"):
        compute_drift(ref, ref, columns=["many", "nope"])


def test_different_types_on_the_two_sides_are_refused() -> None:
    ref = pl.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match=r"'x' is Float64 in the reference but String in the"):
        compute_drift(ref, pl.DataFrame({"x": ["1", "2"]}))


def test_an_empty_side_is_refused() -> None:
    with pytest.raises(InvalidInput, match="the current frame has no rows"):
        compute_drift(_frame(10, 1), _frame(10, 1).head(0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tests": "nope"}, "unknown drift test 'nope'; known drift tests: chisquare, "),
        ({"tests": {"ghost": "ks"}}, r"tests names columns that are not compared: \['ghost'\]"),
        ({"thresholds": {"nope": 0.1}}, r"thresholds names unknown drift tests \['nope'\]"),
        ({"tests": "ks", "thresholds": 1.5}, "threshold of ks must be between 0 and 1"),
        ({"drift_share": 0}, r"drift_share must be a share in \(0, 1\], got 0"),
        ({"column_kinds": {"many": "text"}}, "kind must be 'numeric' or 'categorical'"),
        ({"column_kinds": {"ghost": "numeric"}}, "column_kinds names columns that are not"),
        ({"columns": "many"}, "columns must be a list of names"),
        ({"columns": ["many", "many"]}, r"columns named more than once: \['many'\]"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        compute_drift(_frame(50, 1), _frame(50, 2), **kwargs)


def test_a_frame_of_another_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="the reference must be a polars, pandas or pyarrow"):
        compute_drift([[1, 2]], _frame(5, 1))


def test_a_side_of_null_type_is_recorded_not_refused() -> None:
    ref = pl.DataFrame({"x": np.arange(50.0), "c": ["a", "b"] * 25})
    cur = pl.DataFrame({"x": [None] * 30, "c": [None] * 30})
    report = compute_drift(ref, cur)
    assert report.column("x").reason == "no values in the current (all null, NaN or infinite)"
    assert report.column("c").reason == "no values in the current (all null, NaN or infinite)"
    assert report.column("x").current_nulls == 30


def test_a_pandas_column_polars_cannot_read_is_refused() -> None:
    import pandas as pd

    mixed = pd.DataFrame({"x": [1, "a", 2.5]})
    with pytest.raises(InvalidInput, match=r"the reference frame cannot be read: .*one type"):
        compute_drift(mixed, _frame(5, 1))
