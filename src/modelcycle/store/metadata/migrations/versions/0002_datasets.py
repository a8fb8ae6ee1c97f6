"""datasets: versions, parents, rules, validation results, profiles, recipes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_datasets_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_datasets_project_id_name")),
    )
    op.create_table(
        "recipes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_recipes_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipes")),
        sa.UniqueConstraint(
            "project_id", "name", "revision", name=op.f("uq_recipes_project_id_name_revision")
        ),
    )
    op.create_table(
        "dataset_rules",
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_rules_dataset_id_datasets")
        ),
        sa.PrimaryKeyConstraint("dataset_id", "revision", name=op.f("pk_dataset_rules")),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_columns", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("lineage_json", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_versions_dataset_id_datasets")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_dataset_versions_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint(
            "dataset_id", "version", name=op.f("uq_dataset_versions_dataset_id_version")
        ),
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dataset_versions_dataset_id_digest", ["dataset_id", "digest"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dataset_versions_run_id"), ["run_id"], unique=False)

    op.create_table(
        "dataset_parents",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_parents_parent_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_parents_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "parent_id", name=op.f("pk_dataset_parents")),
    )
    with op.batch_alter_table("dataset_parents", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_parents_parent_id", ["parent_id"], unique=False)

    op.create_table(
        "dataset_profiles",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("options_key", sa.String(length=64), nullable=False),
        sa.Column("json_digest", sa.String(length=64), nullable=False),
        sa.Column("html_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_profiles_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "options_key", name=op.f("pk_dataset_profiles")),
    )
    op.create_table(
        "validation_results",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("rules_revision", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("failed_rules", sa.Integer(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_validation_results_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_results")),
    )
    with op.batch_alter_table("validation_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_validation_results_version_id_created_at",
            ["version_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("validation_results", schema=None) as batch_op:
        batch_op.drop_index("ix_validation_results_version_id_created_at")

    op.drop_table("validation_results")
    op.drop_table("dataset_profiles")
    with op.batch_alter_table("dataset_parents", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_parents_parent_id")

    op.drop_table("dataset_parents")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_versions_run_id"))
        batch_op.drop_index("ix_dataset_versions_dataset_id_digest")

    op.drop_table("dataset_versions")
    op.drop_table("dataset_rules")
    op.drop_table("recipes")
    op.drop_table("datasets")
