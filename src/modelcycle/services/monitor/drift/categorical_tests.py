"""Drift tests over category frequencies: chi-square and the two-proportion z-test.

Both count each side's categories once (polars ``value_counts``) and work on the small table
of counts. Like Evidently's, they take categorical columns only; the default choice applies
them to a numeric column of at most 5 distinct values by reading its numbers as categories.
Definitions follow Evidently 0.7 (``chisquare`` and ``z``):

- ``chisquare``: Pearson's goodness-of-fit test of the current counts against the reference
  shares scaled to the current size; drift when the p-value is below the threshold (0.05). A
  category the reference never saw gives an infinite statistic and a p-value of 0.
- ``z``: the pooled two-proportion z-test of the share of values other than the first category
  (in sorted order); drift when the two-sided p-value is below the threshold (0.05). The
  p-value is ``erfc(|z| / sqrt 2)``, which equals Evidently's ``2 * (1 - cdf(|z|))`` except
  far in the tail, where the latter rounds to 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._protocol import DriftTestSpec
from modelcycle.services.monitor.drift.numeric_tests import check_kind
from modelcycle.services.monitor.drift.values import (
    CategoryCounts,
    category_counts,
    finite_numbers,
)

if TYPE_CHECKING:
    from modelcycle.services.monitor.drift._protocol import ColumnValues

BOTH_KINDS = frozenset({ColumnKind.NUMERIC, ColumnKind.CATEGORICAL})
CATEGORICAL_ONLY = frozenset({ColumnKind.CATEGORICAL})

__all__ = ["CHISQUARE", "ChiSquare", "ProportionZ", "Z", "counts_of"]


def counts_of(reference: ColumnValues, current: ColumnValues, kind: ColumnKind) -> CategoryCounts:
    """Both sides' category counts (a numeric column's finite numbers count as categories).

    Raises:
        InvalidInput: a side has no values left after dropping nulls.
    """
    if kind is ColumnKind.NUMERIC:
        counts = category_counts(finite_numbers(reference), finite_numbers(current))
    else:
        counts = category_counts(reference, current)
    for side, total in (("reference", counts.reference_total), ("current", counts.current_total)):
        if total == 0:
            raise InvalidInput(f"the {side} has no values to compare")
    return counts


def chi_square_p_value(counts: CategoryCounts) -> float:
    """The p-value of the current counts against the reference shares."""
    from scipy import stats

    if counts.labels.len() == 1:
        return 1.0  # one category on both sides: the same distribution (scipy gives NaN)
    expected = counts.reference * (counts.current_total / counts.reference_total)
    if bool(np.any(expected == 0)):
        return 0.0  # a category unseen in the reference: the statistic is infinite
    return float(stats.chisquare(counts.current, expected).pvalue)


def z_p_value(counts: CategoryCounts) -> float:
    """The two-sided p-value of the pooled two-proportion z-test, as Evidently forms it."""
    if counts.labels.len() == 1:
        return 1.0  # one value, the same on both sides
    n1, n2 = counts.reference_total, counts.current_total
    # the labels come sorted: the first is Evidently's reference category
    p1 = (n1 - int(counts.reference[0])) / n1
    p2 = (n2 - int(counts.current[0])) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # 2 * P(Z > |z|) for a standard normal Z; erfc keeps the tail exact where 1 - cdf is 0
    return math.erfc(abs(z) / math.sqrt(2))


class ChiSquare:
    """Pearson's chi-square goodness-of-fit test; the score is its p-value."""

    name = "chisquare"
    spec = DriftTestSpec(
        kinds=CATEGORICAL_ONLY,
        default_threshold=0.05,
        higher_is_drift=False,
        label="chi-square p-value",
    )

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The p-value; drift when it is below ``threshold``."""
        check_kind(self.name, self.spec, kind)
        p_value = chi_square_p_value(counts_of(reference, current, kind))
        return p_value, p_value < threshold


class ProportionZ:
    """The two-proportion z-test, for binary columns; the score is its p-value."""

    name = "z"
    spec = DriftTestSpec(
        kinds=CATEGORICAL_ONLY,
        default_threshold=0.05,
        higher_is_drift=False,
        label="Z-test p-value",
    )

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The p-value; drift when it is below ``threshold``."""
        check_kind(self.name, self.spec, kind)
        p_value = z_p_value(counts_of(reference, current, kind))
        return p_value, p_value < threshold


CHISQUARE = ChiSquare()
Z = ProportionZ()
