"""Where the first phase of a search ordered by a key starts: the driver choice.

A search either walks the ordered key's index or starts from the rows of one condition of its
filter (the driver), whichever reads fewer rows (see ``_run_search``). The choice comes from an
estimate read first: how many rows each candidate condition matches, counted in its index up
to ``_COUNT_CAP``, and how many runs there are. A choice is then kept for ``_CHOICE_TTL_S``
per engine, conditions and page size, so that a search repeated within that time skips the
estimate.
"""

from __future__ import annotations

import functools
import time
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal_column, select

from modelcycle.core.filters import Namespace, Op
from modelcycle.store.metadata import _bulk
from modelcycle.store.metadata._compiled import compile_for_driver
from modelcycle.store.metadata._filters_sql import keyed_table, split_joinable, value_condition
from modelcycle.store.metadata._tables import runs

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Dialect, Engine

    from modelcycle.core.filters import Comparison, Expr

_ESTIMATE_CACHE_SIZE = 256
_COUNT_CAP = 1024
"""A candidate driver's matches are counted up to this many: reading more costs more than
the estimate can save, and a driver matching that many runs is worth starting from only
when the walk would read even more, which the estimate then cannot tell."""
_DRIVER_OPS = frozenset({Op.EQ, Op.IN, Op.LT, Op.LE, Op.GT, Op.GE})


def pick_driver(conn: Connection, expr: Expr | None, need: int) -> int | None:
    """Which joined condition of ``expr`` the first phase starts from; None to walk.

    ``need`` is how many rows the page reads (``limit + offset``). The choice is kept for
    ``_CHOICE_TTL_S`` per engine, conditions and ``need`` (see ``_Choices``).
    """
    joined, _ = split_joinable(expr)
    candidates = [index for index, cmp in enumerate(joined) if _can_drive(cmp)]
    if not candidates:
        return None
    choices = _choices.get(conn.engine)
    if choices is None:
        choices = _choices.setdefault(conn.engine, _Choices())
    known = choices.get(joined, need)
    if known is not None:
        return known[0]
    sql, params = _estimate(joined, conn.dialect)
    *counts, runs_count = _bulk.run(conn, sql, params).rows[0]
    choice = choose_driver(
        [(index, counts[position]) for position, index in enumerate(candidates)],
        runs_count or 0,
        need,
    )
    choices.put(joined, need, choice)
    return choice


_CHOICE_TTL_S = 2.0
_CHOICES_KEPT = 256


class _Choices:
    """The drivers chosen lately on one engine, each kept for ``_CHOICE_TTL_S``.

    A search repeated within that time (a page of results refreshed, the next page) skips the
    estimate: a statement, and a round trip on PostgreSQL. Counts move slowly next to it, and
    a stale choice can only make a search slower, never change what it finds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[tuple[tuple[Comparison, ...], int], tuple[int | None, float]] = {}

    def get(self, joined: tuple[Comparison, ...], need: int) -> tuple[int | None] | None:
        """The choice made for these conditions and ``need`` (in a 1-tuple); None if expired."""
        kept = self._kept.get((joined, need))
        if kept is None or kept[1] < self._clock():
            return None
        return (kept[0],)

    def put(self, joined: tuple[Comparison, ...], need: int, choice: int | None) -> None:
        """Keep ``choice`` for ``_CHOICE_TTL_S`` (forgetting every other one when full)."""
        if len(self._kept) >= _CHOICES_KEPT:
            self._kept.clear()
        self._kept[(joined, need)] = (choice, self._clock() + _CHOICE_TTL_S)


_choices: weakref.WeakKeyDictionary[Engine, _Choices] = weakref.WeakKeyDictionary()


def choose_driver(counts: list[tuple[int, int]], runs_count: int, need: int) -> int | None:
    """The condition to start from, given ``(index, matching rows)`` of each candidate.

    The walk reads about ``need`` divided by the filter's selectivity, taken as the
    product of the candidates' (the conditions are assumed independent; the others are not
    counted, which only makes the walk look cheaper). A count at ``_COUNT_CAP`` is a lower
    bound, and such a candidate is never chosen.
    """
    if runs_count <= 0:
        return None
    walk = float(need)
    for _, count in counts:
        walk *= runs_count / count if count else runs_count
    index, fewest = min(counts, key=lambda item: item[1])
    if fewest < _COUNT_CAP and fewest < min(walk, runs_count):
        return index
    return None


def _can_drive(cmp: Comparison) -> bool:
    """Whether an index bounds the rows ``cmp`` matches (``(key, value)`` and friends)."""
    if cmp.op not in _DRIVER_OPS:
        return False
    return not (cmp.field.namespace is Namespace.TAGS and isinstance(cmp.value, float))


@functools.lru_cache(maxsize=_ESTIMATE_CACHE_SIZE)
def _estimate(
    joined: tuple[Comparison, ...], dialect: Dialect
) -> tuple[str, tuple[Any, ...] | dict[str, Any]]:
    """The statement of the estimate: one row of counts.

    The rows each candidate driver matches (up to ``_COUNT_CAP``), then how many runs there
    are (the highest ``pk``: a bound read from the end of the primary key).
    """
    counts = []
    for cmp in joined:
        if not _can_drive(cmp):
            continue
        table = keyed_table(cmp.field.namespace)
        matching = (
            select(literal_column("1"))
            .select_from(table)
            .where(table.c.key == cmp.field.key, value_condition(table, cmp))
            .limit(_COUNT_CAP)
            .subquery()
        )
        counts.append(select(func.count()).select_from(matching).scalar_subquery())
    sql, params, _ = compile_for_driver(
        select(*counts, select(func.max(runs.c.pk)).scalar_subquery()), dialect
    )
    return sql, params
