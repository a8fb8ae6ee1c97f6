"""The statements of a run search, built once per shape of query.

Ordering by a metric, param or tag runs in two phases: first the runs that have a value for
the key, in order; then the runs that have none, which sort last in either direction.

The first phase reads runs one of two ways. It walks the ordered key's index and stops after
one page, testing the filter's conditions on each walked row: that reads about
``limit / selectivity`` rows whatever the size of the store. Or, when a condition of the
filter is met by fewer runs than that walk would read, it starts from that condition's index
(the driver), tests the other conditions and sorts what is left. Which costs less is decided
per search from an estimate of how many rows each candidate driver matches
(``_search_driver``). Over a thousand runs a filter such as
``metrics.m0 > 0.5 and params.p0 = 'a'`` starts from the param (about 330 rows instead of 600
walked); over a hundred thousand it walks. The choice changes how the page is read, never
what it holds: both orders are total (value, newest start, newest run).
"""

from __future__ import annotations

import functools
import itertools
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Integer, and_, bindparam, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.selectable import Join

from modelcycle.core.filters import Namespace
from modelcycle.store.metadata import _bulk
from modelcycle.store.metadata._compiled import compile_for_driver
from modelcycle.store.metadata._filters_sql import (
    compile_filter,
    compile_order,
    keyed_table,
    split_joinable,
    value_condition,
)
from modelcycle.store.metadata._run_rows import page_columns
from modelcycle.store.metadata._search_driver import pick_driver
from modelcycle.store.metadata._tables import projects, runs

if TYPE_CHECKING:
    from sqlalchemy import BindParameter, ColumnElement, FromClause, Select
    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.sql.compiler import SQLCompiler

    from modelcycle.core.filters import Comparison, Expr, OrderKey

_QUERY_CACHE_SIZE = 256


def search_rows(
    conn: Connection,
    project_ids: tuple[int, ...] | None,
    expr: Expr | None,
    order_by: tuple[OrderKey, ...],
    limit: int,
    offset: int,
    *,
    one_statement: bool = False,
) -> list[Any] | None:
    """One page of run rows (selected with ``page_columns`` of the connection's dialect).

    With ``one_statement``, None when the page needs a second statement (see the module's
    docstring): the caller reads it again in a transaction, so that both agree.
    """
    dialect = conn.dialect.name
    if not order_by or order_by[0].field.namespace is Namespace.ATTRIBUTES:
        query = _plain_search(project_ids, expr, order_by, dialect)
        return _prepared(query, conn.dialect).rows(conn, limit, offset)
    driver = pick_driver(conn, expr, limit + offset)
    phase_a, phase_b = _keyed_search(project_ids, expr, order_by, dialect, driver)
    if driver is None:
        page_a = _prepared(phase_a, conn.dialect)
    else:
        page_a = _prepared(_narrowed(phase_a, dialect), conn.dialect, paged=True)
    rows = page_a.rows(conn, limit, offset)
    if len(rows) == limit:
        return rows
    if one_statement:
        return None
    if rows or offset == 0:
        count_a = offset + len(rows)
    else:
        count_a = conn.execute(
            select(func.count()).select_from(phase_a.order_by(None).subquery())
        ).scalar_one()
    rest = _prepared(phase_b, conn.dialect)
    rows.extend(rest.rows(conn, limit - len(rows), max(0, offset - count_a)))
    return rows


class _Prepared(NamedTuple):
    """A search statement compiled for one dialect, run through the driver.

    Searches repeat a few shapes; compiling each once and handing the driver its text and
    parameters skips SQLAlchemy's per-execution work (cache key, result processing), a
    third of a small search. Rows come back as the driver returns them. The page's limit
    and offset are bound parameters (``_LIMIT``, ``_OFFSET``); with positional parameters
    ``page_at`` holds their positions.
    """

    sql: str
    params: tuple[Any, ...] | dict[str, Any]
    page_at: tuple[int, int]

    def rows(self, conn: Connection, limit: int, offset: int) -> list[Any]:
        params = self.params
        if isinstance(params, dict):
            bound: list[Any] | dict[str, Any] = {**params, _LIMIT: limit, _OFFSET: offset}
        else:
            bound = list(params)
            bound[self.page_at[0]], bound[self.page_at[1]] = limit, offset
        return _bulk.run(conn, self.sql, bound).rows


