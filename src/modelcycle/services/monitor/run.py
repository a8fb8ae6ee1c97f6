"""One monitor run: a window of a model version's predictions held to its reference, stored.

``run_monitor`` reads the window (``reference.LogWindow``; default: the newest 1,000
predictions) and the reference (default: the model's training data from lineage), then:

1. feature drift: ``compute_drift`` over the model's input features;
2. prediction drift: the logged ``output.prediction`` against the model's predictions on the
   reference. A dataset or frame reference is scored once with the model (its verified stored
   bytes); a window reference brings its own logged predictions, compared as logged;
3. live data quality (``monitor.quality``), with the reference dataset's validation rules;
4. performance, when labels have arrived for predictions of the window (``model_performance``);
5. ops figures from the logged rows: latency percentiles of the endpoint's predictions (batch
   rows carry no latency) and the rate of predictions.

The report is stored as one ``MonitorReport`` row (summary JSON, digests of the full JSON and
the self-contained HTML report in the artifact store) and its numbers as a time series, keyed:

==================================  ==========================================================
``drift.share``                     share of tested features that drifted (0..1)
``drift.drifted_columns``           how many features drifted
``drift.column.<name>``             the feature's drift score: a p-value for ``ks``,
                                    ``chisquare`` and ``z`` (low means drift), a distance for
                                    ``psi``, ``wasserstein`` and ``jensenshannon`` (high means
                                    drift); the summary names each column's test
``drift.prediction``                the prediction drift score (same reading)
``quality.missing.<name>``          share of the window's rows missing the feature
``quality.out_of_range.<name>``     share of rows with a number outside the reference's range
``quality.unseen.<name>``           share of rows with a category the reference never holds
``quality.schema_violations``       features missing, logged but not taken, or mistyped
``quality.rules_failed``            dataset validation rules the window breaks
``metric.<name>``                   performance on the labelled predictions (needs labels)
``metric_drop.<name>``              baseline minus value in the metric's better direction
                                    (positive: worse than at evaluation)
``feedback.labels``                 labelled predictions in the window
``ops.rows``                        predictions in the window
``ops.rows_per_minute``             their rate over the window
``ops.p50_latency_ms``              median latency of the endpoint's predictions
``ops.p99_latency_ms``              99th percentile of the same
``ops.error_rate``                  5xx share of the endpoint's scoring requests since the
                                    last report (with ``endpoint=``; see ``endpoint_ops``)
``ops.client_error_rate``           4xx share of the same
==================================  ==========================================================

Then the alert rules of the model are evaluated on these values (``monitor.alerts``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.model import ModelVersion
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.endpoint_ops import endpoint_ops
from modelcycle.services.monitor.performance import MIN_LABELS
from modelcycle.services.monitor.reference import (
    DEFAULT_LAST,
    LogWindow,
    Reference,
    dataset_rules,
    read_log_window,
    resolve_reference,
    window_features,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping, Sequence

    import polars as pl

    from modelcycle.core.entities.project import Project
    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.services.monitor.drift import ColumnDrift, DriftReport, DriftTest
    from modelcycle.services.monitor.performance import PerformanceReport
    from modelcycle.services.monitor.quality import QualityReport
    from modelcycle.services.registry.versions import ModelRegistry
    from modelcycle.store.metadata.monitor_reports import MonitorReport, SeriesPoint

    Progress = Callable[[str, int, int], None]

__all__ = ["STEPS", "MonitorResult", "run_monitor"]

FORMAT = "modelcycle.monitor_report/1"
PREDICTION = "prediction"
_OUTPUT_PREDICTION = "output.prediction"
STEPS = (
    "reading the window",
    "reading the reference",
    "data quality",
    "feature drift",
    "prediction drift",
    "performance",
    "storing the report",
    "alerts",
)
"""The steps a run reports to ``progress``, in order."""


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One monitor run: what it found, and the report as stored.

    Attributes:
        report: The stored row (``id``, ``created_at``, digests of the JSON and HTML).
        values: The numbers stored with it (the keys are in the module docstring).
        model_ref: The monitored version, e.g. ``"churn@3"``.
        window: The window in words.
        drift: Feature drift.
        prediction_drift: Drift of the model's predictions, None when not computed.
        quality: Live data quality.
        performance: Performance on labelled predictions, None before labels arrive.
        ops: Rows, rate and latency figures.
        notes: What was not computed, and why.
        alerts: What the alert rules decided (``monitor.alerts`` outcomes).
        history: Earlier values of the version, by key, for the report's time series.
    """

    report: MonitorReport
    values: Mapping[str, float | None]
    model_ref: str
    window: str
    drift: DriftReport
    prediction_drift: ColumnDrift | None
    quality: QualityReport
    performance: PerformanceReport | None
    ops: Mapping[str, float | None]
    notes: tuple[str, ...] = ()
    alerts: tuple[Any, ...] = ()
    history: Mapping[str, Sequence[SeriesPoint]] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        """The stored report's id."""
        return self.report.id

    def to_dict(self) -> dict[str, Any]:
        """The full report as JSON-safe data (what the store keeps as the JSON blob)."""
        report = self.report
        return {
            "format": FORMAT,
            "id": report.id,
            "model": self.model_ref,
            "model_version_id": report.model_version_id,
            "created_at": report.created_at,
            "window": self.window,
            "window_start": report.window_start,
            "window_end": report.window_end,
            "rows": report.rows,
            "reference": report.reference,
            "values": dict(self.values),
            "drift": self.drift.to_dict(),
            "prediction_drift": _column_dict(self.prediction_drift),
            "quality": self.quality.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "ops": dict(self.ops),
            "notes": list(self.notes),
        }

    def to_html(self, path: str | os.PathLike[str]) -> None:
        """Write the self-contained HTML report (plotly.js inline) to ``path``, atomically."""
        from modelcycle.services.data.profile._html import write_atomic
        from modelcycle.services.monitor._report_html import render_monitor_html

        write_atomic(str(path), render_monitor_html(self))


