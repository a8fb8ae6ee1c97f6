"""Metrics of every slice of a column at once, from per-row arrays summed with ``bincount``.

Counting metrics (accuracy, precision, recall, F1, log loss, MAE, RMSE, MAPE, R²) and the
binary ROC AUC (from ranks within each slice, the Mann-Whitney form) are computed for all
slices in a few vectorised passes; the rest (PR AUC, multiclass ROC AUC, median AE) call the
scikit-learn metric once per slice on that slice's rows. Undefined values are NaN.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from modelcycle.services.evaluate._metrics import metric_value

if TYPE_CHECKING:
    from modelcycle.services.evaluate._inputs import Outcome


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = np.nan) -> np.ndarray:
    out = np.full(num.shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


class GroupedMetrics:
    """Per-slice metrics of one outcome; per-row arrays are computed once and reused."""

    def __init__(self, outcome: Outcome) -> None:
        self.o = outcome

    @functools.cached_property
    def _correct(self) -> np.ndarray:
        return np.asarray(self.o.y == self.o.pred, dtype=np.float64)

    @functools.cached_property
    def _row_loss(self) -> np.ndarray:
        proba = self.o.proba
        if proba is None:
            return np.full(self.o.y.size, np.nan)
        eps = np.finfo(proba.dtype).eps
        p_true = np.take_along_axis(proba, self.o.y[:, None], axis=1)[:, 0]
        return np.asarray(-np.log(np.clip(p_true, eps, 1 - eps)), dtype=np.float64)

    @functools.cached_property
    def _score_rank(self) -> np.ndarray:
        proba = self.o.proba
        if proba is None:
            return np.zeros(self.o.y.size, np.int64)
        return np.asarray(np.unique(proba[:, 1], return_inverse=True)[1], dtype=np.int64)

    def compute(self, name: str, codes: np.ndarray, size: int) -> np.ndarray:
        """Metric ``name`` of each slice ``0..size-1`` given each row's slice ``codes``."""
        o = self.o
        if name in {"roc_auc", "log_loss", "pr_auc"} and o.proba is None:
            return np.full(size, np.nan)
        n = np.bincount(codes, minlength=size).astype(np.float64)
        if name == "accuracy":
            return _ratio(np.bincount(codes, self._correct, size), n)
        if name == "log_loss":
            return _ratio(np.bincount(codes, self._row_loss, size), n)
        if o.problem == "binary" and name in {"precision", "recall", "f1"}:
            return self._binary_counts(name, codes, size)
        if o.problem == "binary" and name == "roc_auc":
            return self._binary_auc(codes, size)
        if o.problem == "multiclass" and name.partition("_")[0] in {"precision", "recall", "f1"}:
            return self._multiclass_counts(name, codes, size)
        if o.problem == "regression" and name in {"mae", "rmse", "mape", "r2"}:
            return self._regression_sums(name, codes, size, n)
        return self._per_slice(name, codes, size)

    def _binary_counts(self, name: str, codes: np.ndarray, size: int) -> np.ndarray:
        y1, p1 = self.o.y == 1, self.o.pred == 1
        tp = np.bincount(codes, (y1 & p1).astype(np.float64), size)
        fp = np.bincount(codes, (~y1 & p1).astype(np.float64), size)
        fn = np.bincount(codes, (y1 & ~p1).astype(np.float64), size)
        if name == "precision":
            return _ratio(tp, tp + fp, 0.0)
        if name == "recall":
            return _ratio(tp, tp + fn, 0.0)
        return _ratio(2 * tp, 2 * tp + fp + fn, 0.0)

    def _binary_auc(self, codes: np.ndarray, size: int) -> np.ndarray:
        rank = self._score_rank
        span = int(rank.max()) + 1
        key = codes * span + rank
        uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        starts = np.cumsum(counts) - counts
        group_start = starts[np.searchsorted(uniq, (uniq // span) * span)]
        mid_rank = (starts - group_start) + (counts + 1) / 2.0  # ties share their mean rank
        row_rank = mid_rank[inverse]
        pos = (self.o.y == 1).astype(np.float64)
        n_pos = np.bincount(codes, pos, size)
        n_neg = np.bincount(codes, minlength=size) - n_pos
        rank_sum = np.bincount(codes, row_rank * pos, size)
        return _ratio(rank_sum - n_pos * (n_pos + 1) / 2.0, n_pos * n_neg)

    def _multiclass_counts(self, name: str, codes: np.ndarray, size: int) -> np.ndarray:
        k = self.o.n_classes
        shape = (size, k)
        true = np.bincount(codes * k + self.o.y, minlength=size * k).reshape(shape)
        pred = np.bincount(codes * k + self.o.pred, minlength=size * k).reshape(shape)
        tp = np.bincount(codes * k + self.o.y, self._correct, size * k).reshape(shape)
        kind, _, average = name.partition("_")
        den = {"precision": pred, "recall": true, "f1": (pred + true) / 2.0}[kind]
        per_class = _ratio(tp, den.astype(np.float64), 0.0)
        if average == "weighted":
            return _ratio((per_class * true).sum(axis=1), true.sum(axis=1).astype(np.float64))
        seen = (true + pred) > 0  # scikit-learn averages over the labels present in the rows
        return _ratio((per_class * seen).sum(axis=1), seen.sum(axis=1).astype(np.float64))

    def _regression_sums(
        self, name: str, codes: np.ndarray, size: int, n: np.ndarray
    ) -> np.ndarray:
        y, err = self.o.y, self.o.y - self.o.pred
        if name == "mae":
            return _ratio(np.bincount(codes, np.abs(err), size), n)
        if name == "rmse":
            return np.asarray(np.sqrt(_ratio(np.bincount(codes, err * err, size), n)))
        if name == "mape":
            zero = np.bincount(codes, (y == 0).astype(np.float64), size) > 0
            ape = np.abs(err) / np.where(y == 0, 1.0, np.abs(y))
            out = _ratio(np.bincount(codes, ape, size), n)
            out[zero] = np.nan
            return out
        total, squares = np.bincount(codes, y, size), np.bincount(codes, y * y, size)
        spread = squares - _ratio(total * total, n, 0.0)
        spread = np.where(spread > 1e-10 * squares, spread, 0.0)  # constant within rounding
        out = 1.0 - _ratio(np.bincount(codes, err * err, size), spread)
        out[n < 2] = np.nan
        return out

    def _per_slice(self, name: str, codes: np.ndarray, size: int) -> np.ndarray:
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=size))
        out = np.full(size, np.nan)
        for g, rows in enumerate(np.split(order, bounds[:-1])):
            if rows.size:
                value = metric_value(name, self.o.take(rows))
                out[g] = np.nan if value is None else value
        return out
