"""``mc.monitor``: drift, monitor runs over the prediction log, their reports over time, alerts.

- ``mc.monitor.drift(reference, current)``: compare two sides, each a dataset ref
  (``"churn@3"``), a ``DatasetVersion``, a DataFrame (pandas, polars, pyarrow) or a window of
  the prediction log, ``mc.monitor.window("churn-gbm@production", last=1000)``.
- ``mc.monitor.run("churn-gbm@production", window=...)``: one stored monitor report (drift of
  features and predictions, data quality, performance once labels arrive, ops figures), then
  the model's alert rules (``add_alert_rule``...) are evaluated.
- ``mc.monitor.reports(model_ref)`` and ``mc.monitor.series(model_ref, keys)``: the reports of
  a model version and its numbers over time (keys in ``services.monitor.run``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from modelcycle.core.entities.dataset import DatasetVersion
from modelcycle.core.errors import InvalidInput
from modelcycle.sdk.alerts import (
    add_alert_rule,
    alert_rules,
    alerts,
    remove_alert_rule,
    set_alert_rule_enabled,
)
from modelcycle.sdk.session import Session, get_session

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping, Sequence

    import pandas as pd
    import polars as pl

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.monitor.drift import DriftReport, DriftTest
    from modelcycle.services.monitor.reference import LogWindow
    from modelcycle.services.monitor.run import MonitorResult
    from modelcycle.store.metadata.monitor_reports import MonitorReport, SeriesPoint

__all__ = [
    "Window",
    "add_alert_rule",
    "alert_rules",
    "alerts",
    "drift",
    "remove_alert_rule",
    "reports",
    "run",
    "series",
    "set_alert_rule_enabled",
    "window",
]

Moment = dt.datetime | dt.timedelta | str


@dataclass(frozen=True, slots=True)
class Window:
    """A window of a model version's prediction log (make one with ``mc.monitor.window``).

    Attributes:
        model_ref: The version whose predictions are read.
        last: Only the newest ``last`` predictions.
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        span_ms: Only those of the ``span_ms`` before the window is read (``since="1h"``).
    """

    model_ref: str | ModelVersion
    last: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    span_ms: int | None = None

    def log_window(self) -> LogWindow:
        """The bounds as the monitor service takes them."""
        from modelcycle.services.monitor.reference import LogWindow

        return LogWindow(self.last, self.since_ms, self.until_ms, self.span_ms)


def window(
    model_ref: str | ModelVersion,
    *,
    last: int | None = None,
    since: Moment | None = None,
    until: dt.datetime | None = None,
) -> Window:
    """A window of the predictions a model version logged, to compare or monitor.

    Args:
        model_ref: The version: ``"churn-gbm@production"``, ``"churn-gbm@3"``...
        last: Only the newest ``last`` predictions (of those in the time range).
        since: Only predictions made since this time: a datetime (naive ones are local
            time), or a span before now, as a ``timedelta`` or text such as ``"1h"`` or
            ``"30m"`` (measured again whenever the window is read).
        until: Only predictions made before this time.

    Raises:
        InvalidInput: a bound of another type, ``last`` not positive, or an empty range.
    """
    since_ms, span_ms = _since(since)
    made = Window(model_ref, last, since_ms, _epoch_ms("until", until), span_ms)
    made.log_window()  # checks the bounds now rather than when the window is read
    return made


def drift(
    reference: object,
    current: object,
    columns: Sequence[str] | None = None,
    tests: str | DriftTest | Mapping[str, str | DriftTest] | None = None,
    *,
    thresholds: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    column_kinds: Mapping[str, str] | None = None,
    workers: int | None = None,
    title: str | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        reference: A dataset ref or ``DatasetVersion`` (the project's target column is left
            out), a DataFrame (pandas, polars, pyarrow) or a ``mc.monitor.window(...)``.
        current: The same kinds.
        columns: The columns to compare. Default: with a window on either side, the inputs of
            its model; else every reference column.
        tests: One drift test for every column (``"ks"``, ``"psi"``, ``"wasserstein"``...),
            or a test by column; others get Evidently's default for their kind and size.
        thresholds: One threshold, or a threshold by test name.
        drift_share: The share of drifted columns at which the data drifts.
        column_kinds: ``"numeric"`` or ``"categorical"`` by column, to override inference.
        workers: Threads computing columns.
        title: The report's title.

    Returns:
        The ``DriftReport``: ``.drifted_columns``, ``.share``, ``.columns``, ``.to_dict()``,
        ``.to_html(path)``.

    Raises:
        NotFound: no such dataset or model version.
        InvalidInput: a window with no predictions, a column missing on a side, a test that
            does not take a column's kind.
    """
    from modelcycle.services.monitor.drift import compute_drift

    session = get_session()
    ref, ref_inputs = _side(session, reference, "reference")
    cur, cur_inputs = _side(session, current, "current")
    if columns is None and (ref_inputs or cur_inputs):
        columns = ref_inputs or cur_inputs
    return compute_drift(
        ref,
        cur,
        columns=columns,
        tests=tests,
        thresholds=thresholds,
        drift_share=drift_share,
        column_kinds=column_kinds,
        workers=workers,
        title=title,
    )


