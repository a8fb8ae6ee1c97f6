"""The latest monitor report of the served version, as Prometheus gauges on ``/metrics``.

``modelcycle monitor run`` (or its schedule) stores a report per run; the endpoint reads the
newest one of the version it serves from the metadata store (``serve`` and ``monitor`` share
only the store) and exposes its numbers, so one Prometheus scrape sees traffic and drift side
by side, and an alerting rule can use either:

- ``modelcycle_drift_share{model, version}``: the share of drifted features;
- ``modelcycle_drift_score{model, version, column}``: each feature's drift score (a p-value
  or a distance: the report says which test scored it), and ``column="<prediction>"`` for
  the model's output;
- ``modelcycle_monitor_metric{model, version, metric}``: performance on labelled predictions;
- ``modelcycle_monitor_report_timestamp_seconds{model, version}``: when that report was made.

The store is read at most once per ``refresh_seconds``; a store that cannot be read leaves the
previous figures in place (and logs why) rather than failing the scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from modelcycle.core.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.metrics_core import Metric

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.store.metadata import SqlMetadataStore

log = logging.getLogger("modelcycle.serve")

REFRESH_SECONDS = 30.0
_COLUMN = "drift.column."
_METRIC = "metric."


class MonitorGauges:
    """A Prometheus collector of the newest monitor report of the version being served."""

    def __init__(
        self,
        metadata: SqlMetadataStore,
        serving: Callable[[], ModelVersion | None],
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        """Read reports from ``metadata`` for whichever version ``serving()`` names."""
        self._metadata = metadata
        self._serving = serving
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._version_id: str | None = None
        self._figures: tuple[str, str, float, dict[str, float | None]] | None = None

    def collect(self) -> Iterator[Metric]:
        """The gauges, from the report read at most ``refresh_seconds`` ago."""
        from prometheus_client.core import GaugeMetricFamily

        figures = self._current()
        if figures is None:
            return
        model, version, created_s, values = figures
        share = GaugeMetricFamily(
            "modelcycle_drift_share", "Share of drifted features", labels=("model", "version")
        )
        scores = GaugeMetricFamily(
            "modelcycle_drift_score",
            "Drift score of each feature (p-value or distance, by its test)",
            labels=("model", "version", "column"),
        )
        metrics = GaugeMetricFamily(
            "modelcycle_monitor_metric",
            "Performance on labelled predictions",
            labels=("model", "version", "metric"),
        )
        made = GaugeMetricFamily(
            "modelcycle_monitor_report_timestamp_seconds",
            "When the newest monitor report was made",
            labels=("model", "version"),
        )
        made.add_metric((model, version), created_s)
        for key, value in values.items():
            if value is None:
                continue
            if key == "drift.share":
                share.add_metric((model, version), value)
            elif key == "drift.prediction":
                scores.add_metric((model, version, "<prediction>"), value)
            elif key.startswith(_COLUMN):
                scores.add_metric((model, version, key.removeprefix(_COLUMN)), value)
            elif key.startswith(_METRIC):
                metrics.add_metric((model, version, key.removeprefix(_METRIC)), value)
        yield from (share, scores, metrics, made)

    def _current(self) -> tuple[str, str, float, dict[str, float | None]] | None:
        version = self._serving()
        if version is None:
            return None
        now = time.monotonic()
        with self._lock:
            fresh = now - self._read_at < self._refresh and self._version_id == version.id
            if fresh:
                return self._figures
            self._read_at = now
            try:
                report = self._metadata.monitor_reports.latest(version.id)
                values = {} if report is None else self._metadata.monitor_reports.values(report.id)
            except StoreError as exc:  # a scrape must not fail because the store is away
                log.warning("the newest monitor report could not be read: %s", exc)
                return self._figures if self._version_id == version.id else None
            self._version_id = version.id
            self._figures = (
                None
                if report is None
                else (version.name, str(version.version), report.created_at / 1000, values)
            )
            return self._figures