def run_monitor(
    registry: ModelRegistry,
    data: DatasetVersions,
    project: str,
    model: str | ModelVersion,
    *,
    window: LogWindow | None = None,
    reference: object = None,
    columns: Sequence[str] | None = None,
    tests: str | DriftTest | Mapping[str, str | DriftTest] | None = None,
    thresholds: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    every_ms: int | None = None,
    min_labels: int = MIN_LABELS,
    tolerance: float = 0.05,
    deliver: bool = True,
    endpoint: str | None = None,
    now_ms: int | None = None,
    progress: Progress | None = None,
) -> MonitorResult:
    """Monitor a window of a model version's predictions, store the report, evaluate alerts.

    Args:
        registry: The model registry (and its stores).
        data: The dataset versions.
        project: The project of the model.
        model: The version: ``"churn@production"``, ``"churn@3"`` or a ``ModelVersion``.
        window: Which logged predictions (default: the newest 1,000).
        reference: What they are held to (see ``reference.resolve_reference``; default: the
            model's training data).
        columns: The features to test for drift (default: every input of the model).
        tests: Drift tests: one for every feature, or by feature (see ``compute_drift``).
        thresholds: Drift thresholds: one, or by test name.
        drift_share: The share of drifted features at which the data drifts.
        every_ms: Also score performance per window of this many milliseconds.
        min_labels: Fewer labels than this give no metric.
        tolerance: A metric worse than its baseline by more than this fraction is flagged.
        deliver: Deliver the webhooks of alerts that fire (False: record them only).
        endpoint: The serving endpoint's base URL: its request counters give error rates
            (see ``endpoint_ops``).
        now_ms: The run's time (default: now); a span window ends here.
        progress: Called with (step, done, total) as each of ``STEPS`` starts.

    Returns:
        The run's result, stored.

    Raises:
        NotFound: no such model version, no training data in its lineage, or no such dataset.
        InvalidInput: the window holds no predictions ("the window holds no predictions: ..."),
            the reference lacks a feature the model takes, or an option is out of range.
    """
    step = _stepper(progress)
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    window = window if window is not None else LogWindow(last=DEFAULT_LAST)
    version = registry.get(project, model) if not isinstance(model, ModelVersion) else model
    found = registry.metadata.projects.get(version.project)
    step()
    rows = read_log_window(registry, version.id, window, now)
    step()
    ref = resolve_reference(
        registry, data, version.project, version, reference, target=found.card.target, now_ms=now
    )
    step()
    quality = _quality(data, version, ref, rows)
    step()
    drift = _feature_drift(version, ref, rows, quality, columns, tests, thresholds, drift_share)
    notes: list[str] = []
    step()
    prediction = _prediction_drift(registry, version, ref, rows, notes)
    step()
    performance = _performance(
        registry, version, found, rows, window, every_ms, min_labels, tolerance, notes
    )
    ops = _ops(rows, window, now)
    if endpoint is not None:
        latest = registry.metadata.monitor_reports.latest(version.id)
        previous = {} if latest is None else registry.metadata.monitor_reports.values(latest.id)
        ops.update(endpoint_ops(endpoint, previous, notes))
    parts = _Parts(
        version=version,
        project=found,
        window=window,
        now_ms=now,
        rows=rows.height,
        reference=ref.label,
        drift=drift,
        prediction=prediction,
        quality=quality,
        performance=performance,
        ops=ops,
        notes=tuple(notes),
    )
    step()
    result = _store(registry, parts)
    step()
    return dataclasses.replace(result, alerts=_alerts(registry, parts, result, deliver))


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a run computed, before it is stored."""

    version: ModelVersion
    project: Project
    window: LogWindow
    now_ms: int
    rows: int
    reference: str
    drift: DriftReport
    prediction: ColumnDrift | None
    quality: QualityReport
    performance: PerformanceReport | None
    ops: Mapping[str, float | None]
    notes: tuple[str, ...]

    @property
    def primary_metric(self) -> str | None:
        return None if self.performance is None else self.performance.primary_metric


def _stepper(progress: Progress | None) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        if progress is not None and done < len(STEPS):
            progress(STEPS[done], done, len(STEPS))
        done += 1

    return step


def _quality(
    data: DatasetVersions, version: ModelVersion, ref: Reference, rows: pl.DataFrame
) -> QualityReport:
    from modelcycle.services.monitor.quality import check_quality

    expected = {c.name: c.dtype for c in version.model.signature.inputs}
    rules = dataset_rules(data, ref.dataset)
    return check_quality(
        ref.frame,
        window_features(rows),
        expected=expected,
        rules=rules,
        rules_source=None if rules is None or ref.dataset is None else ref.dataset.name,
    )


def _feature_drift(
    version: ModelVersion,
    ref: Reference,
    rows: pl.DataFrame,
    quality: QualityReport,
    columns: Sequence[str] | None,
    tests: Any,
    thresholds: Any,
    drift_share: float,
) -> DriftReport:
    from modelcycle.services.monitor.drift import compute_drift

    names = list(version.model.signature.input_names)
    if columns is None:
        # Features the window lacks or logs with another type are schema violations already.
        broken = {v.column for v in quality.schema if v.kind != "extra"}
        columns = [n for n in names if n not in broken]
        if not columns:
            raise InvalidInput(
                f"no feature of {version.ref} can be compared: every one is missing from the "
                "window or logged with another type (see the data quality of the window)"
            )
    current = window_features(rows, names)
    return compute_drift(
        ref.frame,
        current,
        columns=columns,
        tests=tests,
        thresholds=thresholds,
        drift_share=drift_share,
        title=f"{version.ref}: feature drift",
    )


def _prediction_drift(
    registry: ModelRegistry,
    version: ModelVersion,
    ref: Reference,
    rows: pl.DataFrame,
    notes: list[str],
) -> ColumnDrift | None:
    import polars as pl

    from modelcycle.services.monitor.drift import compute_drift

    if _OUTPUT_PREDICTION not in rows.columns:
        notes.append("prediction drift: the window logged no 'prediction' output")
        return None
    current = rows.get_column(_OUTPUT_PREDICTION)
    if ref.outputs is not None:
        if _OUTPUT_PREDICTION not in ref.outputs.columns:
            notes.append("prediction drift: the reference window logged no 'prediction' output")
            return None
        expected = ref.outputs.get_column(_OUTPUT_PREDICTION)
    else:
        from modelcycle.services.registry.logged import load_logged_model

        loaded = load_logged_model(registry.artifacts, version.model)
        try:
            expected = pl.Series(PREDICTION, loaded.predict(ref.frame))
        except InvalidInput as exc:
            notes.append(f"prediction drift: the model could not score the reference: {exc}")
            return None
    kinds = None
    if version.model.task == "classification":
        # Classes compare as text: a class logged as 1 and predicted as 1 is the same class.
        expected, current = expected.cast(pl.String), current.cast(pl.String)
        kinds = {PREDICTION: "categorical"}
    try:
        report = compute_drift(
            expected.alias(PREDICTION).to_frame(),
            current.alias(PREDICTION).to_frame(),
            column_kinds=kinds,
            workers=1,
        )
    except InvalidInput as exc:
        notes.append(f"prediction drift: {exc.message}")
        return None
    return report.columns[PREDICTION]


def _performance(
    registry: ModelRegistry,
    version: ModelVersion,
    project: Project,
    rows: pl.DataFrame,
    window: LogWindow,
    every_ms: int | None,
    min_labels: int,
    tolerance: float,
    notes: list[str],
) -> PerformanceReport | None:
    from modelcycle.services.monitor.performance import model_performance

    ids = rows.get_column("id")
    labelled = registry.metadata.feedback.columns(
        model_version_ids=[version.id],
        min_prediction_id=str(ids.min()),
        max_prediction_id=str(ids.max()),
        names=("prediction_id",),
        limit=1,
    )
    if not labelled["prediction_id"]:
        notes.append("performance: no labels yet for these predictions (send them with feedback)")
        return None
    # The window read again, pinned to the rows read first: new predictions do not slip in.
    at = rows.get_column("at").dt.epoch("ms")
    try:
        return model_performance(
            registry.metadata,
            registry.artifacts,
            version,
            project.card,
            last=window.last,
            since_ms=int(at.min()),  # type: ignore[arg-type]
            until_ms=int(at.max()) + 1,  # type: ignore[arg-type]
            every_ms=every_ms,
            min_labels=min_labels,
            tolerance=tolerance,
        )
    except InvalidInput as exc:
        notes.append(f"performance: {exc.message}")
        return None


def _ops(rows: pl.DataFrame, window: LogWindow, now_ms: int) -> dict[str, float | None]:
    import polars as pl

    served = rows.filter(pl.col("source") == "http").get_column("latency_ms").drop_nulls()
    at = rows.get_column("at").dt.epoch("ms")
    since, until = window.bounds(now_ms)
    newest = int(at.max())  # type: ignore[arg-type]
    first = since if since is not None else int(at.min())  # type: ignore[arg-type]
    # An open time window runs to the run's time; a window of the last N to its newest row.
    last = until if until is not None else (max(now_ms, newest) if since is not None else newest)
    minutes = (last - first) / 60_000
    return {
        "rows": float(rows.height),
        "rows_per_minute": rows.height / minutes if minutes > 0 else None,
        "p50_latency_ms": _quantile(served, 0.5),
        "p99_latency_ms": _quantile(served, 0.99),
    }


def _quantile(values: pl.Series, q: float) -> float | None:
    if values.len() == 0:
        return None
    found = values.quantile(q, interpolation="linear")
    return None if found is None else float(found)


def _values(parts: _Parts) -> dict[str, float | None]:
    drift, prediction, performance = parts.drift, parts.prediction, parts.performance
    values: dict[str, float | None] = {
        "drift.share": drift.share,
        "drift.drifted_columns": float(len(drift.drifted_columns)),
    }
    values.update({f"drift.column.{c.name}": c.score for c in drift.columns.values() if c.tested})
    if prediction is not None and prediction.tested:
        values["drift.prediction"] = prediction.score
    values.update(parts.quality.values())
    if performance is not None:
        values.update(performance.values())
        values.update({f"metric_drop.{d.metric}": d.change for d in performance.drops})
        values["feedback.labels"] = float(performance.overall.labels)
    values.update({f"ops.{key}": value for key, value in parts.ops.items()})
    return values


def _summary(parts: _Parts) -> dict[str, Any]:
    drift, quality, performance = parts.drift, parts.quality, parts.performance
    tested = [c for c in drift.columns.values() if c.tested]
    primary = parts.primary_metric
    columns = quality.columns.values()
    return {
        "status": "ok",
        "model": parts.version.ref,
        "window": parts.window.describe(),
        "drifted_columns": drift.drifted_columns,
        "tested_columns": len(tested),
        "drift_share_threshold": drift.drift_share,
        "tests": {c.name: c.test for c in tested},
        "higher_is_drift": {c.name: c.higher_is_drift for c in tested},
        "prediction_drift": _column_dict(parts.prediction),
        "primary_metric": primary,
        "primary_value": None
        if performance is None or primary is None
        else performance.overall.metrics.get(primary),
        "labels": 0 if performance is None else performance.overall.labels,
        "performance_flagged": performance is not None and performance.flagged,
        "quality": {
            "schema_violations": len(quality.schema),
            "rules_failed": quality.rules_failed,
            "missing": sum(c.missing for c in columns),
            "out_of_range": sum(c.out_of_range or 0 for c in columns),
            "unseen": sum(c.unseen or 0 for c in columns),
        },
        "ops": dict(parts.ops),
        "notes": list(parts.notes),
    }


def _history(
    registry: ModelRegistry, parts: _Parts, values: Mapping[str, float | None]
) -> dict[str, list[SeriesPoint]]:
    """The version's earlier values of the keys the report plots over time."""
    from modelcycle.services.monitor._report_html import history_keys

    reports = registry.metadata.monitor_reports
    version_id = parts.version.id
    history = reports.series(
        version_id, history_keys(values, parts.primary_metric), until_ms=parts.now_ms
    )
    history.update(reports.series(version_id, prefix="drift.column.", until_ms=parts.now_ms))
    return history


