"""``compute_drift``: compare every column of a current frame with a reference frame.

Columns are independent, so they are computed on a thread pool (numpy's sorts and polars'
counting release the GIL). Each column is cleaned once (nulls, NaN and infinities dropped and
counted), given the test the caller named or Evidently's default for its kind and size
(``defaults``), and scored; the dataset drifts when the share of drifted columns reaches
``drift_share``. Nothing is sampled: every row is read.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._column import Choices, compute_column
from modelcycle.services.monitor.drift._frames import (
    as_frame,
    choose_columns,
    column_kinds_of,
    plan_column,
)
from modelcycle.services.monitor.drift._protocol import is_number
from modelcycle.services.monitor.drift.registry import known_drift_tests, resolve_drift_test
from modelcycle.services.monitor.drift.report import DriftReport

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from modelcycle.core.entities.dataset import ColumnKind
    from modelcycle.services.monitor.drift._frames import ColumnPlan
    from modelcycle.services.monitor.drift._protocol import DriftTest
    from modelcycle.services.monitor.drift.report import ColumnDrift

__all__ = ["compute_drift"]


def compute_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    tests: str | DriftTest | Mapping[str, str | DriftTest] | None = None,
    thresholds: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    column_kinds: Mapping[str, ColumnKind | str] | None = None,
    workers: int | None = None,
    title: str | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        reference: the reference frame (polars, eager or lazy; pandas; pyarrow).
        current: the current frame, same kinds of input.
        columns: the columns to compare; by default every reference column.
        tests: one test for every column (a registered name such as ``"psi"``, or a
            ``DriftTest``), or a mapping from column to test; columns not named get
            Evidently's default for their kind and size.
        thresholds: one threshold for every test, or a mapping from test name to threshold;
            tests not named keep their default.
        drift_share: the share of drifted columns at which the dataset drifts (0 to 1].
        column_kinds: ``"numeric"`` or ``"categorical"`` by column, overriding the inference.
        workers: threads computing columns (default: one per CPU, at most one per column).
        title: a title for the report.

    Returns:
        The report: per-column results, the drifted columns, their share and the verdict.

    Raises:
        InvalidInput: a frame of another type or without rows; a column missing on a side or
            of different types on the two sides; an unknown test; a test that does not take
            a column's kind; a threshold or share out of range.
    """
    started = time.perf_counter()
    ref, cur = as_frame(reference, "reference"), as_frame(current, "current")
    names = choose_columns(ref, cur, columns)
    share = _check_share(drift_share)
    by_column = _tests_by_column(tests, names)
    extra = {t.name for t in by_column.values()}
    choices = Choices(tests=by_column, thresholds=_thresholds(thresholds, extra))
    kinds = column_kinds_of(column_kinds, names)
    plans = [plan_column(n, ref.get_column(n), cur.get_column(n), kinds.get(n)) for n in names]
    results = _run(plans, ref, cur, choices, workers)
    return DriftReport(
        columns={r.name: r for r in results},
        drift_share=share,
        reference_rows=ref.height,
        current_rows=cur.height,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        elapsed_seconds=time.perf_counter() - started,
        title=title,
    )


def _run(
    plans: list[ColumnPlan],
    ref: pl.DataFrame,
    cur: pl.DataFrame,
    choices: Choices,
    workers: int | None,
) -> list[ColumnDrift]:
    def one(plan: ColumnPlan) -> ColumnDrift:
        return compute_column(plan, ref.get_column(plan.name), cur.get_column(plan.name), choices)

    threads = min(workers or os.cpu_count() or 1, len(plans))
    if threads < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers!r}")
    if threads == 1:
        return [one(p) for p in plans]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drift") as pool:
        return list(pool.map(one, plans))


def _check_share(value: float) -> float:
    if not is_number(value) or not 0 < value <= 1:
        raise InvalidInput(f"drift_share must be a share in (0, 1], got {value!r}")
    return float(value)


def _tests_by_column(
    tests: str | DriftTest | Mapping[str, str | DriftTest] | None, names: Sequence[str]
) -> dict[str, DriftTest]:
    if tests is None:
        return {}
    if not isinstance(tests, Mapping):
        return dict.fromkeys(names, resolve_drift_test(tests))
    unknown = [c for c in tests if c not in names]
    if unknown:
        raise InvalidInput(
            f"tests names columns that are not compared: {unknown}; compared: {list(names)[:20]}"
        )
    return {column: resolve_drift_test(test) for column, test in tests.items()}


def _thresholds(
    thresholds: float | Mapping[str, float] | None, extra: set[str]
) -> float | dict[str, float] | None:
    if thresholds is None or isinstance(thresholds, float | int):
        if isinstance(thresholds, bool):
            raise InvalidInput(f"thresholds must be a number or a mapping, got {thresholds!r}")
        return thresholds
    if not isinstance(thresholds, Mapping):
        raise InvalidInput(
            f"thresholds must be a number or a mapping from test name to threshold, "
            f"got {type(thresholds).__name__}"
        )
    known = set(known_drift_tests()) | extra
    unknown = [name for name in thresholds if name not in known]
    if unknown:
        raise InvalidInput(
            f"thresholds names unknown drift tests {unknown}; known: {', '.join(sorted(known))}"
        )
    return dict(thresholds)
