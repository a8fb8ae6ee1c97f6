"""Compile a ``core.filters`` AST and order keys into SQLAlchemy expressions.

Conditions on metrics, params and tags become ``EXISTS`` subqueries against the indexed
``latest_metrics``, ``params`` and ``tags`` tables; ordering joins the one row per run of the
ordered key. Nothing here builds SQL text from user strings: values are bound parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, exists, false, not_, or_, true

from modelcycle.core.errors import InvalidInput
from modelcycle.core.filters import And, Comparison, Namespace, Not, Op, Or, OrderKey
from modelcycle.store.metadata._tables import latest_metrics, params, projects, runs, tags

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement, FromClause, Select

    from modelcycle.core.filters import Expr

_KEYED_TABLES: dict[Namespace, Table] = {
    Namespace.METRICS: latest_metrics,
    Namespace.PARAMS: params,
    Namespace.TAGS: tags,
}

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "run_id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "parent_id": runs.c.parent_id,
    "project": projects.c.name,
}


def keyed_table(namespace: Namespace) -> Table:
    """The table holding one row per run and key of ``namespace`` (metrics, params, tags)."""
    return _KEYED_TABLES[namespace]


def compile_filter(expr: Expr, run_pk: ColumnElement[int] | None = None) -> ColumnElement[bool]:
    """The WHERE clause for ``expr`` over ``runs`` joined with ``projects``.

    ``run_pk`` (default ``runs.pk``) is the column the metric, param and tag subqueries
    match runs by: a search that walks a keyed table in order passes that table's
    ``run_pk``, so that the database tests those conditions before it reads the run.
    """
    pk = runs.c.pk if run_pk is None else run_pk
    if isinstance(expr, And):
        return and_(*(compile_filter(item, pk) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(compile_filter(item, pk) for item in expr.items))
    if isinstance(expr, Not):
        return not_(compile_filter(expr.item, pk))
    return _comparison(expr, pk)


def _comparison(cmp: Comparison, run_pk: ColumnElement[int]) -> ColumnElement[bool]:
    namespace = cmp.field.namespace
    if namespace is Namespace.ATTRIBUTES:
        column = _ATTRIBUTE_COLUMNS.get(cmp.field.key)
        if column is None:
            raise InvalidInput(f"unknown run attribute {cmp.field.key!r}")
        return _apply(column, cmp.op, cmp.value)
    table = _KEYED_TABLES[namespace]
    has_key = and_(table.c.run_pk == run_pk, table.c.key == cmp.field.key)
    if cmp.op is Op.IS_NULL:
        return ~exists().where(has_key)
    if cmp.op is Op.IS_NOT_NULL:
        return exists().where(has_key)
    return exists().where(has_key, value_condition(table, cmp))


def value_condition(table: FromClause, cmp: Comparison) -> ColumnElement[bool]:
    """``cmp`` on the value column of ``table``, a keyed table or an alias of one."""
    column = table.c.value
    if cmp.field.namespace is not Namespace.METRICS and isinstance(cmp.value, float):
        column = table.c.value_num  # a number compared with a param or tag: numerically
    return _apply(column, cmp.op, cmp.value)


def split_joinable(expr: Expr | None) -> tuple[tuple[Comparison, ...], Expr | None]:
    """The conditions of ``expr`` a search can join, and the rest (None when nothing is left).

    A comparison of a metric, param or tag with a value, required by the whole filter (the
    filter itself or an item of its top-level ``and``), holds for a run exactly when the
    run's one row of that key (``run_pk`` and ``key`` are unique) matches it: an inner join
    on that row can stand for its ``EXISTS`` subquery.
    """
    if expr is None:
        return (), None
    items = expr.items if isinstance(expr, And) else (expr,)
    joined: list[Comparison] = []
    rest: list[Expr] = []
    for item in items:
        if (
            isinstance(item, Comparison)
            and item.field.namespace is not Namespace.ATTRIBUTES
            and item.op not in (Op.IS_NULL, Op.IS_NOT_NULL)
        ):
            joined.append(item)
        else:
            rest.append(item)
    if not rest:
        return tuple(joined), None
    return tuple(joined), rest[0] if len(rest) == 1 else And(tuple(rest))


def _apply(column: Any, op: Op, value: Any) -> ColumnElement[bool]:
    if op is Op.EQ:
        return column == value  # type: ignore[no-any-return]
    if op is Op.NE:
        return column != value  # type: ignore[no-any-return]
    if op is Op.LT:
        return column < value  # type: ignore[no-any-return]
    if op is Op.LE:
        return column <= value  # type: ignore[no-any-return]
    if op is Op.GT:
        return column > value  # type: ignore[no-any-return]
    if op is Op.GE:
        return column >= value  # type: ignore[no-any-return]
    if op is Op.LIKE:
        return column.like(value)  # type: ignore[no-any-return]
    if op is Op.ILIKE:
        return column.ilike(value)  # type: ignore[no-any-return]
    if op is Op.IN:
        return column.in_(list(value)) if value else false()
    if op is Op.NOT_IN:
        return column.not_in(list(value)) if value else true()
    if op is Op.IS_NULL:
        return column.is_(None)  # type: ignore[no-any-return]
    return column.is_not(None)  # type: ignore[no-any-return]


def compile_order(
    query: Select[Any], keys: Sequence[OrderKey]
) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """Join what ``keys`` order by; returns the query and the ORDER BY terms.

    Missing values sort last in both directions. Ties fall back to the newest run first.
    """
    terms: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        namespace = key.field.namespace
        if namespace is Namespace.ATTRIBUTES:
            column = _ATTRIBUTE_COLUMNS.get(key.field.key)
            if column is None:
                raise InvalidInput(f"unknown run attribute {key.field.key!r} in order_by")
        else:
            alias = _KEYED_TABLES[namespace].alias(f"order_{index}")
            query = query.outerjoin(
                alias, and_(alias.c.run_pk == runs.c.pk, alias.c.key == key.field.key)
            )
            column = alias.c.value
        terms.append(column.is_(None))  # missing values last, in both directions
        terms.append(column.desc() if key.descending else column.asc())
    terms.extend((runs.c.start_time.desc(), runs.c.pk.desc()))
    return query, terms