_LIMIT, _OFFSET = "mc_page_limit", "mc_page_offset"


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _prepared(query: Select[Any], dialect: Dialect, *, paged: bool = False) -> _Prepared:
    """``query`` compiled with a page: a ``LIMIT`` added, unless it is ``paged`` already."""
    if not paged:
        query = query.limit(_page_bound(_LIMIT)).offset(_page_bound(_OFFSET))
    sql, params, names = compile_for_driver(query, dialect)
    if isinstance(params, dict):
        return _Prepared(sql, params, (0, 0))
    return _Prepared(sql, params, (names.index(_LIMIT), names.index(_OFFSET)))


def _page_bound(name: str) -> BindParameter[int]:
    return bindparam(name, 0, type_=Integer)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _narrowed(phase_a: Select[Any], dialect: str) -> Select[Any]:
    """The page of ``phase_a`` (started from a driver), sorted on its order terms alone.

    The runs that pass are sorted on their order terms and ``pk``, and only the page's runs
    are read whole: a fifth faster on SQLite than sorting whole result rows. On PostgreSQL
    the runs that pass are first a materialized CTE: left to plan the page as one
    statement, with statistics taken while the runs were still being written, it walked the
    ordered key's index comparing each walked row with every driver row (a search over 1,000
    runs took 9 ms instead of 1.7). The page's ``LIMIT`` and ``OFFSET`` are its own.
    """
    terms = list(phase_a._order_by_clauses)  # the terms it was built with
    keys = [_sorted_on(term).label(f"order_{index}") for index, term in enumerate(terms)]
    passing = phase_a.with_only_columns(runs.c.pk.label("run_pk"), *keys)
    if dialect == "postgresql":
        found = passing.order_by(None).cte("passing").prefix_with("MATERIALIZED")
        passing = select(found).order_by(
            *(_like(term, found.c[f"order_{index}"]) for index, term in enumerate(terms))
        )
    page = passing.limit(_page_bound(_LIMIT)).offset(_page_bound(_OFFSET)).subquery("page")
    ordering = [_like(term, page.c[f"order_{index}"]) for index, term in enumerate(terms)]
    return (
        select(*page_columns(dialect))
        .select_from(_InOrder(page, runs, runs.c.pk == page.c.run_pk))
        .join(projects, projects.c.id == runs.c.project_id)
        .order_by(*ordering)
    )


def _sorted_on(term: ColumnElement[Any]) -> ColumnElement[Any]:
    """What an ORDER BY term sorts on (its column, without ``ASC``/``DESC``)."""
    if isinstance(term, UnaryExpression) and term.modifier in (operators.desc_op, operators.asc_op):
        return term.element
    return term