def _store(registry: ModelRegistry, parts: _Parts) -> MonitorResult:
    import orjson

    from modelcycle.core.ids import new_id
    from modelcycle.services.monitor._report_html import render_monitor_html
    from modelcycle.store.metadata.monitor_reports import MonitorReport

    since, until = parts.window.bounds(parts.now_ms)
    values = _values(parts)
    row = MonitorReport(
        id=new_id(),
        project_id=parts.project.id,
        model_version_id=parts.version.id,
        rows=parts.rows,
        created_at=parts.now_ms,
        window_start=since,
        window_end=until,
        reference=parts.reference,
        drift_share=parts.drift.share,
        dataset_drifted=parts.drift.drifted,
        summary=_summary(parts),
    )
    result = MonitorResult(
        report=row,
        values=values,
        model_ref=parts.version.ref,
        window=parts.window.describe(),
        drift=parts.drift,
        prediction_drift=parts.prediction,
        quality=parts.quality,
        performance=parts.performance,
        ops=parts.ops,
        notes=parts.notes,
        history=_history(registry, parts, values),
    )
    artifacts = registry.artifacts
    json_digest, _ = artifacts.put_bytes(
        orjson.dumps(result.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
    )
    html_digest, _ = artifacts.put_bytes(render_monitor_html(result).encode())
    stored = registry.metadata.monitor_reports.add(
        dataclasses.replace(row, json_digest=json_digest, html_digest=html_digest), values
    )
    return dataclasses.replace(result, report=stored)


def _alerts(
    registry: ModelRegistry, parts: _Parts, result: MonitorResult, deliver: bool
) -> tuple[Any, ...]:
    from modelcycle.services.monitor.alerts import evaluate_alerts

    outcomes = evaluate_alerts(
        registry.metadata,
        project_id=parts.project.id,
        model_name=parts.version.name,
        model_version_id=parts.version.id,
        report_id=result.report.id,
        values=result.values,
        at_ms=result.report.created_at,
        deliver=deliver,
    )
    return tuple(outcomes)


def _column_dict(column: ColumnDrift | None) -> dict[str, Any] | None:
    if column is None:
        return None
    return {
        "name": column.name,
        "kind": column.kind.value,
        "test": column.test,
        "label": column.label,
        "score": column.score,
        "threshold": column.threshold,
        "drifted": column.drifted,
        "higher_is_drift": column.higher_is_drift,
        "reason": column.reason,
    }
