"""Drift tests over binned shares: PSI and the Jensen-Shannon distance.

Both compare the share of each side's values per bin. Bins follow Evidently 0.7
(``get_binned_data``): a numeric column whose reference has more than 20 distinct values is cut
into equal-width bins over the range of both sides together, as many as Sturges' rule gives for
their combined size; otherwise each distinct value (or category) is a bin. On sorted samples the
bin counts are one ``searchsorted`` of the edges, not a pass over the rows.

- ``psi``: the population stability index, the sum over bins of
  ``(ref - cur) * ln(ref / cur)``, empty bins set to a small share first; drift when it
  reaches the threshold (0.1).
- ``jensenshannon``: the Jensen-Shannon distance, the square root of the mean of the two
  Kullback-Leibler divergences from the mixture, natural log (what
  ``scipy.spatial.distance.jensenshannon`` computes, here without importing scipy); drift when
  it reaches the threshold (0.1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.monitor.drift._protocol import DriftTestSpec
from modelcycle.services.monitor.drift.categorical_tests import BOTH_KINDS, counts_of
from modelcycle.services.monitor.drift.numeric_tests import check_kind, sorted_sides

if TYPE_CHECKING:
    import numpy.typing as npt

    from modelcycle.services.monitor.drift._protocol import ColumnValues

MAX_VALUE_BINS = 20  # a numeric reference with more distinct values than this is cut into bins
SMALL_SHARE = 1e-4

__all__ = [
    "JENSENSHANNON",
    "PSI",
    "JensenShannon",
    "PopulationStability",
    "binned_shares",
    "jensen_shannon_distance",
    "sturges_edges",
]

Shares = tuple["npt.NDArray[np.float64]", "npt.NDArray[np.float64]"]


def distinct_count(sorted_values: npt.NDArray[np.float64]) -> int:
    """The number of distinct values of an ascending array."""
    if sorted_values.size == 0:
        return 0
    return 1 + int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1]))


def sturges_edges(low: float, high: float, size: int) -> npt.NDArray[np.float64]:
    """Equal-width bin edges over ``[low, high]``, Sturges' count for ``size`` values.

    The same edges as ``numpy.histogram_bin_edges(values, bins="sturges")`` for values of
    that range and size.
    """
    span = high - low
    bins = 1
    if span > 0:
        width = span / (float(np.log2(size)) + 1.0)
        bins = max(1, math.ceil(span / width))
    else:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def sorted_histogram(
    sorted_values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Counts per bin of an ascending array; bins are half-open but the last is closed."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    cuts[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(cuts).astype(np.int64)


def _value_counts(
    sorted_values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def _numeric_shares(us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64]) -> Shares:
    if distinct_count(us) > MAX_VALUE_BINS:
        edges = sturges_edges(min(us[0], vs[0]), max(us[-1], vs[-1]), us.size + vs.size)
        ref, cur = sorted_histogram(us, edges), sorted_histogram(vs, edges)
    else:
        ref_keys, ref_counts = _value_counts(us)
        cur_keys, cur_counts = _value_counts(vs)
        keys = np.union1d(ref_keys, cur_keys)
        ref = np.zeros(keys.size, dtype=np.int64)
        cur = np.zeros(keys.size, dtype=np.int64)
        ref[np.searchsorted(keys, ref_keys)] = ref_counts
        cur[np.searchsorted(keys, cur_keys)] = cur_counts
    return ref / us.size, cur / vs.size


def binned_shares(reference: ColumnValues, current: ColumnValues, kind: ColumnKind) -> Shares:
    """Each side's share of values per bin, the bins aligned (see the module docstring).

    Raises:
        InvalidInput: a side has no values left after dropping nulls, or a numeric column
            holds no numbers.
    """
    if kind is ColumnKind.NUMERIC:
        return _numeric_shares(*sorted_sides(reference, current))
    counts = counts_of(reference, current, kind)
    return counts.reference / counts.reference_total, counts.current / counts.current_total


def jensen_shannon_distance(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
) -> float:
    """The Jensen-Shannon distance of two share vectors (each normalised to sum to 1)."""
    p, q = reference / reference.sum(), current / current.sum()
    mixture = (p + q) / 2
    divergence = 0.0
    for shares in (p, q):
        seen = shares > 0  # 0 * log(0 / m) is 0
        divergence += float(np.sum(shares[seen] * np.log(shares[seen] / mixture[seen])))
    return math.sqrt(max(divergence / 2, 0.0))


def fill_empty(shares: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Empty bins set to a small share, which keeps the logarithm finite.

    The small share is a millionth of the smallest share when that is at most 0.0001, else
    0.0001 (Evidently's rule).
    """
    empty = shares == 0
    if not empty.any():
        return shares
    smallest = float(shares[~empty].min())
    filled = shares.copy()
    filled[empty] = smallest / 1e6 if smallest <= SMALL_SHARE else SMALL_SHARE
    return filled


class PopulationStability:
    """The population stability index over binned shares."""

    name = "psi"
    spec = DriftTestSpec(kinds=BOTH_KINDS, default_threshold=0.1, higher_is_drift=True, label="PSI")

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The index; drift when it reaches ``threshold``."""
        check_kind(self.name, self.spec, kind)
        ref, cur = (fill_empty(s) for s in binned_shares(reference, current, kind))
        value = float(np.sum((ref - cur) * np.log(ref / cur)))
        return value, value >= threshold


class JensenShannon:
    """The Jensen-Shannon distance between binned shares."""

    name = "jensenshannon"
    spec = DriftTestSpec(
        kinds=BOTH_KINDS,
        default_threshold=0.1,
        higher_is_drift=True,
        label="Jensen-Shannon distance",
    )

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The distance; drift when it reaches ``threshold``."""
        check_kind(self.name, self.spec, kind)
        ref, cur = binned_shares(reference, current, kind)
        value = jensen_shannon_distance(ref, cur)
        return value, value >= threshold


PSI = PopulationStability()
JENSENSHANNON = JensenShannon()
