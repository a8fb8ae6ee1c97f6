"""Which way a search ordered by a metric reads its first phase, and that both ways agree.

A search either walks the ordered key's index or starts from the rows of one condition of
its filter (a driver), from an estimate it reads first. The store here has 300 runs with a
param ``p`` of three values, one of them rare, so that the same filter is read both ways as
the page grows.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from tests.unit.store.paging import all_pages

from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.filters import parse_filter, parse_order_by
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore
from modelcycle.store.metadata import _search_driver as search_driver
from modelcycle.store.metadata._filters_sql import split_joinable

if TYPE_CHECKING:
    import pytest


def test_the_walk_is_kept_while_it_reads_fewer_rows_than_the_driver() -> None:
    """A page of 10 over 1,000 runs, half of them matching: walking reads about 20 rows."""
    assert search_driver.choose_driver([(0, 500)], 1000, 10) is None


def test_a_selective_condition_drives() -> None:
    """30 matching runs of 1,000 read fewer rows than a walk to 100 of them would (3,300)."""
    assert search_driver.choose_driver([(0, 400), (1, 30)], 1000, 100) == 1


def test_the_estimated_selectivity_multiplies_the_conditions() -> None:
    """Two halves leave a quarter: a page of 100 walks about 400 runs, more than 300."""
    assert search_driver.choose_driver([(0, 500), (1, 300)], 1000, 100) == 1
    assert search_driver.choose_driver([(0, 900), (1, 300)], 1000, 50) is None


def test_a_count_at_the_cap_never_drives() -> None:
    """A count that stopped at the cap may stand for any number of rows above it."""
    cap = search_driver._COUNT_CAP
    assert search_driver.choose_driver([(0, cap)], 10 * cap, 10 * cap) is None


def test_an_empty_store_or_condition() -> None:
    """No runs: nothing to choose; a condition no run meets drives (it reads nothing)."""
    assert search_driver.choose_driver([(0, 0)], 0, 100) is None
    assert search_driver.choose_driver([(0, 0), (1, 700)], 1000, 100) == 0


def _populate(store: SqlMetadataStore, count: int = 300) -> list[tuple[str, int, float, str]]:
    rng = random.Random(11)  # noqa: S311 - a reproducible population, not a secret
    project = store.projects.upsert("plans", None)
    logged = []
    for _ in range(count):
        run_id = new_id()
        start = rng.choice([100, 200, 300])
        store.runs.create(
            NewRun(run_id, project.id, None, None, start, None, None, CodeVersion(), None, {})
        )
        p = rng.choice(
            ["common", "common", "common", "other", "rare"] if rng.random() > 0.1 else ["rare"]
        )
        m = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])  # ties: the order falls to start, then run
        store.runs.log_batch(
            run_id, params={"p": p}, metrics=[("m", m, 0, 0), ("f", rng.random(), 0, 0)]
        )
        logged.append((run_id, start, m, p))
    return logged


def test_both_ways_give_the_reference_pages(store: SqlMetadataStore) -> None:
    """Pages of a filter with a rare param, read by walking and from the driver, equal the
    reference, and the estimate chose each way for some page size."""
    logged = _populate(store)
    expr = parse_filter("params.p = 'rare' and metrics.f > 0.2")
    keys = parse_order_by(["metrics.m DESC"])
    with store.uow.read() as conn:
        f_of: dict[str, float] = dict(
            conn.exec_driver_sql(
                "SELECT r.id, m.value FROM runs r JOIN latest_metrics m ON m.run_pk = r.pk "
                "WHERE m.key = 'f'"
            ).all()
        )
    chosen = [
        (index, run) for index, run in enumerate(logged) if run[3] == "rare" and f_of[run[0]] > 0.2
    ]
    chosen.sort(key=lambda item: (-item[1][2], -item[1][1], -item[0]))
    expected = [run[0] for _, run in chosen]
    joined, _ = split_joinable(expr)
    ways = set()
    for limit in (1, 3, 20, 200):
        with store.uow.read() as conn:
            ways.add(search_driver.pick_driver(conn, expr, limit) is not None)
        found = all_pages(store, expr, keys, limit)
        assert found == expected, limit
    assert ways == {True, False}, joined


def test_a_choice_is_kept_for_a_while_then_estimated_again(
    store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated search skips the estimate until its choice expires; the page stays right."""
    _populate(store, 60)
    expr = parse_filter("params.p = 'rare' and metrics.f > 0.2")
    keys = parse_order_by(["metrics.m DESC"])
    estimated: list[Any] = []
    real = search_driver._estimate

    def counted(joined: Any, dialect: Any) -> Any:
        estimated.append(joined)
        return real(joined, dialect)

    monkeypatch.setattr(search_driver, "_estimate", counted)
    now = [100.0]
    search_driver._choices[store.uow.engine] = search_driver._Choices(clock=lambda: now[0])

    def page(limit: int) -> list[str]:
        runs = store.runs.search(project_ids=None, expr=expr, order_by=keys, limit=limit, offset=0)
        return [run.id for run in runs]

    first = page(5)
    assert first == all_pages(store, expr, keys, 5)[:5]
    estimated.clear()
    assert page(5) == first
    assert estimated == []  # the choice made for this page is kept
    page(7)  # another page size is another choice
    assert len(estimated) == 1
    now[0] += search_driver._CHOICE_TTL_S + 0.1
    assert page(5) == first
    assert len(estimated) == 2
