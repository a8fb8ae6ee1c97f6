"""Search pages against a reference computed in Python, on SQLite and on PostgreSQL.

The population has ties in the ordered metric, start times out of insertion order, runs
missing the ordered key and the filtered keys, and non-finite metric values, so that the
order (value, then newest start, then newest run), the conditions tested on the walked
index rows, the page boundaries and the building of ``Run`` entities are all exercised.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import TYPE_CHECKING

import pytest
from tests.unit.store.paging import all_pages

from modelcycle.core.entities.run import CodeVersion, Run
from modelcycle.core.filters import parse_filter, parse_order_by
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore, open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class _Logged:
    """What one run of the population logged, in creation order."""

    id: str
    start_time: int
    m: float | None
    f: float | None
    p: str | None


def _populate(store: SqlMetadataStore, count: int = 40) -> list[_Logged]:
    rng = random.Random(7)  # noqa: S311 - a reproducible population, not a secret
    project = store.projects.upsert("search", None)
    logged = []
    for _ in range(count):
        run_id = new_id()
        start = rng.choice([100, 200, 300, 400])  # duplicates: ties fall to the newest run
        store.runs.create(
            NewRun(run_id, project.id, None, None, start, None, None, CodeVersion(), None, {})
        )
        m = rng.choice([None, 0.0, 1.0, 1.0, 2.5])
        f = rng.choice([None, rng.random(), rng.random()])
        p = rng.choice([None, "a", "b"])
        metrics = [("x", rng.choice([math.nan, math.inf, -math.inf, 0.5]), 0, 0)]
        metrics += [(key, value, 0, 0) for key, value in (("m", m), ("f", f)) if value is not None]
        store.runs.log_batch(run_id, params={"p": p} if p else None, metrics=metrics)
        logged.append(_Logged(run_id, start, m, f, p))
    return logged


_FILTERS: dict[str | None, Callable[[_Logged], bool]] = {
    None: lambda r: True,
    "metrics.f > 0.3 and params.p = 'a'": lambda r: r.f is not None and r.f > 0.3 and r.p == "a",
    "params.p = 'a' or metrics.f is null": lambda r: r.p == "a" or r.f is None,
    "not metrics.f > 0.5": lambda r: not (r.f is not None and r.f > 0.5),
    "metrics.m >= 1 and params.p != 'b'": lambda r: (
        r.m is not None and r.m >= 1 and r.p is not None and r.p != "b"
    ),
}


def _expected(logged: list[_Logged], keep: Callable[[_Logged], bool], desc: bool) -> list[str]:
    """Runs with ``m`` by value (newest start, then newest run, first among ties), then
    the runs without it, newest start then newest run first."""
    chosen = [(index, run) for index, run in enumerate(logged) if keep(run)]
    with_m = [(i, r) for i, r in chosen if r.m is not None]
    without = [(i, r) for i, r in chosen if r.m is None]
    sign = -1 if desc else 1
    with_m.sort(key=lambda item: (sign * (item[1].m or 0.0), -item[1].start_time, -item[0]))
    without.sort(key=lambda item: (-item[1].start_time, -item[0]))
    return [r.id for _, r in with_m + without]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
@pytest.mark.parametrize("filter_text", list(_FILTERS))
def test_pages_follow_the_reference_order(
    store: SqlMetadataStore, filter_text: str | None, direction: str
) -> None:
    """Every page size gives the reference order, ties and missing keys included."""
    logged = _populate(store)
    expected = _expected(logged, _FILTERS[filter_text], direction == "DESC")
    expr = parse_filter(filter_text)
    keys = parse_order_by([f"metrics.m {direction}"])
    for limit in (1, 6, 17, 100):
        found = all_pages(store, expr, keys, limit)
        assert found == expected, (filter_text, direction, limit)


def test_search_builds_the_runs_get_builds(store: SqlMetadataStore) -> None:
    """A run from a search page equals the run ``get`` reads: a real, frozen ``Run``."""
    logged = _populate(store, count=8)
    page = store.runs.search(
        project_ids=None, expr=None, order_by=parse_order_by("metrics.m"), limit=50, offset=0
    )
    assert sorted(run.id for run in page) == sorted(run.id for run in logged)
    for run in page:
        assert type(run) is Run
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
            run.name = "changed"  # type: ignore[misc]
        stored = store.runs.get(run.id)
        assert dataclasses.replace(run, metrics={}) == dataclasses.replace(stored, metrics={})
        x = run.metrics["x"]
        assert x == stored.metrics["x"] or (math.isnan(x) and math.isnan(stored.metrics["x"]))
        assert {k: v for k, v in run.metrics.items() if k != "x"} == {
            k: v for k, v in stored.metrics.items() if k != "x"
        }
        assert hash(run.code) == hash(stored.code)
    xs = [run.metrics["x"] for run in page]
    assert all(isinstance(x, float) for x in xs)
    assert any(math.isnan(x) for x in xs) or any(math.isinf(x) for x in xs)


def test_a_search_analyzes_tables_postgresql_never_analyzed(postgres_url: str) -> None:
    """Before its first search, a store has PostgreSQL analyze the run tables it never did.

    Autovacuum is turned off on them first, so that only the search can have analyzed them.
    """
    metadata = open_metadata_store(postgres_url)
    try:
        names = ("runs", "latest_metrics", "params", "tags")
        with metadata.uow.write() as conn:
            for name in names:
                conn.exec_driver_sql(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")
        _populate(metadata, count=5)

        def tuples() -> dict[str, float]:
            with metadata.uow.read() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT relname, reltuples FROM pg_class WHERE relname IN "
                    "('runs', 'latest_metrics', 'params', 'tags')"
                ).all()
            return {str(name): float(count) for name, count in rows}

        assert tuples() == dict.fromkeys(names, -1.0)
        page = metadata.runs.search(
            project_ids=None, expr=None, order_by=parse_order_by("metrics.m"), limit=10, offset=0
        )
        assert len(page) == 5
        analyzed = tuples()
        assert analyzed["runs"] == 5.0
        assert all(count >= 0 for count in analyzed.values()), analyzed
    finally:
        metadata.close()
