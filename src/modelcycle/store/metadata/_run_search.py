"""The statements of a run search, built once per shape of query.

Ordering by a metric, param or tag runs in two phases so that the database can walk that
key's index and stop after one page: first the runs that have a value for the key, in order;
then the runs that have none, which sort last in either direction.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from modelcycle.core.errors import NotImplementedYet
from modelcycle.core.filters import Namespace
from modelcycle.store.metadata import _bulk
from modelcycle.store.metadata._filters_sql import (
    compile_filter,
    compile_order,
    keyed_table,
    split_joinable,
    value_condition,
)
from modelcycle.store.metadata._run_rows import page_columns
from modelcycle.store.metadata._tables import projects, runs

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, FromClause, Select
    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.sql.compiler import SQLCompiler

    from modelcycle.core.filters import Expr, OrderKey

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
    phase_a, phase_b = _keyed_search(project_ids, expr, order_by, dialect)
    rows = _prepared(phase_a, conn.dialect).rows(conn, limit, offset)
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
    third of a small search. Rows come back as the driver returns them.
    """

    sql: str
    params: tuple[Any, ...] | dict[str, Any]

    def rows(self, conn: Connection, limit: int, offset: int) -> list[Any]:
        params = self.params
        if isinstance(params, dict):
            bound: tuple[Any, ...] | dict[str, Any] = {**params, _LIMIT: limit, _OFFSET: offset}
        else:
            bound = (*params, limit, offset)
        return _bulk.run(conn, self.sql, bound).rows


_LIMIT, _OFFSET = "mc_page_limit", "mc_page_offset"


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _prepared(query: Select[Any], dialect: Dialect) -> _Prepared:
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    if dialect.paramstyle == "qmark":
        order = compiled.positiontup or []
        return _Prepared(f"{compiled} LIMIT ? OFFSET ?", tuple(values[k] for k in order))
    if dialect.paramstyle == "pyformat":
        page = f" LIMIT %({_LIMIT})s OFFSET %({_OFFSET})s"
        return _Prepared(f"{compiled}{page}", dict(values))
    raise NotImplementedYet(f"searches through a driver with paramstyle {dialect.paramstyle!r}")


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
) -> tuple[Select[Any], Select[Any]]:
    """Both phases of a search ordered by a metric, param or tag.

    The first phase walks the ordered key's index, joined in that order (``_InOrder``) with
    the rows of the keys the filter requires, then with the run: its conditions on metrics,
    params and tags are tested on the walked row's ``run_pk`` before the run is read.
    """
    first, rest = order_by[0], order_by[1:]
    table = keyed_table(first.field.namespace)
    ordered = table.alias("order_key")
    joined, remaining = split_joinable(expr)
    source: FromClause = ordered
    for index, cmp in enumerate(joined):
        alias = keyed_table(cmp.field.namespace).alias(f"filter_{index}")
        on = and_(
            alias.c.run_pk == ordered.c.run_pk,
            alias.c.key == cmp.field.key,
            value_condition(alias, cmp),
        )
        source = _InOrder(source, alias, on)
    source = _InOrder(source, runs, runs.c.pk == ordered.c.run_pk)
    phase_a, rest_terms = compile_order(
        select(*page_columns(dialect))
        .select_from(source)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(
            ordered.c.key == first.field.key,
            ordered.c.value.is_not(None),
            *_where(project_ids, remaining, ordered.c.run_pk),
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
