"""The relational schema, as SQLAlchemy Core tables.

The schema is created only by the Alembic migrations in ``migrations/``; a test runs
``alembic check`` so that these tables and the migrations never disagree.

Runs carry a JSON summary of their params, latest metrics and tags (``*_json``) next to the
normalised, indexed rows: searches filter and order through the indexed tables and read
whole runs from the summary in one row, without joining every metric row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# A BIGINT primary key is not a rowid alias in SQLite and would not autoincrement there.
AutoPK = BigInteger().with_variant(Integer(), "sqlite")

KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 6000
TAG_VALUE_LENGTH = 8000

projects = Table(
    "projects",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("task", String(32)),
    Column("target", String(KEY_LENGTH)),
    Column("metric", String(KEY_LENGTH)),
    Column("direction", String(16)),
    Column("goal", Float),
    Column("owners_json", Text, nullable=False, server_default="[]"),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("python_version", String(64), nullable=False),
    Column("platform", String(256), nullable=False),
    Column("packages_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("pk", AutoPK, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("parent_id", String(32), ForeignKey("runs.id"), index=True),
    Column("name", String(KEY_LENGTH)),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("heartbeat_at", BigInteger),
    Column("host", String(256)),
    Column("pid", Integer),
    Column("error", Text),
    Column("git_commit", String(64)),
    Column("git_branch", String(256)),
    Column("git_dirty", Boolean),
    Column("diff_digest", String(64)),
    Column("entry_point", Text),
    Column("repository", Text),
    Column("environment_digest", String(64), ForeignKey("environments.digest")),
    Column("params_json", Text, nullable=False, server_default="{}"),
    Column("metrics_json", Text, nullable=False, server_default="{}"),
    Column("tags_json", Text, nullable=False, server_default="{}"),
    Index("ix_runs_project_id_start_time", "project_id", "start_time"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_start_time", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float),
    Index("ix_params_key_value", "key", "value"),
    Index("ix_params_key_value_num", "key", "value_num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float),
    Index("ix_tags_key_value", "key", "value"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    # SQLite stores NaN as NULL, so NaN is kept as a flag and the value is NULL.
    Column("value", Float),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

# The series of each metric, stored by column: one row per run, key and written batch, with
# the steps, values and timestamps packed as little-endian int64 / float64 / int64 arrays.
# A 10,000-point history is a handful of rows instead of 10,000, and NaN survives as is.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("count", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_pk_key", "run_pk", "key"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("dataset_version_id", String(64), primary_key=True),
    Column("role", String(64), primary_key=True),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
