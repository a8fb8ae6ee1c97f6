"""Monitor reports: one row per monitor run, and its numbers as a long, narrow time series.

A report row carries what a listing shows (window, rows, drift share and verdict, a JSON
summary, the digests of the full JSON and HTML reports in the artifact store). Its numbers are
also ``monitor_values`` rows keyed like ``drift.share``, ``drift.column.age``,
``quality.missing.age`` or ``metric.roc_auc``, written in the same transaction, so the series
of one key for one model version is one range scan of the (model_version_id, key, at) index.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata._codec import loads
from modelcycle.store.metadata._tables import KEY_LENGTH, monitor_reports, monitor_values

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Row
    from sqlalchemy.sql import Select

    from modelcycle.store.metadata._unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class MonitorReport:
    """One monitor run over a window of a model version's predictions.

    Attributes:
        id: 32-hex id (assigned by ``add`` when empty).
        project_id: The project of the model.
        model_version_id: The model version whose predictions were monitored.
        rows: Predictions in the window.
        created_at: When the run finished (epoch ms; ``add`` uses now when 0).
        window_start: The window's first instant (epoch ms, inclusive), if it is a time window.
        window_end: The window's end (epoch ms, exclusive).
        reference: What the window was compared with (e.g. a dataset version ref).
        drift_share: The share of monitored columns that drifted.
        dataset_drifted: Whether that share crossed the dataset-level threshold.
        summary: Per-column scores, quality counts, metric values: JSON (NaN becomes null).
        json_digest: The full JSON report in the artifact store.
        html_digest: The self-contained HTML report in the artifact store.
    """

    id: str
    project_id: int
    model_version_id: str
    rows: int
    created_at: int = 0
    window_start: int | None = None
    window_end: int | None = None
    reference: str | None = None
    drift_share: float | None = None
    dataset_drifted: bool | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    json_digest: str | None = None
    html_digest: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of a monitored key: when its report ran, the value (None for NaN), the report."""

    at: int
    value: float | None
    report_id: str