def _like(term: ColumnElement[Any], column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` sorted in the direction of ``term``."""
    if isinstance(term, UnaryExpression) and term.modifier is operators.desc_op:
        return column.desc()
    return column.asc()


class _InOrder(Join):
    """An inner join whose left side SQLite must read first (``CROSS JOIN ... ON``).

    Without statistics SQLite may drive a search from a filtered key's index, reading every
    run that passes the filter before sorting them, where walking the ordered key's index
    stops after one page. Elsewhere this is a plain ``JOIN``.
    """

    inherit_cache = True


@compiles(_InOrder, "sqlite")
def _in_order_on_sqlite(join: _InOrder, compiler: SQLCompiler, **kw: Any) -> str:
    kw.pop("asfrom", None)
    linter = kw.get("from_linter")
    if linter:  # the two sides are joined, as SQLAlchemy's own joins tell its linter
        linter.edges.update(itertools.product(join.left._from_objects, join.right._from_objects))
    left = compiler.process(join.left, asfrom=True, **kw)
    right = compiler.process(join.right, asfrom=True, **kw)
    if join.onclause is None:
        return f"{left} CROSS JOIN {right}"
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


_SEARCHED_TABLES = ("runs", "latest_metrics", "params", "tags")
_NEVER_ANALYZED = (
    "SELECT c.relname FROM unnest(%s::text[]) AS t(name) "
    "JOIN pg_class c ON c.oid = to_regclass(t.name) WHERE c.reltuples < 0"
)
_checked_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def ensure_statistics(conn: Connection) -> None:
    """On PostgreSQL, analyze the searched tables the server has never analyzed.

    Without statistics PostgreSQL takes every table for one row and plans nested loops that
    read every run once per matching param (20 ms instead of 2 over 1,000 runs), until
    autovacuum analyzes the tables, a minute or more after the runs were written. Checked
    once per engine; a user who does not own the tables gets a warning from the server, no
    error.
    """
    engine = conn.engine
    if conn.dialect.name != "postgresql" or engine in _checked_engines:
        return
    never = _bulk.run(conn, _NEVER_ANALYZED, (list(_SEARCHED_TABLES),)).rows
    if never:
        _bulk.run(conn, "ANALYZE " + ", ".join(name for (name,) in never))
    _checked_engines.add(engine)


def count_query(project_ids: tuple[int, ...] | None, expr: Expr | None) -> Select[Any]:
    """How many runs match."""
    query = select(func.count()).select_from(runs)
    if project_ids is not None:
        query = query.where(runs.c.project_id.in_(project_ids))
    if expr is not None:
        query = query.join(projects, projects.c.id == runs.c.project_id).where(compile_filter(expr))
    return query


def _where(
    project_ids: tuple[int, ...] | None,
    expr: Expr | None,
    run_pk: ColumnElement[int] | None = None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if project_ids is not None:
        where.append(runs.c.project_id.in_(project_ids))
    if expr is not None:
        where.append(compile_filter(expr, run_pk))
    return where


def _base(dialect: str) -> Select[Any]:
    return select(*page_columns(dialect)).join(projects, projects.c.id == runs.c.project_id)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _plain_search(
    project_ids: tuple[int, ...] | None,
    expr: Expr | None,
    order_by: tuple[OrderKey, ...],
    dialect: str,
) -> Select[Any]:
    """The statement of a search ordered by attributes."""
    query, terms = compile_order(_base(dialect).where(*_where(project_ids, expr)), order_by)
    return query.order_by(*terms)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _keyed_search(
    project_ids: tuple[int, ...] | None,
    expr: Expr | None,
    order_by: tuple[OrderKey, ...],
    dialect: str,
    driver: int | None = None,
) -> tuple[Select[Any], Select[Any]]:
    """Both phases of a search ordered by a metric, param or tag.

    The first phase reads the ordered key's rows joined, in that order (``_InOrder``), with
    the rows of the keys the filter requires, then with the run: its conditions on metrics,
    params and tags are tested on the walked row's ``run_pk`` before the run is read. With
    a ``driver`` (an index into the joined conditions) it reads that condition's rows first
    instead (on PostgreSQL as a materialized CTE, which its planner cannot reorder).
    """
    first, rest = order_by[0], order_by[1:]
    table = keyed_table(first.field.namespace)
    ordered = table.alias("order_key")
    joined, remaining = split_joinable(expr)
    source: FromClause
    run_pk: ColumnElement[int]
    where: list[ColumnElement[bool]] = [ordered.c.key == first.field.key]
    driving: list[ColumnElement[bool]] = []
    if driver is None:
        source, run_pk = ordered, ordered.c.run_pk
    else:
        source, run_pk, driving = _driver_rows(joined[driver], driver, dialect)
    for index, cmp in enumerate(joined):
        if index == driver:
            continue
        alias = keyed_table(cmp.field.namespace).alias(f"filter_{index}")
        on = and_(alias.c.run_pk == run_pk, alias.c.key == cmp.field.key)
        source = _InOrder(source, alias, and_(on, value_condition(alias, cmp)))
    if driver is not None:  # the ordered key is read last, for the runs that pass
        source = _InOrder(source, ordered, and_(ordered.c.run_pk == run_pk, *where))
        where = driving
    source = _InOrder(source, runs, runs.c.pk == run_pk)
    phase_a, rest_terms = compile_order(
        select(*page_columns(dialect))
        .select_from(source)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(
            *where,
            ordered.c.value.is_not(None),
            *_where(project_ids, remaining, run_pk),
        ),
        rest,
    )
    value = ordered.c.value.desc() if first.descending else ordered.c.value.asc()
    has_value = and_(table.c.key == first.field.key, table.c.value.is_not(None))
    phase_b, terms = compile_order(
        _base(dialect).where(
            *_where(project_ids, expr), ~exists().where(table.c.run_pk == runs.c.pk, has_value)
        ),
        rest,
    )
    return phase_a.order_by(value, *rest_terms), phase_b.order_by(*terms)


def _driver_rows(
    cmp: Comparison, index: int, dialect: str
) -> tuple[FromClause, ColumnElement[int], list[ColumnElement[bool]]]:
    """The rows of the driving condition ``cmp``, their ``run_pk``, and what is left to test.

    What is left is the condition itself, unless the rows already hold it (PostgreSQL).
    """
    alias = keyed_table(cmp.field.namespace).alias(f"filter_{index}")
    condition = and_(alias.c.key == cmp.field.key, value_condition(alias, cmp))
    if dialect != "postgresql":
        return alias, alias.c.run_pk, [condition]
    rows = select(alias.c.run_pk).where(condition).cte("driver").prefix_with("MATERIALIZED")
    return rows, rows.c.run_pk, []
