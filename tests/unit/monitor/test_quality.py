"""Live data quality of a window against its reference, the signature and the rules."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.rules import RuleSet
from modelcycle.services.monitor.quality import FREE_TEXT_SHARE, check_quality


def _frames(seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pl.DataFrame(
        {
            "x": rng.normal(0, 1, 1000),
            "n": rng.integers(0, 10, 1000),
            "city": rng.choice(["paris", "rome", "oslo"], 1000),
            "flag": rng.random(1000) < 0.5,
        }
    )
    current = pl.DataFrame(
        {
            "x": rng.normal(0.5, 2, 500),
            "n": rng.integers(-5, 15, 500),
            "city": rng.choice(["paris", "rome", "oslo", "lima", "kyiv"], 500),
            "flag": rng.random(500) < 0.5,
        }
    )
    return reference, current


def test_out_of_range_unseen_and_missing_match_a_direct_count() -> None:
    reference, current = _frames()
    x = current["x"].to_numpy().copy()
    x[:20] = np.nan
    current = current.with_columns(
        pl.Series("x", x),
        pl.when(pl.int_range(pl.len()) < 7).then(None).otherwise(pl.col("city")).alias("city"),
    )
    report = check_quality(reference, current)
    lo, hi = reference["x"].min(), reference["x"].max()
    finite = x[np.isfinite(x)]
    assert report.columns["x"].out_of_range == int(((finite < lo) | (finite > hi)).sum())
    assert report.columns["x"].missing == 20
    assert (report.columns["x"].minimum, report.columns["x"].maximum) == (lo, hi)
    n = current["n"].to_numpy()
    assert report.columns["n"].out_of_range == int(((n < 0) | (n > 9)).sum())
    cities = current["city"].drop_nulls().to_list()
    assert report.columns["city"].missing == 7
    assert report.columns["city"].unseen == sum(c in ("lima", "kyiv") for c in cities)
    assert set(report.columns["city"].unseen_examples) == {"lima", "kyiv"}
    assert report.columns["flag"].unseen == 0
    assert report.columns["flag"].check == "categories"
    values = report.values()
    assert values["quality.missing.x"] == pytest.approx(20 / 500)
    assert values["quality.out_of_range.n"] == pytest.approx(report.columns["n"].out_of_range / 500)
    assert values["quality.unseen.city"] == pytest.approx(report.columns["city"].unseen / 500)
    assert values["quality.schema_violations"] == 0
    assert "quality.unseen.x" not in values
    assert "quality.out_of_range.city" not in values


def test_the_same_data_has_no_issue() -> None:
    reference, _ = _frames()
    report = check_quality(reference, reference)
    for column in report.columns.values():
        assert column.missing == 0
        assert column.out_of_range in (0, None)
        assert column.unseen in (0, None)
    assert report.schema == ()


def test_schema_violations_against_the_signature() -> None:
    reference, current = _frames()
    current = current.with_columns(pl.col("n").cast(pl.String)).with_columns(
        pl.lit("x").alias("promo")
    )
    expected = {"x": "float", "n": "integer", "city": "string", "flag": "boolean", "zip": "string"}
    report = check_quality(reference, current.drop("flag"), expected=expected)
    found = {(v.column, v.kind) for v in report.schema}
    assert found == {("n", "type"), ("flag", "missing"), ("zip", "missing"), ("promo", "extra")}
    assert "expected numeric values, found String" in next(
        v.detail for v in report.schema if v.column == "n"
    )
    # A mistyped column is only counted for missing values, never compared.
    assert report.columns["n"].check == "missing"
    assert report.columns["n"].note == "not compared with the reference: the type differs"
    assert report.values()["quality.schema_violations"] == 4


def test_an_all_null_logged_column_is_not_a_type_violation() -> None:
    reference, current = _frames()
    current = current.with_columns(pl.lit(None).alias("x"))
    report = check_quality(reference, current, expected={"x": "float", "n": "integer"})
    assert [(v.column, v.kind) for v in report.schema if v.kind != "extra"] == []
    assert report.columns["x"].missing == 500


def test_free_text_is_not_judged_for_unseen_values() -> None:
    reference = pl.DataFrame({"email": [f"u{i}@x.org" for i in range(100)]})
    current = pl.DataFrame({"email": [f"v{i}@x.org" for i in range(50)]})
    report = check_quality(reference, current)
    assert report.columns["email"].unseen is None
    assert "free text" in (report.columns["email"].note or "")
    assert FREE_TEXT_SHARE == 0.5


def test_a_numeric_reference_without_finite_values_cannot_bound_the_range() -> None:
    reference = pl.DataFrame({"x": [float("nan")] * 3})
    current = pl.DataFrame({"x": [1.0, 2.0]})
    column = check_quality(reference, current).columns["x"]
    assert column.out_of_range is None
    assert column.note == "the reference holds no finite number"
    assert column.reference_missing_share == 1.0


def test_rules_that_can_judge_a_window_run_and_the_others_say_why_not() -> None:
    reference, current = _frames()
    rules = RuleSet.from_yaml(
        "- range: {column: n, min: 0, max: 9}\n"
        "- allowed_values: {column: city, values: [paris, rome, oslo]}\n"
        "- unique: {columns: [n]}\n"
        "- schema: {columns: [x, n]}\n"
        "- not_null: {column: target}\n"
        "- not_null: {column: x}\n"
    )
    report = check_quality(reference, current, rules=rules, rules_source="data")
    kinds = [(r.kind, r.passed) for r in report.rules]
    assert kinds == [
        ("range", False),
        ("allowed_values", False),
        ("unique", None),
        ("schema", None),
        ("not_null", None),
        ("not_null", True),
    ]
    n = current["n"].to_numpy()
    assert report.rules[0].failing_count == int(((n < 0) | (n > 9)).sum())
    assert report.rules[2].message == (
        "skipped: a unique rule judges a whole dataset, not a window"
    )
    assert report.rules[4].message == "skipped: the window has no column 'target'"
    assert report.rules_failed == 2
    assert report.values()["quality.rules_failed"] == 2
    assert report.to_dict()["rules_source"] == "data"


def test_bad_input_is_refused() -> None:
    reference, current = _frames()
    with pytest.raises(InvalidInput, match="the window holds no rows"):
        check_quality(reference, current.clear())
    with pytest.raises(InvalidInput, match="the current must be a polars DataFrame, got dict"):
        check_quality(reference, {"x": [1]})  # type: ignore[arg-type]
