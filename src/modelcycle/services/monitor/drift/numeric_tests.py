"""Drift tests over numeric columns: Kolmogorov-Smirnov and the normed Wasserstein distance.

Both work on each side's values sorted once (``_cdf``), which is what makes them fast on
millions of rows.
Definitions follow Evidently 0.7 (``ks`` and ``wasserstein``):

- ``ks``: the two-sided two-sample K-S p-value, as ``scipy.stats.ks_2samp`` computes it (exact
  up to 10,000 values a side, Smirnov's asymptotic distribution above); drift when the p-value
  is at or below the threshold (0.05).
- ``wasserstein``: the first Wasserstein distance divided by the reference's population
  standard deviation (at least 0.001); drift when it reaches the threshold (0.1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._cdf import CHUNK, ks_statistic, wasserstein_distance
from modelcycle.services.monitor.drift._protocol import DriftTestSpec
from modelcycle.services.monitor.drift.values import sorted_numbers

if TYPE_CHECKING:
    import numpy.typing as npt

    from modelcycle.services.monitor.drift._protocol import ColumnValues

EXACT_KS_MAX = 10_000  # scipy's ``auto`` mode is exact while both sides are this small
MIN_NORM = 0.001

__all__ = ["KS", "WASSERSTEIN", "KolmogorovSmirnov", "WassersteinNormed"]


def sorted_sides(
    reference: ColumnValues, current: ColumnValues
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Both sides as sorted finite numbers, or ``InvalidInput`` when a side has none."""
    us, vs = sorted_numbers(reference), sorted_numbers(current)
    for side, values in (("reference", us), ("current", vs)):
        if values.size == 0:
            raise InvalidInput(f"the {side} has no finite values to compare")
    return us, vs


def check_kind(name: str, spec: DriftTestSpec, kind: ColumnKind) -> None:
    """``InvalidInput`` unless ``spec`` takes columns of ``kind``."""
    if kind not in spec.kinds:
        takes = " or ".join(sorted(k.value for k in spec.kinds))
        raise InvalidInput(f"drift test {name!r} takes {takes} columns, not {kind.value} ones")


def population_std(values: npt.NDArray[np.float64]) -> float:
    """``numpy.std(values)`` (ddof 0), summed in chunks so that no full-size copy is made."""
    mean = float(values.mean())
    squares = sum(
        float(np.square(values[a : a + CHUNK] - mean).sum()) for a in range(0, values.size, CHUNK)
    )
    return math.sqrt(squares / values.size)


def ks_p_value(us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64]) -> float:
    """The two-sided K-S p-value of two sorted samples, as ``scipy.stats.ks_2samp`` gives it."""
    from scipy import stats

    n, m = us.size, vs.size
    if max(n, m) <= EXACT_KS_MAX:
        return float(stats.ks_2samp(us, vs).pvalue)
    statistic = ks_statistic(us, vs)
    big, small = max(n, m), min(n, m)
    effective = round(big * small / (big + small))
    return float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


class KolmogorovSmirnov:
    """The two-sample Kolmogorov-Smirnov test; the score is its p-value."""

    name = "ks"
    spec = DriftTestSpec(
        kinds=frozenset({ColumnKind.NUMERIC}),
        default_threshold=0.05,
        higher_is_drift=False,
        label="K-S p-value",
    )

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The p-value; drift when it is at or below ``threshold``."""
        check_kind(self.name, self.spec, kind)
        p_value = ks_p_value(*sorted_sides(reference, current))
        return p_value, p_value <= threshold


class WassersteinNormed:
    """The first Wasserstein distance over the reference's standard deviation."""

    name = "wasserstein"
    spec = DriftTestSpec(
        kinds=frozenset({ColumnKind.NUMERIC}),
        default_threshold=0.1,
        higher_is_drift=True,
        label="Wasserstein distance (normed)",
    )

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The normed distance; drift when it reaches ``threshold``."""
        check_kind(self.name, self.spec, kind)
        us, vs = sorted_sides(reference, current)
        value = wasserstein_distance(us, vs) / max(population_std(us), MIN_NORM)
        return value, value >= threshold


KS = KolmogorovSmirnov()
WASSERSTEIN = WassersteinNormed()
