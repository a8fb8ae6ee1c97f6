"""Correlation matrices of the profile against pandas and a hand-computed Cramér's V."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import polars as pl
import pytest
from scipy.stats.contingency import association  # type: ignore[import-untyped,unused-ignore]

from modelcycle.services.data.profile import Matrix, compute_profile


@pytest.fixture
def numeric() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    n = 3_000
    a = rng.normal(size=n)
    b = a * 0.6 + rng.normal(size=n)
    c = np.exp(rng.normal(size=n)) + a
    b[rng.random(n) < 0.15] = np.nan
    return pl.DataFrame({"a": a, "b": b, "c": c, "k": rng.integers(0, 40, n)}).with_columns(
        pl.when(pl.int_range(n) % 9 == 0).then(None).otherwise(pl.col("c")).alias("c")
    )


def test_pearson_and_spearman_match_pandas_pairwise(numeric: pl.DataFrame) -> None:
    corr = compute_profile(numeric).correlations
    assert corr is not None
    assert corr.pearson is not None
    assert corr.spearman is not None
    frame = numeric.to_pandas()
    methods: tuple[tuple[Literal["pearson", "spearman"], Matrix], ...] = (
        ("pearson", corr.pearson),
        ("spearman", corr.spearman),
    )
    for method, matrix in methods:
        expected = frame.corr(method=method)
        assert matrix.columns == ("a", "b", "c", "k")
        for x in matrix.columns:
            for y in matrix.columns:
                assert matrix.get(x, y) == pytest.approx(expected.loc[x, y], abs=1e-12), (
                    method,
                    x,
                    y,
                )
    assert corr.rows == numeric.height


def test_cramers_v_of_a_known_table() -> None:
    # 2 x 3 table [[30, 10, 10], [10, 20, 20]]: chi2 = 12.5 (worked by hand), n = 100
    pairs = [("m", "x")] * 30 + [("m", "y")] * 10 + [("m", "z")] * 10
    pairs += [("f", "x")] * 10 + [("f", "y")] * 20 + [("f", "z")] * 20
    frame = pl.DataFrame({"sex": [p[0] for p in pairs], "pick": [p[1] for p in pairs]})
    corr = compute_profile(frame).correlations
    assert corr is not None
    assert corr.cramers_v is not None
    table = np.array([[30, 10, 10], [10, 20, 20]])
    expected_by_hand = math.sqrt(50 / 3 / (100 * 1))
    assert corr.cramers_v.get("sex", "pick") == pytest.approx(expected_by_hand, rel=1e-12)
    assert corr.cramers_v.get("sex", "pick") == pytest.approx(
        association(table, method="cramer", correction=False), rel=1e-12
    )
    assert corr.cramers_v.get("pick", "pick") == 1.0


def test_cramers_v_leaves_out_missing_rows_and_takes_booleans() -> None:
    rng = np.random.default_rng(5)
    n = 1_000
    g = rng.choice(["a", "b", "c"], n)
    flag = (g == "a") | (rng.random(n) < 0.1)
    frame = pl.DataFrame({"g": g, "flag": flag}).with_columns(
        pl.when(pl.int_range(n) % 10 == 0).then(None).otherwise(pl.col("g")).alias("g")
    )
    corr = compute_profile(frame).correlations
    assert corr is not None
    assert corr.cramers_v is not None
    kept = frame.drop_nulls()
    table = kept.group_by("g", "flag").len().pivot("flag", index="g", values="len").fill_null(0)
    expected = association(table.drop("g").to_numpy(), method="cramer", correction=False)
    assert corr.cramers_v.get("g", "flag") == pytest.approx(expected, rel=1e-12)


def test_constant_and_high_cardinality_columns_take_no_part() -> None:
    frame = pl.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0],
            "y": [2.0, 4.0, 6.0, 9.0],
            "same": [5.0, 5.0, 5.0, 5.0],
            "c1": ["a", "b", "a", "b"],
            "c2": ["k", "k", "k", "k"],
        }
    )
    corr = compute_profile(frame).correlations
    assert corr is not None
    assert corr.pearson is not None
    assert corr.pearson.columns == ("x", "y")
    assert corr.cramers_v is None


def test_correlations_can_be_switched_off(numeric: pl.DataFrame) -> None:
    assert compute_profile(numeric, correlations=False).correlations is None


def test_infinite_values_are_left_out_of_pairs() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 2.5, float("inf"), 4.0, 6.0]})
    corr = compute_profile(frame).correlations
    assert corr is not None
    assert corr.pearson is not None
    assert corr.spearman is not None
    kept = np.array([[1, 1], [2, 2.5], [4, 4], [5, 6]])
    assert corr.pearson.get("x", "y") == pytest.approx(np.corrcoef(kept.T)[0, 1])
    assert corr.spearman.get("x", "y") == pytest.approx(1.0)


def test_tall_frames_correlate_on_a_stated_seeded_sample() -> None:
    rng = np.random.default_rng(8)
    n = 250_000
    a = rng.normal(size=n)
    frame = pl.DataFrame({"a": a, "b": a + rng.normal(size=n), "g": rng.choice(["x", "y"], n)})
    prof = compute_profile(frame, seed=1)
    corr = prof.correlations
    assert corr is not None
    assert corr.pearson is not None
    assert prof.sampled_rows == n
    assert corr.rows == 200_000
    assert corr.pearson.get("a", "b") == pytest.approx(np.corrcoef(a, frame["b"])[0, 1], abs=0.01)
    assert compute_profile(frame, seed=1).correlations == corr
    assert "Computed on 200,000 rows (a seeded random sample of the 250,000 profiled)" in (
        prof.to_html()
    )
