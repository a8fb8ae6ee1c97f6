"""metric batches: a chunk row may hold every point of a batch of many keys

A ``metric_chunks`` row keeps holding one key's points (``key`` set), or now every point of
a batch of many keys: ``key`` NULL, ``keys`` the key of each point, one per line, between
line breaks, and ``keys_digest`` a digest of ``keys``. Stored rows keep their meaning: the upgrade only widens the table. The downgrade
splits each batch row into one chunk per key, in the order of the batch.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import struct
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_chunks = sa.table(
    "metric_chunks",
    sa.column("id", sa.BigInteger()),
    sa.column("run_pk", sa.BigInteger()),
    sa.column("key", sa.String()),
    sa.column("keys", sa.Text()),
    sa.column("keys_digest", sa.String()),
    sa.column("count", sa.Integer()),
    sa.column("steps", sa.LargeBinary()),
    sa.column("values", sa.LargeBinary()),
    sa.column("timestamps", sa.LargeBinary()),
)


def upgrade() -> None:
    with op.batch_alter_table("metric_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keys", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("keys_digest", sa.String(length=32), nullable=True))
        batch_op.alter_column("key", existing_type=sa.String(length=250), nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    batches = bind.execute(
        sa.select(_chunks).where(_chunks.c.key.is_(None)).order_by(_chunks.c.id)
    ).all()
    for batch in batches:
        rows = _split(batch)
        if rows:
            bind.execute(sa.insert(_chunks), rows)
        bind.execute(sa.delete(_chunks).where(_chunks.c.id == batch.id))
    with op.batch_alter_table("metric_chunks", schema=None) as batch_op:
        batch_op.alter_column("key", existing_type=sa.String(length=250), nullable=False)
        batch_op.drop_column("keys_digest")
        batch_op.drop_column("keys")


def _split(batch: Any) -> list[dict[str, Any]]:
    """One chunk row per key of a batch row, each with its points in the batch's order."""
    keys = batch.keys[1:-1].split("\n")
    columns = {
        "steps": struct.unpack(f"<{len(keys)}q", batch.steps),
        "values": struct.unpack(f"<{len(keys)}d", batch.values),
        "timestamps": struct.unpack(f"<{len(keys)}q", batch.timestamps),
    }
    order: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        order.setdefault(key, []).append(index)
    return [
        {
            "run_pk": batch.run_pk,
            "key": key,
            "keys": None,
            "keys_digest": None,
            "count": len(indexes),
            "steps": struct.pack(f"<{len(indexes)}q", *(columns["steps"][i] for i in indexes)),
            "values": struct.pack(f"<{len(indexes)}d", *(columns["values"][i] for i in indexes)),
            "timestamps": struct.pack(
                f"<{len(indexes)}q", *(columns["timestamps"][i] for i in indexes)
            ),
        }
        for key, indexes in order.items()
    ]
