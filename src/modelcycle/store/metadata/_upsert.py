"""INSERT … ON CONFLICT for the two dialects we support."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows``; on a conflict on ``keys`` update the ``update`` columns (or do nothing)."""
    if not rows:
        return
    conn.execute(_statement(conn.dialect.name, table, tuple(keys), tuple(update)), list(rows))


@functools.cache
def _statement(dialect: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """Built once per shape: constructing ON CONFLICT clauses costs more than running them."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    if update:
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={column: statement.excluded[column] for column in update},
        )
    return statement.on_conflict_do_nothing(index_elements=list(keys))
