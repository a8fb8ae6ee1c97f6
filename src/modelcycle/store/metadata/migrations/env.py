"""Alembic environment: runs migrations on the connection ModelCycle hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from modelcycle.store.metadata._tables import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url or pass a connection in config.attributes")
    with create_engine(url).begin() as conn:
        _run(conn)
