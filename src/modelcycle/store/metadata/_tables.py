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
    UniqueConstraint,
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

# On SQLite the key tables are WITHOUT ROWID (revision 0007): a row lives in its primary key's
# b-tree, so the (key, value) indexes carry run_pk and a search needs no second lookup.
params = Table(
    "params",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float),
    Index("ix_params_key_value", "key", "value"),
    Index("ix_params_key_value_num", "key", "value_num"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float),
    Index("ix_tags_key_value", "key", "value"),
    sqlite_with_rowid=False,
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
    sqlite_with_rowid=False,
)

# The series of each metric, stored by column: the steps, values and timestamps of a row's
# points packed as little-endian int64 / float64 / int64 arrays, so that NaN survives as is.
# A row holds one key's points of one written batch (``key``), or every point of a batch of
# many keys (``key`` NULL, ``keys``: the key of each point, one per line, with a line break
# before the first and after the last, so that a key's line is found by searching for it
# between line breaks; ``keys_digest`` tells rows of the same keys in the same order apart
# without reading them). A 10,000-point history is a handful of rows instead of 10,000, and a
# thousand-key batch one row instead of a thousand.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LENGTH)),
    Column("keys", Text),
    Column("keys_digest", String(32)),
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

# -- data ---------------------------------------------------------------------------------