class MonitorReportRepository:
    """Add and read monitor reports and the time series of their values.

    Thread safety: every call is its own transaction; calls from many threads are safe.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add(
        self, report: MonitorReport, values: Mapping[str, float | None] | None = None
    ) -> MonitorReport:
        """Store a report and its values in one transaction.

        Args:
            report: The report; an empty ``id`` and a zero ``created_at`` are filled in.
            values: Its numbers by key (``drift.share``, ``metric.f1``...); NaN and None are
                stored as NULL. Each value's time is the report's ``created_at``.

        Returns:
            The report as stored.

        Raises:
            InvalidInput: a key is empty or longer than 250 characters, a value is not a
                number, or ``rows`` is negative.
            Conflict: a report with this id exists.
        """
        if report.rows < 0:
            raise InvalidInput(f"rows={report.rows} must be >= 0")
        stored = replace(
            report,
            id=report.id or new_id(),
            created_at=report.created_at or time.time_ns() // 1_000_000,
        )
        value_rows = _value_rows(stored, values or {})
        with self._uow.write() as conn:
            conn.execute(insert(monitor_reports).values(**_report_row(stored)))
            if value_rows:
                conn.execute(insert(monitor_values), value_rows)
        return stored

    def get(self, report_id: str) -> MonitorReport:
        """The report with this id.

        Raises:
            NotFound: there is none.
        """
        with self._uow.read() as conn:
            row = conn.execute(
                select(monitor_reports).where(monitor_reports.c.id == report_id)
            ).first()
        if row is None:
            raise NotFound(f"no monitor report with id {report_id!r}")
        return _to_report(row)

    def reports(
        self,
        *,
        project_id: int | None = None,
        model_version_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = 100,
    ) -> list[MonitorReport]:
        """Reports matching every given filter, newest first.

        Args:
            project_id: Only reports of this project.
            model_version_id: Only reports on this model version.
            since_ms: Only reports created at or after this time (epoch ms).
            until_ms: Only reports created before this time (epoch ms).
            limit: At most this many (None: all).
        """
        table = monitor_reports
        query: Select[Any] = select(table)
        if project_id is not None:
            query = query.where(table.c.project_id == project_id)
        if model_version_id is not None:
            query = query.where(table.c.model_version_id == model_version_id)
        if since_ms is not None:
            query = query.where(table.c.created_at >= since_ms)
        if until_ms is not None:
            query = query.where(table.c.created_at < until_ms)
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._uow.read() as conn:
            return [_to_report(row) for row in conn.execute(query)]

    def latest(self, model_version_id: str) -> MonitorReport | None:
        """The newest report on a model version, or None."""
        found = self.reports(model_version_id=model_version_id, limit=1)
        return found[0] if found else None

    def values(self, report_id: str) -> dict[str, float | None]:
        """The numbers of one report by key (empty when the report has none or does not exist)."""
        with self._uow.read() as conn:
            rows = conn.execute(
                select(monitor_values.c.key, monitor_values.c.value)
                .where(monitor_values.c.report_id == report_id)
                .order_by(monitor_values.c.key)
            ).all()
        return {row.key: row.value for row in rows}

    def series(
        self,
        model_version_id: str,
        keys: str | Sequence[str] | None = None,
        *,
        prefix: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> dict[str, list[SeriesPoint]]:
        """The values of keys of one model version over time, oldest first per key.

        Args:
            model_version_id: The model version.
            keys: One key or several (default: every key, or those under ``prefix``).
            prefix: Only keys starting with this (``drift.column.`` gives every column's score).
            since_ms: Only reports at or after this time (epoch ms).
            until_ms: Only reports before this time (epoch ms).

        Returns:
            ``{key: [SeriesPoint, ...]}``; a key with no value in the range is absent.
        """
        table = monitor_values
        query: Select[Any] = select(table.c.key, table.c.at, table.c.value, table.c.report_id)
        query = query.where(table.c.model_version_id == model_version_id)
        if keys is not None:
            wanted = [keys] if isinstance(keys, str) else list(keys)
            query = query.where(table.c.key.in_(wanted))
        if prefix:
            # A range on the key: the index serves it on both dialects, unlike LIKE.
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            query = query.where(table.c.key >= prefix).where(table.c.key < upper)
        if since_ms is not None:
            query = query.where(table.c.at >= since_ms)
        if until_ms is not None:
            query = query.where(table.c.at < until_ms)
        query = query.order_by(table.c.key, table.c.at, table.c.report_id)
        out: dict[str, list[SeriesPoint]] = {}
        with self._uow.read() as conn:
            for row in conn.execute(query):
                out.setdefault(row.key, []).append(SeriesPoint(row.at, row.value, row.report_id))
        return out

    def keys(self, model_version_id: str) -> list[str]:
        """Every key with a value for the model version, sorted."""
        table = monitor_values
        with self._uow.read() as conn:
            return list(
                conn.execute(
                    select(table.c.key)
                    .where(table.c.model_version_id == model_version_id)
                    .distinct()
                    .order_by(table.c.key)
                ).scalars()
            )


def _value_rows(report: MonitorReport, values: Mapping[str, float | None]) -> list[dict[str, Any]]:
    rows = []
    # Keys and values are checked as plain objects: they come from callers' code.
    items: list[tuple[object, object]] = list(values.items())
    for key, value in items:
        if not isinstance(key, str) or not key or len(key) > KEY_LENGTH:
            raise InvalidInput(
                f"monitor value key {key!r} must be a non-empty str of at most {KEY_LENGTH} "
                "characters"
            )
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise InvalidInput(f"monitor value {key}={value!r} is not a number")
        number = None if value is None else _nan_to_none(float(value))
        rows.append(
            {
                "report_id": report.id,
                "key": key,
                "model_version_id": report.model_version_id,
                "at": report.created_at,
                "value": number,
            }
        )
    return rows


def _report_row(report: MonitorReport) -> dict[str, Any]:
    return {
        "id": report.id,
        "project_id": report.project_id,
        "model_version_id": report.model_version_id,
        "created_at": report.created_at,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "rows": report.rows,
        "reference": report.reference,
        "drift_share": _nan_to_none(report.drift_share),
        "dataset_drifted": report.dataset_drifted,
        "summary_json": _summary_json(report.summary),
        "json_digest": report.json_digest,
        "html_digest": report.html_digest,
    }


def _nan_to_none(value: float | None) -> float | None:
    # SQLite stores NaN as NULL; PostgreSQL would keep it. Both read back None.
    return None if value is None or math.isnan(value) else float(value)


def _summary_json(summary: Mapping[str, Any]) -> str:
    import orjson

    try:
        return orjson.dumps(
            dict(summary), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        ).decode()
    except TypeError as error:  # orjson.JSONEncodeError is a TypeError
        raise InvalidInput(f"the report summary is not JSON-encodable: {error}") from None


def _to_report(row: Row[Any]) -> MonitorReport:
    return MonitorReport(
        id=row.id,
        project_id=row.project_id,
        model_version_id=row.model_version_id,
        rows=row.rows,
        created_at=row.created_at,
        window_start=row.window_start,
        window_end=row.window_end,
        reference=row.reference,
        drift_share=row.drift_share,
        dataset_drifted=row.dataset_drifted,
        summary=loads(row.summary_json),
        json_digest=row.json_digest,
        html_digest=row.html_digest,
    )
