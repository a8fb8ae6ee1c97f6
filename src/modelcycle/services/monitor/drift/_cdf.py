"""Distances between two sorted samples: the K-S statistic and the Wasserstein distance.

Both work in chunks of ``CHUNK`` values, so that the working memory stays a few megabytes
whatever the sample size, and fresh arrays (and their page faults) stay small.

- ``ks_statistic``: ``sup |F_u - F_v|`` over the merged samples (a stable argsort of two
  sorted runs is a single merge), each distribution function read at the right of each
  distinct value, as ``scipy.stats.ks_2samp`` reads it.
- ``wasserstein_distance``: the first Wasserstein distance as the area between the two
  quantile functions, ``integral over t in (0, 1] of |Q_u(t) - Q_v(t)|``, which equals the area
  between the distribution functions that ``scipy.stats.wasserstein_distance`` sums. The
  quantile functions are steps at ``i/n`` and ``j/m``; with ``n == m`` it is the mean absolute
  difference of the sorted samples, else each step's width comes from integer arithmetic on
  ``n`` and ``m`` alone, with no sort or merge of the values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

CHUNK = 1 << 18


def ks_statistic(us: Floats, vs: Floats) -> float:
    """``sup |F_u - F_v|`` of two non-empty ascending samples."""
    n, m = us.size, vs.size
    both = np.concatenate((us, vs))
    order = np.argsort(both, kind="stable")
    merged = both[order]
    del both
    from_u = order < n
    del order
    total = n + m
    sup = 0.0
    seen_u = 0
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        cu = np.cumsum(from_u[start:stop], dtype=np.int64)
        cu += seen_u
        seen_u = int(cu[-1])
        cv = np.arange(start + 1, stop + 1, dtype=np.int64) - cu
        # only the last of a run of ties holds the final value of F_u and F_v there
        last = np.diff(merged[start : min(stop + 1, total)]) > 0
        gap = np.abs(cu[: last.size][last] / n - cv[: last.size][last] / m)
        if gap.size:
            sup = max(sup, float(gap.max()))
    return sup


def wasserstein_distance(us: Floats, vs: Floats) -> float:
    """The first Wasserstein distance of two non-empty ascending samples."""
    n, m = us.size, vs.size
    if n == m:
        area = sum(float(np.abs(us[a : a + CHUNK] - vs[a : a + CHUNK]).sum()) for a in _starts(n))
        return area / n
    return (_steps(us, vs, first=True) + _steps(vs, us, first=False)) / (n * m)


def _starts(size: int) -> range:
    return range(0, size, CHUNK)


def _steps(own: Floats, other: Floats, *, first: bool) -> float:
    """The area of the steps that end at ``own``'s breakpoints, times ``n * m``.

    On the common scale ``n * m`` (``n`` own values, ``m`` other values), own's breakpoints
    are ``i * m`` and other's are ``j * n``. The step ending at ``e = i * m`` starts at the
    later of own's previous breakpoint and other's last breakpoint before ``e``; on it own
    takes its ``i``-th value and other its ``ceil(e / n)``-th. Where two breakpoints
    coincide, the side called ``first`` ends the step and the other side's step is empty.
    """
    n, m = own.size, other.size
    area = 0.0
    for a in _starts(n):
        i = np.arange(a + 1, min(a + CHUNK, n) + 1, dtype=np.int64)
        end = i * m
        k = (end - 1) // n
        before = k * n if first else (end // n) * n
        width = end - np.maximum(end - m, before)
        area += float(np.dot(width.astype(np.float64), np.abs(own[a : a + i.size] - other[k])))
    return area
