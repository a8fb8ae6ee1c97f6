"""monitoring: feedback (with history), monitor reports and their values, alert rules and alerts

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("prediction_id", sa.String(length=32), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_model_version_id_at", ["model_version_id", "at"], unique=False
        )

    op.create_table(
        "feedback_history",
        sa.Column("prediction_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("replaced_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", "revision", name=op.f("pk_feedback_history")),
    )

    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("column_name", sa.String(length=250), nullable=True),
        sa.Column("metric", sa.String(length=250), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_rules_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_rules_project_id_model_name", ["project_id", "model_name"], unique=False
        )

    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=True),
        sa.Column("window_end", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=250), nullable=True),
        sa.Column("drift_share", sa.Float(), nullable=True),
        sa.Column("dataset_drifted", sa.Boolean(), nullable=True),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.Column("json_digest", sa.String(length=64), nullable=True),
        sa.Column("html_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_monitor_reports_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_reports")),
    )
    with op.batch_alter_table("monitor_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_reports_model_version_id_created_at",
            ["model_version_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_monitor_reports_project_id_created_at", ["project_id", "created_at"], unique=False
        )

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("firing_rule_id", sa.String(length=32), nullable=True),
        sa.Column("model_version_id", sa.String(length=64), nullable=True),
        sa.Column("report_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("delivery_status", sa.String(length=16), nullable=False),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["monitor_reports.id"],
            name=op.f("fk_alerts_report_id_monitor_reports"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alerts_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("firing_rule_id", name=op.f("uq_alerts_firing_rule_id")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_rule_id_opened_at", ["rule_id", "opened_at"], unique=False)

    op.create_table(
        "monitor_values",
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["monitor_reports.id"],
            name=op.f("fk_monitor_values_report_id_monitor_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "key", name=op.f("pk_monitor_values")),
    )
    with op.batch_alter_table("monitor_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_values_model_version_id_key_at",
            ["model_version_id", "key", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_values", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_values_model_version_id_key_at")
    op.drop_table("monitor_values")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_rule_id_opened_at")
    op.drop_table("alerts")

    with op.batch_alter_table("monitor_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_reports_project_id_created_at")
        batch_op.drop_index("ix_monitor_reports_model_version_id_created_at")
    op.drop_table("monitor_reports")

    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_rules_project_id_model_name")
    op.drop_table("alert_rules")

    op.drop_table("feedback_history")

    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_model_version_id_at")
    op.drop_table("feedback")