def run(
    model_ref: str | ModelVersion,
    *,
    window: Window | int | str | dt.timedelta | None = None,
    reference: object = None,
    columns: Sequence[str] | None = None,
    tests: str | DriftTest | Mapping[str, str | DriftTest] | None = None,
    thresholds: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    every: str | dt.timedelta | None = None,
    min_labels: int = 30,
    tolerance: float = 0.05,
    html: str | os.PathLike[str] | None = None,
    deliver: bool = True,
    endpoint: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> MonitorResult:
    """Monitor a window of a model version's predictions and store the report.

    Args:
        model_ref: The version: ``"churn-gbm@production"``, ``"churn-gbm@3"``...
        window: Which predictions: a ``mc.monitor.window(...)`` of this version, a number
            (the newest N), a span before now (``"1h"`` or a timedelta). Default: the newest
            1,000.
        reference: What they are held to: a dataset ref or version, a DataFrame, or a
            ``mc.monitor.window(...)`` (e.g. the first week in production). Default: the
            model's training data, from the lineage of the run that logged it.
        columns: The features to test for drift (default: every input of the model).
        tests: Drift tests: one for every feature, or a test by feature.
        thresholds: Drift thresholds: one, or by test name.
        drift_share: The share of drifted features at which the data drifts.
        every: Also score performance per window of this length (``"1h"``).
        min_labels: Fewer labels than this in a window give no metric.
        tolerance: A metric worse than its evaluation by more than this fraction is flagged.
        html: Also write the self-contained HTML report here.
        deliver: Deliver the webhooks of alerts that fire (False: record them only).
        endpoint: The serving endpoint's base URL (``http://host:8000``): its ``/metrics``
            give ``ops.error_rate`` since the previous report, for ``error_rate`` alerts.
        progress: Called with (step, done, total) as each step starts.

    Returns:
        The ``MonitorResult``: ``.id``, ``.values``, ``.drift``, ``.prediction_drift``,
        ``.quality``, ``.performance``, ``.ops``, ``.alerts``, ``.to_dict()``,
        ``.to_html(path)``.

    Raises:
        NotFound: no such model version, or no training data in its lineage.
        InvalidInput: the window holds no predictions ("the window holds no predictions:
            ..."), the reference lacks a feature the model takes, or an option is out of range.
    """
    from modelcycle.services.monitor.run import run_monitor

    session = get_session()
    version = session.registry.get(session.project, model_ref)
    result = run_monitor(
        session.registry,
        session.data,
        session.project,
        version,
        window=_current_window(session, version, window),
        reference=_reference(session, reference),
        columns=columns,
        tests=tests,
        thresholds=thresholds,
        drift_share=drift_share,
        every_ms=None if every is None else _span_ms("every", every),
        min_labels=min_labels,
        tolerance=tolerance,
        deliver=deliver,
        endpoint=endpoint,
        progress=progress,
    )
    if html is not None:
        result.to_html(html)
    return result


def reports(
    model_ref: str | ModelVersion,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = 100,
) -> list[MonitorReport]:
    """The stored monitor reports of a model version, newest first.

    Each has ``.id``, ``.created_at`` (epoch ms), ``.rows``, ``.drift_share``,
    ``.dataset_drifted``, ``.reference``, ``.summary`` and the digests of its JSON and HTML.

    Raises:
        NotFound: no such model version.
    """
    session = get_session()
    version = session.registry.get(session.project, model_ref)
    return session.metadata.monitor_reports.reports(
        model_version_id=version.id,
        since_ms=_epoch_ms("since", since),
        until_ms=_epoch_ms("until", until),
        limit=limit,
    )


def series(
    model_ref: str | ModelVersion,
    keys: str | Sequence[str] | None = None,
    *,
    prefix: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    output: Literal["dict", "pandas", "polars"] = "dict",
) -> dict[str, list[SeriesPoint]] | pd.DataFrame | pl.DataFrame:
    """The numbers of a model version's monitor reports over time.

    Args:
        model_ref: The version.
        keys: One key or several (``"drift.share"``, ``"metric.roc_auc"``...); default every
            key, or those under ``prefix``.
        prefix: Only keys starting with this (``"drift.column."``: every feature's score).
        since: Only reports at or after this time.
        until: Only reports before this time.
        output: ``"dict"`` gives ``{key: [SeriesPoint(at, value, report_id), ...]}``, oldest
            first; ``"pandas"`` or ``"polars"`` give one row per report (``at`` as UTC
            datetime, ``report_id``) and one column per key.

    Raises:
        NotFound: no such model version.
        InvalidInput: an unknown ``output``.
    """
    if output not in ("dict", "pandas", "polars"):
        raise InvalidInput(f"output={output!r}: use 'dict', 'pandas' or 'polars'")
    session = get_session()
    version = session.registry.get(session.project, model_ref)
    found = session.metadata.monitor_reports.series(
        version.id,
        keys,
        prefix=prefix,
        since_ms=_epoch_ms("since", since),
        until_ms=_epoch_ms("until", until),
    )
    if output == "dict":
        return found
    frame = _wide(found)
    return frame if output == "polars" else frame.to_pandas()


def _wide(found: Mapping[str, Sequence[SeriesPoint]]) -> pl.DataFrame:
    import polars as pl

    long = pl.DataFrame(
        {
            "key": [key for key, points in found.items() for _ in points],
            "at": [p.at for points in found.values() for p in points],
            "report_id": [p.report_id for points in found.values() for p in points],
            "value": [p.value for points in found.values() for p in points],
        },
        schema={"key": pl.String, "at": pl.Int64, "report_id": pl.String, "value": pl.Float64},
    )
    wide = long.pivot("key", index=["at", "report_id"], values="value").sort("at", "report_id")
    return wide.with_columns(pl.col("at").cast(pl.Datetime("ms", "UTC")))


def _side(session: Session, value: object, name: str) -> tuple[Any, list[str] | None]:
    """One side of a comparison as a frame, and the model inputs when it is a window."""
    from modelcycle.services.monitor.reference import read_log_window, window_features

    if isinstance(value, Window):
        version = session.registry.get(session.project, value.model_ref)
        rows = read_log_window(session.registry, version.id, value.log_window(), _now_ms())
        inputs = list(version.model.signature.input_names)
        return window_features(rows, inputs), inputs
    if isinstance(value, str | DatasetVersion):
        dataset = session.data.get(session.project, value)
        target = session.metadata.projects.get(session.project).card.target
        names = tuple(c for c in dataset.schema.names if c != target)
        return dataset.load("polars", names), None
    if value is None:
        raise InvalidInput(
            f"the {name} is None: pass a dataset ref, a DatasetVersion, a DataFrame or "
            "mc.monitor.window(model_ref, ...)"
        )
    return value, None


def _current_window(
    session: Session, version: ModelVersion, given: Window | int | str | dt.timedelta | None
) -> LogWindow | None:
    from modelcycle.services.monitor.reference import LogWindow

    if given is None:
        return None
    if isinstance(given, Window):
        named = session.registry.get(session.project, given.model_ref)
        if named.id != version.id:
            raise InvalidInput(
                f"the window reads {named.ref} but the monitor runs on {version.ref}: make the "
                "window of the monitored version, or pass the other one as reference="
            )
        return given.log_window()
    if isinstance(given, int) and not isinstance(given, bool):
        return LogWindow(last=given)
    if isinstance(given, str | dt.timedelta):
        return LogWindow(span_ms=_span_ms("window", given))
    raise InvalidInput(
        f"window={given!r}: pass mc.monitor.window(...), a number of predictions, or a span "
        "such as '1h'"
    )


def _reference(session: Session, given: object) -> object:
    from modelcycle.services.monitor.reference import WindowReference

    if not isinstance(given, Window):
        return given
    version = session.registry.get(session.project, given.model_ref)
    log_window = given.log_window()
    return WindowReference(version.id, log_window, f"{version.ref} ({log_window.describe()})")


def _since(since: Moment | None) -> tuple[int | None, int | None]:
    """(since_ms, span_ms) from a datetime (absolute) or a timedelta / text (a span)."""
    if since is None:
        return None, None
    if isinstance(since, dt.datetime):
        return _epoch_ms("since", since), None
    return None, _span_ms("since", since)


def _span_ms(name: str, span: object) -> int:
    from modelcycle.services.monitor.schedule import parse_duration

    if isinstance(span, dt.timedelta):
        ms = int(span.total_seconds() * 1000)
    elif isinstance(span, str):
        ms = int(parse_duration(span) * 1000)
    else:
        raise InvalidInput(f"{name}={span!r} must be a timedelta or text such as '1h'")
    if ms <= 0:
        raise InvalidInput(f"{name}={span!r} must be longer than zero")
    return ms


def _epoch_ms(name: str, moment: object) -> int | None:
    if moment is None:
        return None
    if not isinstance(moment, dt.datetime):
        raise InvalidInput(f"{name}={moment!r} must be a datetime (or None)")
    return int(moment.timestamp() * 1000)


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000
