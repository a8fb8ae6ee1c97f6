"""Every profile warning fires where its rule says and stays quiet just below its threshold."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from modelcycle.services.data.profile import WarningKind, compute_profile


def _kinds(frame: pl.DataFrame, column: str | None, **kwargs: object) -> set[WarningKind]:
    prof = compute_profile(frame, **kwargs)  # type: ignore[arg-type]
    return {w.kind for w in prof.warnings if w.column == column}


def test_constant() -> None:
    frame = pl.DataFrame({"c": ["a"] * 5 + [None], "v": ["a", "b", "a", "b", "a", "b"]})
    assert WarningKind.CONSTANT in _kinds(frame, "c")
    assert WarningKind.CONSTANT not in _kinds(frame, "v")


def test_high_missing_above_twenty_percent() -> None:
    over = pl.DataFrame({"m": [None] * 21 + list(range(79))})
    at = pl.DataFrame({"m": [None] * 20 + list(range(80))})
    assert WarningKind.HIGH_MISSING in _kinds(over, "m")
    assert WarningKind.HIGH_MISSING not in _kinds(at, "m")


def test_high_cardinality_needs_many_and_mostly_distinct_values() -> None:
    many = pl.DataFrame({"c": [f"v{i % 60}" for i in range(100)]})
    few = pl.DataFrame({"c": [f"v{i % 50}" for i in range(100)]})
    repeated = pl.DataFrame({"c": [f"v{i % 60}" for i in range(1000)]})
    assert WarningKind.HIGH_CARDINALITY in _kinds(many, "c")
    assert WarningKind.HIGH_CARDINALITY not in _kinds(few, "c")
    assert WarningKind.HIGH_CARDINALITY not in _kinds(repeated, "c")


def test_unique_for_identifiers_not_for_floats() -> None:
    frame = pl.DataFrame(
        {"id": list(range(50)), "code": [f"k{i}" for i in range(50)], "x": np.linspace(0, 1, 50)}
    )
    assert WarningKind.UNIQUE in _kinds(frame, "id")
    assert WarningKind.UNIQUE in _kinds(frame, "code")
    assert WarningKind.UNIQUE not in _kinds(frame, "x")
    repeated = pl.DataFrame({"id": [*range(49), 0]})
    assert WarningKind.UNIQUE not in _kinds(repeated, "id")


def test_skewed_beyond_two() -> None:
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"s": rng.exponential(size=5000) ** 2, "n": rng.normal(size=5000)})
    prof = compute_profile(frame)
    skewed = [w for w in prof.warnings if w.kind is WarningKind.SKEWED]
    assert [w.column for w in skewed] == ["s"]
    assert skewed[0].value == prof.columns["s"].numeric.skewness  # type: ignore[union-attr]


def test_imbalanced_target_minority_under_ten_percent_of_two_classes() -> None:
    under = pl.DataFrame({"y": [1] * 91 + [0] * 9, "x": range(100)})
    over = pl.DataFrame({"y": [1] * 89 + [0] * 11, "x": range(100)})
    assert WarningKind.IMBALANCED in _kinds(under, "y", target="y")
    assert WarningKind.IMBALANCED not in _kinds(over, "y", target="y")
    # without a target, 91 % of one value is not dominant (the rule there is 95 %)
    assert WarningKind.IMBALANCED not in _kinds(under, "y")


def test_imbalanced_target_with_more_classes_is_judged_against_its_balanced_share() -> None:
    # four classes: balanced share 25 %, a fifth of it is 5 %
    rare = pl.DataFrame({"y": ["a"] * 40 + ["b"] * 30 + ["c"] * 26 + ["d"] * 4})
    fine = pl.DataFrame({"y": ["a"] * 40 + ["b"] * 30 + ["c"] * 24 + ["d"] * 6})
    assert WarningKind.IMBALANCED in _kinds(rare, "y", target="y")
    assert WarningKind.IMBALANCED not in _kinds(fine, "y", target="y")


def test_dominant_value_in_a_categorical_or_boolean_column() -> None:
    frame = pl.DataFrame(
        {"flag": [True] * 96 + [False] * 4, "c": ["a"] * 95 + ["b"] * 5, "x": range(100)}
    )
    assert WarningKind.IMBALANCED in _kinds(frame, "flag")
    assert WarningKind.IMBALANCED not in _kinds(frame, "c")


def test_duplicates_warning_is_frame_wide() -> None:
    dup = pl.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "y"]})
    assert WarningKind.DUPLICATES in _kinds(dup, None)
    assert WarningKind.DUPLICATES not in _kinds(dup.unique(), None)


@pytest.mark.parametrize(("noise", "fires"), [(0.01, True), (2.0, False)])
def test_high_correlation(noise: float, fires: bool) -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=1000)
    frame = pl.DataFrame({"a": a, "b": a + rng.normal(scale=noise, size=1000)})
    assert (WarningKind.HIGH_CORRELATION in _kinds(frame, "a")) is fires


def test_a_clean_frame_has_no_warnings() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {
            "x": rng.normal(size=500),
            "y": rng.normal(size=500),
            "c": rng.choice(["a", "b", "c"], 500),
            "flag": rng.random(500) < 0.5,
        }
    )
    assert compute_profile(frame, target="flag").warnings == ()
