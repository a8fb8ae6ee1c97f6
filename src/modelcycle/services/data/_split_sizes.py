"""Whole-row sizes for split parts: exact totals, each part close to its fraction."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def part_sizes(total: int, fractions: npt.NDArray[np.float64]) -> IntArray:
    """Largest-remainder rounding of ``total * fractions``; ties go to the earlier part."""
    ideal = total * fractions
    sizes = np.floor(ideal).astype(np.int64)
    short = total - int(sizes.sum())
    order = np.argsort(-(ideal - sizes), kind="stable")
    sizes[order[:short]] += 1
    return sizes


def stratified_counts(
    class_sizes: IntArray, targets: IntArray, fractions: npt.NDArray[np.float64]
) -> IntArray:
    """Rows of each class (rows of the result) for each part (columns).

    Row sums are the class sizes and column sums the part sizes ``targets``, so parts are exact;
    each cell is close to ``class size * fraction``. A class with at least one row per part gets
    at least one row in every part, as long as the part has room for every such class.
    """
    ideal = np.outer(class_sizes, fractions)
    floor_ = np.minimum(np.floor(ideal).astype(np.int64), class_sizes[:, None])
    lower = np.where(class_sizes[:, None] >= len(targets), 1, 0) * np.ones_like(floor_)
    counts: IntArray = np.maximum(floor_, lower).astype(np.int64)
    _trim_rows(counts, class_sizes, ideal, lower)
    _fill_rows(counts, class_sizes, targets, ideal)
    _balance_columns(counts, targets, ideal, lower)
    return counts


def _trim_rows(counts: IntArray, class_sizes: IntArray, ideal: np.ndarray, lower: IntArray) -> None:
    # Raising small cells to one row may overshoot a class: take back from the most over-served.
    for row in np.nonzero(counts.sum(axis=1) > class_sizes)[0]:
        while counts[row].sum() > class_sizes[row]:
            excess = np.where(counts[row] > lower[row], counts[row] - ideal[row], -np.inf)
            counts[row, int(np.argmax(excess))] -= 1


def _fill_rows(
    counts: IntArray, class_sizes: IntArray, targets: IntArray, ideal: np.ndarray
) -> None:
    # Hand each class its remaining rows, preferring parts still short of their size.
    for row in range(len(class_sizes)):
        for _ in range(int(class_sizes[row] - counts[row].sum())):
            room = targets - counts.sum(axis=0)
            need = ideal[row] - counts[row]
            score = np.where(room > 0, need, need - 1e9)
            counts[row, int(np.argmax(score))] += 1


def _balance_columns(
    counts: IntArray, targets: IntArray, ideal: np.ndarray, lower: IntArray
) -> None:
    # Move single rows from over-full parts to short ones, within a class, least harm first.
    while True:
        gap = counts.sum(axis=0) - targets
        if not gap.any():
            return
        over, under = int(np.argmax(gap)), int(np.argmin(gap))
        floor_ = lower[:, over] if (counts[:, over] > lower[:, over]).any() else 0
        movable = counts[:, over] > floor_
        harm = (ideal[:, under] - counts[:, under]) + (counts[:, over] - ideal[:, over])
        row = int(np.argmax(np.where(movable, harm, -np.inf)))
        counts[row, over] -= 1
        counts[row, under] += 1
