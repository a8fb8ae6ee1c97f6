"""Schema revisions: create a new store, check an existing one, upgrade an older one.

A new, empty database is brought to the head revision on first open. A store written by an
older revision is never changed behind the user's back: opening it raises ``SchemaOutdated``
naming the command that upgrades it in place (``modelcycle db upgrade``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from modelcycle.core.errors import SchemaOutdated, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

HEAD_REVISION = "0007"
"""The newest revision; a test checks it equals the migrations' single head."""

_VERSION_TABLE = "alembic_version"


def current_revision(connection: Connection) -> str | None:
    """The store's revision, or None for a database with no ModelCycle tables yet."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration over the packaged migrations."""
    from alembic.config import Config

    # Alembic's default stdout is bound when alembic is imported; take the current one.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", "modelcycle.store.metadata:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the store in place; returns (revision before, revision after)."""
    from alembic import command

    with engine.begin() as connection:
        before = current_revision(connection)
        if before is None:
            _refuse_foreign_tables(connection)
        command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    if after is None:
        raise StoreError("the upgrade ran but left no schema revision")
    return before, after


def _refuse_foreign_tables(connection: Connection) -> None:
    names = sorted(set(inspect(connection).get_table_names()) - {_VERSION_TABLE})
    if names:
        raise StoreError(
            f"{connection.engine.url.render_as_string()} holds tables that are not a "
            f"ModelCycle store ({', '.join(names[:5])}); use an empty database or another file"
        )


def ensure_current(engine: Engine) -> None:
    """Create a new store, or check that an existing one is at the head revision."""
    with engine.connect() as connection:
        revision = current_revision(connection)
    if revision is None:
        upgrade(engine)
        return
    if revision != HEAD_REVISION:
        if revision > HEAD_REVISION:
            raise SchemaOutdated(
                f"the store is at schema revision {revision}, newer than this ModelCycle "
                f"({HEAD_REVISION}); upgrade the modelcycle package"
            )
        raise SchemaOutdated(
            f"the store is at schema revision {revision}, this ModelCycle needs "
            f"{HEAD_REVISION}; run `modelcycle db upgrade` to upgrade it in place"
        )
