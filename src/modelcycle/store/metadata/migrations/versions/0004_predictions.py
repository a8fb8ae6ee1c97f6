"""predictions: the index of the prediction log (one row per Parquet segment)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("min_at", sa.BigInteger(), nullable=False),
        sa.Column("max_at", sa.BigInteger(), nullable=False),
        sa.Column("min_id", sa.String(length=32), nullable=False),
        sa.Column("max_id", sa.String(length=32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_segments")),
    )
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.create_index("ix_prediction_segments_min_id", ["min_id"], unique=False)
        batch_op.create_index(
            "ix_prediction_segments_model_version_id_min_at",
            ["model_version_id", "min_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_segments_model_version_id_min_at")
        batch_op.drop_index("ix_prediction_segments_min_id")

    op.drop_table("prediction_segments")