datasets = Table(
    "datasets",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

# A version's ``digest`` identifies its content; ``snapshot_digest`` names the Parquet blob in
# the artifact store. The schema and lineage are JSON read whole with the row.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", BigInteger, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("snapshot_digest", String(64), nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("operation", String(16), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), index=True),
    Column("schema_json", Text, nullable=False),
    Column("lineage_json", Text, nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    Index("ix_dataset_versions_dataset_id_digest", "dataset_id", "digest"),
)

# The versions each version was made of, as rows, so that descendants are one indexed query.
dataset_parents = Table(
    "dataset_parents",
    metadata,
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Column("parent_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Index("ix_dataset_parents_parent_id", "parent_id"),
)

# The expectations of a dataset name: every save is a new revision, none is overwritten.
dataset_rules = Table(
    "dataset_rules",
    metadata,
    Column("dataset_id", BigInteger, ForeignKey("datasets.id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("rules_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

validation_results = Table(
    "validation_results",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), nullable=False),
    Column("rules_revision", Integer),
    Column("passed", Boolean, nullable=False),
    Column("failed_rules", Integer, nullable=False),
    Column("result_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_validation_results_version_id_created_at", "version_id", "created_at"),
)

# Profiles are computed once per version and options, stored as JSON and HTML blobs.
dataset_profiles = Table(
    "dataset_profiles",
    metadata,
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Column("options_key", String(64), primary_key=True),
    Column("json_digest", String(64), nullable=False),
    Column("html_digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Named cleansing recipes, saved in immutable revisions ("name@2") for replay on new data.
recipes = Table(
    "recipes",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name", "revision"),
)

# -- models -------------------------------------------------------------------------------

# A model saved by a run: the bytes are a content-addressed blob, verified before loading.
logged_models = Table(
    "logged_models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("name", String(KEY_LENGTH), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("signature_json", Text, nullable=False),
    Column("requirements_json", Text, nullable=False),
    Column("task", String(32)),
    Column("classes_json", Text),
    Column("input_example_digest", String(64)),
    Column("metadata_json", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("run_id", "name"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", BigInteger, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("logged_model_id", String(32), ForeignKey("logged_models.id"), nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
)

# An alias names one version of a model; moving it is one UPDATE in one transaction.
model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", BigInteger, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_approvals = Table(
    "model_approvals",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("comment", Text),
    Column("at", BigInteger, nullable=False),
)

# Evaluations of a logged model on a dataset version; the report blobs are in the artifacts.
model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("logged_model_id", String(32), ForeignKey("logged_models.id"), nullable=False),
    Column("dataset_version_id", String(32), ForeignKey("dataset_versions.id"), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id")),
    Column("task", String(32), nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("json_digest", String(64), nullable=False),
    Column("html_digest", String(64), nullable=False),
    Column("failure_cases_version_id", String(32), ForeignKey("dataset_versions.id")),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_evaluations_logged_model_id_dataset", "logged_model_id", "dataset_version_id"),
)

model_gates = Table(
    "model_gates",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False, index=True),
    Column("passed", Boolean, nullable=False),
    Column("result_json", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)

model_exports = Table(
    "model_exports",
    metadata,
    Column("version_id", String(32), ForeignKey("model_versions.id"), primary_key=True),
    Column("format", String(16), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("parity_json", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Every registry change, in order, for the audit log to read (written in the same transaction).
registry_events = Table(
    "registry_events",
    metadata,
    Column("id", AutoPK, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("model_id", BigInteger, ForeignKey("registered_models.id"), nullable=False),
    Column("version_id", String(32), ForeignKey("model_versions.id")),
    Column("details_json", Text, nullable=False, server_default="{}"),
    Index("ix_registry_events_model_id_at", "model_id", "at"),
)

# -- predictions --------------------------------------------------------------------------

# The prediction log's index: the rows are Parquet segments in the artifact store, one row here
# per segment (never per prediction). A segment holds one model version; ids are time-ordered,
# so (min_id, max_id) bounds where a prediction id can be. No foreign key to model_versions:
# batch scoring may log a model that is not registered, and the log must never refuse a write.
prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_version_id", String(64), nullable=False),
    Column("min_at", BigInteger, nullable=False),
    Column("max_at", BigInteger, nullable=False),
    Column("min_id", String(32), nullable=False),
    Column("max_id", String(32), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_prediction_segments_model_version_id_min_at", "model_version_id", "min_at"),
    Index("ix_prediction_segments_min_id", "min_id"),
)

# -- monitoring ---------------------------------------------------------------------------

# Ground truth for logged predictions: one row per prediction id holding its current label.
# A new label for the same id replaces the row (``revision`` counts the labels given) and the
# replaced one is appended to ``feedback_history`` in the same transaction, so nothing is lost.
# As in ``prediction_segments``, no foreign key to model_versions: a batch job may have logged
# predictions of a model that is not registered. Ids are time-ordered, so a window of
# predictions is one primary-key range scan here.
feedback = Table(
    "feedback",
    metadata,
    Column("prediction_id", String(32), primary_key=True),
    Column("model_version_id", String(64), nullable=False),
    Column("label", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_feedback_model_version_id_at", "model_version_id", "at"),
)

feedback_history = Table(
    "feedback_history",
    metadata,
    Column("prediction_id", String(32), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("model_version_id", String(64), nullable=False),
    Column("label", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("replaced_at", BigInteger, nullable=False),
)

# One row per monitor run over a window of one model version's predictions. The full report
# (JSON and self-contained HTML) is content-addressed in the artifact store.
monitor_reports = Table(
    "monitor_reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("model_version_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("window_start", BigInteger),
    Column("window_end", BigInteger),
    Column("rows", BigInteger, nullable=False),
    Column("reference", String(KEY_LENGTH)),
    Column("drift_share", Float),
    Column("dataset_drifted", Boolean),
    Column("summary_json", Text, nullable=False),
    Column("json_digest", String(64)),
    Column("html_digest", String(64)),
    Index("ix_monitor_reports_model_version_id_created_at", "model_version_id", "created_at"),
    Index("ix_monitor_reports_project_id_created_at", "project_id", "created_at"),
)

# The numbers of each report, long and narrow (``drift.share``, ``drift.column.age``,
# ``quality.missing.age``, ``metric.roc_auc``...): the series of one key for one model
# version is one range scan of the (model_version_id, key, at) index. NaN is stored as NULL.
monitor_values = Table(
    "monitor_values",
    metadata,
    Column(
        "report_id",
        String(32),
        ForeignKey("monitor_reports.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("model_version_id", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("value", Float),
    Index("ix_monitor_values_model_version_id_key_at", "model_version_id", "key", "at"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id"), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("column_name", String(KEY_LENGTH)),
    Column("metric", String(KEY_LENGTH)),
    Column("threshold", Float, nullable=False),
    Column("webhook_url", Text),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Index("ix_alert_rules_project_id_model_name", "project_id", "model_name"),
)

# An alert is opened when a rule's value breaches its threshold and stays ``firing`` until a
# run finds it back within bounds. ``firing_rule_id`` equals ``rule_id`` while the alert fires
# and is NULL once resolved: its unique constraint lets a rule have at most one firing alert
# (both dialects allow many NULLs), so a breach fires once, not on every run.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "rule_id",
        String(32),
        ForeignKey("alert_rules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("firing_rule_id", String(32), unique=True),
    Column("model_version_id", String(64)),
    Column("report_id", String(32), ForeignKey("monitor_reports.id", ondelete="SET NULL")),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("opened_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger),
    Column("delivery_status", String(16), nullable=False),
    Column("delivery_attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("delivered_at", BigInteger),
    Index("ix_alerts_rule_id_opened_at", "rule_id", "opened_at"),
)
