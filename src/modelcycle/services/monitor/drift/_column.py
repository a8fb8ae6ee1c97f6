"""One column's drift: clean both sides once, choose the test, score it, keep what to plot.

A numeric column is reduced to its sorted finite values once; the test, the default choice
(distinct values) and the report's histogram all read those sorted arrays. A categorical
column is counted once for the default choice and the report's bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._buffers import SortBuffers
from modelcycle.services.monitor.drift._protocol import check_threshold
from modelcycle.services.monitor.drift.binned_tests import distinct_count, sorted_histogram
from modelcycle.services.monitor.drift.defaults import FEW_NUMBERS, default_test
from modelcycle.services.monitor.drift.registry import get_drift_test
from modelcycle.services.monitor.drift.report import ColumnDrift, Distribution
from modelcycle.services.monitor.drift.values import (
    CategoryCounts,
    category_counts,
    counted_once,
    present,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy.typing as npt

    from modelcycle.services.monitor.drift._frames import ColumnPlan
    from modelcycle.services.monitor.drift._protocol import ColumnValues, DriftTest

REPORT_BINS = 30
REPORT_CATEGORIES = 20
TEXT_DISTINCT_SHARE = 0.5  # Evidently reads a string column this varied as free text


@dataclass(frozen=True, slots=True)
class Choices:
    """What the caller chose (tests by column, thresholds), and the scratch arrays to sort in."""

    tests: Mapping[str, DriftTest]
    thresholds: Mapping[str, float] | float | None
    buffers: SortBuffers = field(default_factory=SortBuffers)


def compute_column(
    plan: ColumnPlan, reference: pl.Series, current: pl.Series, choices: Choices
) -> ColumnDrift:
    """The drift of one column, or a ``ColumnDrift`` saying why it was not tested.

    Raises:
        InvalidInput: the chosen test does not take the column's kind, or its values.
    """
    base = _Base(plan, reference.len(), current.len())
    if plan.reason is not None:
        return base.untested(plan.reason, reference.null_count(), current.null_count())
    try:
        if plan.kind is ColumnKind.NUMERIC:
            us = choices.buffers.sorted_finite(reference, 0)
            vs = choices.buffers.sorted_finite(current, 1)
            return _numeric(base, us, vs, choices)
        with counted_once():
            return _categorical(base, present(reference), present(current), choices)
    except InvalidInput as exc:
        raise InvalidInput(f"column {plan.name!r}: {exc.message}") from exc


@dataclass(frozen=True, slots=True)
class _Base:
    plan: ColumnPlan
    reference_rows: int
    current_rows: int

    def untested(self, reason: str, ref_dropped: int, cur_dropped: int) -> ColumnDrift:
        return self.result(None, None, ref_dropped, cur_dropped, None, reason=reason)

    def result(
        self,
        test: DriftTest | None,
        scored: tuple[float, bool, float] | None,
        ref_dropped: int,
        cur_dropped: int,
        distribution: Distribution | None,
        reason: str | None = None,
    ) -> ColumnDrift:
        return ColumnDrift(
            name=self.plan.name,
            kind=self.plan.kind,
            test=None if test is None else test.name,
            score=None if scored is None else scored[0],
            threshold=None if scored is None else scored[2],
            drifted=False if scored is None else scored[1],
            higher_is_drift=None if test is None else test.spec.higher_is_drift,
            label=None if test is None else test.spec.label,
            reference_rows=self.reference_rows,
            current_rows=self.current_rows,
            reference_nulls=ref_dropped,
            current_nulls=cur_dropped,
            reason=reason,
            distribution=distribution,
        )


def _empty_reason(ref_present: int, cur_present: int) -> str | None:
    sides = [s for s, n in (("reference", ref_present), ("current", cur_present)) if n == 0]
    if not sides:
        return None
    return f"no values in the {' or '.join(sides)} (all null, NaN or infinite)"


def _score(
    test: DriftTest,
    kind: ColumnKind,
    reference: ColumnValues,
    current: ColumnValues,
    choices: Choices,
) -> tuple[float, bool, float]:
    if kind not in test.spec.kinds:
        takes = " or ".join(sorted(k.value for k in test.spec.kinds))
        raise InvalidInput(
            f"drift test {test.name!r} takes {takes} columns, not {kind.value} ones; name "
            f"another test for it in tests={{...}} or change its kind in column_kinds={{...}}"
        )
    given = choices.thresholds
    if isinstance(given, int | float):
        threshold = given
    else:
        threshold = (given or {}).get(test.name, test.spec.default_threshold)
    threshold = check_threshold(threshold, p_value=not test.spec.higher_is_drift, name=test.name)
    score, drifted = test.score(reference, current, kind, threshold)
    return float(score), bool(drifted), threshold


def _numeric(
    base: _Base, us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64], choices: Choices
) -> ColumnDrift:
    dropped = (base.reference_rows - us.size, base.current_rows - vs.size)
    reason = _empty_reason(us.size, vs.size)
    if reason is not None:
        return base.untested(reason, *dropped)
    test = choices.tests.get(base.plan.name)
    read_as = ColumnKind.NUMERIC
    if test is None:
        test = get_drift_test(default_test(ColumnKind.NUMERIC, us.size, _distinct(us, vs)))
        if ColumnKind.NUMERIC not in test.spec.kinds:
            # a few distinct numbers: the default reads them as categories, as Evidently does
            read_as = ColumnKind.CATEGORICAL
    scored = _score(test, read_as, us, vs, choices)
    return base.result(test, scored, *dropped, _histogram(us, vs))


def _distinct(us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64]) -> int:
    """Distinct values over both sorted sides, exact up to ``FEW_NUMBERS + 1``."""
    for side in (us, vs):
        count = distinct_count(side)
        if count > FEW_NUMBERS:
            return count
    return int(np.union1d(us, vs).size)


def _histogram(us: npt.NDArray[np.float64], vs: npt.NDArray[np.float64]) -> Distribution:
    low, high = float(min(us[0], vs[0])), float(max(us[-1], vs[-1]))
    edges = np.linspace(low, high, REPORT_BINS + 1) if high > low else np.array([low, low + 1.0])
    return Distribution(
        edges=tuple(float(e) for e in edges),
        categories=None,
        reference=tuple(int(c) for c in sorted_histogram(us, edges)),
        current=tuple(int(c) for c in sorted_histogram(vs, edges)),
    )


def _categorical(
    base: _Base, reference: pl.Series, current: pl.Series, choices: Choices
) -> ColumnDrift:
    dropped = (base.reference_rows - reference.len(), base.current_rows - current.len())
    reason = _empty_reason(reference.len(), current.len())
    if reason is not None:
        return base.untested(reason, *dropped)
    counts = category_counts(reference, current)
    test = choices.tests.get(base.plan.name)
    if base.plan.text_check and test is None:
        distinct = int(np.count_nonzero(counts.reference))
        if distinct > TEXT_DISTINCT_SHARE * reference.len():
            name = base.plan.name
            reason = (
                f"free text ({distinct:,} distinct of {reference.len():,} reference values): "
                f"text drift is not built; pass column_kinds={{{name!r}: 'categorical'}} to "
                "compare its values as categories"
            )
            return base.untested(reason, *dropped)
    if test is None:
        test = get_drift_test(
            default_test(ColumnKind.CATEGORICAL, reference.len(), counts.labels.len())
        )
    scored = _score(test, ColumnKind.CATEGORICAL, reference, current, choices)
    return base.result(test, scored, *dropped, _bars(counts))


def _bars(counts: CategoryCounts) -> Distribution:
    total = counts.reference / max(counts.reference_total, 1) + counts.current / max(
        counts.current_total, 1
    )
    top = np.argsort(-total, kind="stable")[:REPORT_CATEGORIES]
    labels = counts.labels.gather(top).cast(pl.String).fill_null("(null)").to_list()
    ref, cur = counts.reference[top], counts.current[top]
    return Distribution(
        edges=None,
        categories=tuple(str(v) for v in labels),
        reference=tuple(int(c) for c in ref),
        current=tuple(int(c) for c in cur),
        reference_other=counts.reference_total - int(ref.sum()),
        current_other=counts.current_total - int(cur.sum()),
    )
