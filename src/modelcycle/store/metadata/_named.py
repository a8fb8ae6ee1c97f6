"""Rows named within a project (datasets, registered models): find by name, or create."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from modelcycle.core.errors import NotFound

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection


def named_row_id(
    conn: Connection,
    table: Table,
    project_id: int,
    name: str,
    now: int,
    *,
    create: bool,
    missing: str,
) -> int:
    """The id of the row of ``table`` named ``name`` in the project, created when ``create``.

    ``table`` has ``id``, ``project_id``, ``name``, ``created_at`` and ``updated_at``.

    Raises:
        NotFound: no such row and ``create`` is false; the message is ``missing`` formatted
            with ``name`` and ``known`` (the project's first 20 names).
    """
    found = conn.execute(
        select(table.c.id).where(table.c.project_id == project_id).where(table.c.name == name)
    ).scalar()
    if found is not None:
        return int(found)
    if not create:
        known = conn.execute(
            select(table.c.name)
            .where(table.c.project_id == project_id)
            .order_by(table.c.name)
            .limit(20)
        ).scalars()
        raise NotFound(missing.format(name=name, known=", ".join(known) or "none yet"))
    created = conn.execute(
        insert(table)
        .values(project_id=project_id, name=name, created_at=now, updated_at=now)
        .returning(table.c.id)
    ).scalar_one()
    return int(created)
