"""Each built-in drift test against scipy or a reference written here from its definition."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy import stats
from scipy.spatial import distance

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift import get_drift_test

Floats = npt.NDArray[np.float64]
NUMERIC = ColumnKind.NUMERIC
CATEGORICAL = ColumnKind.CATEGORICAL


def _pair(
    seed: int, n: int, m: int, shift: float = 0.0, decimals: int | None = None
) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    u, v = rng.normal(0, 1, n), rng.normal(shift, 1.3, m)
    if decimals is not None:
        u, v = np.round(u, decimals), np.round(v, decimals)
    return u, v


# ----------------------------------------------------------------------------- references


def wasserstein_reference(u: Floats, v: Floats) -> float:
    """Area between the two empirical CDFs, summed over the gaps of the merged values."""
    values = np.sort(np.concatenate([u, v]))
    fu = np.searchsorted(np.sort(u), values[:-1], side="right") / u.size
    fv = np.searchsorted(np.sort(v), values[:-1], side="right") / v.size
    return float(np.sum(np.abs(fu - fv) * np.diff(values)))


def binned_reference(u: Any, v: Any, kind: ColumnKind) -> tuple[Floats, Floats]:
    """Shares per bin: Sturges bins over both sides for a varied numeric reference, else values."""
    u, v = np.asarray(u), np.asarray(v)
    if kind is NUMERIC and np.unique(u).size > 20:
        edges = np.histogram_bin_edges(np.concatenate([u, v]), bins="sturges")
        return np.histogram(u, edges)[0] / u.size, np.histogram(v, edges)[0] / v.size
    keys = np.union1d(u, v)
    return (
        np.array([np.sum(u == k) for k in keys]) / u.size,
        np.array([np.sum(v == k) for k in keys]) / v.size,
    )


def fill_reference(p: Floats) -> Floats:
    smallest = p[p > 0].min()
    return np.where(p == 0, smallest / 1e6 if smallest <= 1e-4 else 1e-4, p)


def psi_reference(u: Any, v: Any, kind: ColumnKind) -> float:
    p, q = (fill_reference(s) for s in binned_reference(u, v, kind))
    return float(np.sum((p - q) * np.log(p / q)))


def js_reference(u: Any, v: Any, kind: ColumnKind) -> float:
    p, q = binned_reference(u, v, kind)
    m = (p + q) / 2

    def kl(a: Floats) -> float:
        return float(sum(x * math.log(x / y) for x, y in zip(a, m, strict=True) if x > 0))

    return math.sqrt((kl(p) + kl(q)) / 2)


def z_reference(u: list[str], v: list[str]) -> float:
    first = sorted(set(u) | set(v))[0]
    n1, n2 = len(u), len(v)
    p1 = sum(x != first for x in u) / n1
    p2 = sum(x != first for x in v) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


# ----------------------------------------------------------------------------- numeric


@pytest.mark.parametrize(
    ("n", "m", "decimals"),
    [(1, 1, None), (7, 3, 1), (800, 1000, None), (5_000, 9_000, 1), (12_000, 15_000, None),
     (20_000, 20_000, 2)],
)  # fmt: skip
def test_ks_p_value_is_scipys(n: int, m: int, decimals: int | None) -> None:
    u, v = _pair(n + m, n, m, shift=0.03, decimals=decimals)
    score, drifted = get_drift_test("ks").score(u, v, NUMERIC, 0.05)
    expected = stats.ks_2samp(u, v).pvalue
    assert score == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert drifted is bool(expected <= 0.05)


@pytest.mark.parametrize(
    ("n", "m", "decimals"),
    [(1, 1, None), (1, 5, None), (13, 17, 0), (1000, 1000, 1), (3000, 4500, None),
     (30_000, 29_999, 2), (300_000, 300_000, None)],
)  # fmt: skip
def test_wasserstein_is_the_cdf_area_over_the_reference_std(
    n: int, m: int, decimals: int | None
) -> None:
    u, v = _pair(n * 3 + m, n, m, shift=0.2, decimals=decimals)
    score, drifted = get_drift_test("wasserstein").score(u, v, NUMERIC, 0.1)
    expected = wasserstein_reference(u, v) / max(float(np.std(u)), 0.001)
    assert score == pytest.approx(expected, rel=1e-10)
    assert score == pytest.approx(
        stats.wasserstein_distance(u, v) / max(np.std(u), 0.001), rel=1e-10
    )
    assert drifted is bool(expected >= 0.1)


@pytest.mark.parametrize("name", ["psi", "jensenshannon"])
@pytest.mark.parametrize(
    ("n", "m", "decimals"),
    [(1, 1, None), (50, 80, 0), (400, 300, 1), (2_000, 3_000, None), (10_000, 10_000, 3)],
)
def test_binned_numeric_scores_match_their_definitions(
    name: str, n: int, m: int, decimals: int | None
) -> None:
    u, v = _pair(n + 7 * m, n, m, shift=0.3, decimals=decimals)
    reference = psi_reference if name == "psi" else js_reference
    score, drifted = get_drift_test(name).score(u, v, NUMERIC, 0.1)
    expected = reference(u, v, NUMERIC)
    assert score == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert drifted is bool(expected >= 0.1)


def test_jensenshannon_agrees_with_scipy_on_binned_shares() -> None:
    u, v = _pair(3, 5_000, 4_000, shift=0.1)
    score, _ = get_drift_test("jensenshannon").score(u, v, NUMERIC, 0.1)
    assert score == pytest.approx(distance.jensenshannon(*binned_reference(u, v, NUMERIC)))


# ----------------------------------------------------------------------------- categorical


def _labels(seed: int, n: int, p: list[float]) -> npt.NDArray[np.str_]:
    labels = np.array([f"k{i}" for i in range(len(p))])
    return np.random.default_rng(seed).choice(labels, n, p=p)


def test_chi_square_is_scipys_goodness_of_fit() -> None:
    u = _labels(1, 900, [0.5, 0.3, 0.2])
    v = _labels(2, 700, [0.45, 0.3, 0.25])
    keys = sorted(set(u) | set(v))
    observed = [np.sum(v == k) for k in keys]
    expected = [np.sum(u == k) * v.size / u.size for k in keys]
    score, drifted = get_drift_test("chisquare").score(u, v, CATEGORICAL, 0.05)
    p_value = stats.chisquare(observed, expected).pvalue
    assert score == pytest.approx(p_value, rel=1e-12)
    assert drifted is bool(p_value < 0.05)


def test_a_category_unseen_in_the_reference_is_certain_chi_square_drift() -> None:
    u = np.array(["a", "b"] * 50)
    v = np.array(["a", "b", "c"] * 30)
    assert get_drift_test("chisquare").score(u, v, CATEGORICAL, 0.05) == (0.0, True)


@pytest.mark.parametrize("p", [[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
def test_z_test_matches_its_definition(p: list[float]) -> None:
    u, v = _labels(4, 600, [0.5, 0.5]), _labels(5, 500, p)
    score, drifted = get_drift_test("z").score(u, v, CATEGORICAL, 0.05)
    expected = z_reference(list(u), list(v))
    assert score == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert drifted is bool(expected < 0.05)


@pytest.mark.parametrize("name", ["psi", "jensenshannon"])
def test_binned_categorical_scores_match_their_definitions(name: str) -> None:
    u = _labels(6, 3_000, [0.4, 0.3, 0.2, 0.1, 0.0])
    v = _labels(7, 2_000, [0.3, 0.3, 0.2, 0.1, 0.1])
    reference = psi_reference if name == "psi" else js_reference
    score, _ = get_drift_test(name).score(u, v, CATEGORICAL, 0.1)
    assert score == pytest.approx(reference(u, v, CATEGORICAL), rel=1e-9)


def test_categoricals_strings_and_numbers_count_the_same() -> None:
    u, v = _labels(8, 500, [0.6, 0.4]), _labels(9, 500, [0.5, 0.5])
    as_text = get_drift_test("chisquare").score(u, v, CATEGORICAL, 0.05)
    as_categorical = get_drift_test("chisquare").score(
        pl.Series(u).cast(pl.Categorical), pl.Series(v), CATEGORICAL, 0.05
    )
    assert as_categorical == as_text
    codes_u, codes_v = (np.where(x == "k0", 0, 1) for x in (u, v))
    assert get_drift_test("chisquare").score(codes_u, codes_v, CATEGORICAL, 0.05) == as_text
    with pytest.raises(InvalidInput, match="'chisquare' takes categorical columns, not numeric"):
        get_drift_test("chisquare").score(codes_u, codes_v, NUMERIC, 0.05)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", ["ks", "wasserstein"])
def test_a_numeric_test_refuses_text_and_categorical_kinds(name: str) -> None:
    text = np.array(["a", "b"] * 5)
    with pytest.raises(InvalidInput, match="expected numbers"):
        get_drift_test(name).score(text, text, NUMERIC, 0.1)
    with pytest.raises(InvalidInput, match=f"{name}' takes numeric columns, not categorical"):
        get_drift_test(name).score(text, text, CATEGORICAL, 0.1)


@pytest.mark.parametrize("name", ["ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z"])
def test_an_empty_side_is_refused(name: str) -> None:
    kind = get_drift_test(name).spec.kinds
    read_as = NUMERIC if NUMERIC in kind else CATEGORICAL
    with pytest.raises(InvalidInput, match="the current has no"):
        get_drift_test(name).score(np.array([1.0, 2.0]), np.array([np.nan]), read_as, 0.05)
