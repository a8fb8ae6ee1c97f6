"""What a server counts, in Prometheus form (``GET /metrics``).

Requests by route and status, a latency histogram, in-flight scoring requests, predictions per
class (or a histogram of regression outputs), the version answering, the prediction log's queue
depth and drops, and the process's CPU and memory (prometheus-client's process collector).
Each server has a registry of its own, so tests and several apps in one process do not mix.

Every answered request is counted, errors included (a 404, 405, 413, 415, 400, 422, 503 or
500 as much as a 200), by the request log (``request_log.RequestLog``) wrapping the whole app,
so the latency is the whole request as the app sees it: from its first byte reaching the app
(headers parsed) to its answer handed to the server, body reading, parsing, middleware and
encoding included. The ``route`` label is the path of the route that matched (``/predict``),
and ``unmatched`` for any path no route has, so a scan of random paths cannot make a series
per path. A request whose client left before it was answered is not counted.

The request path uses ``observe`` and ``count_outputs``, which keep each labelled child once
made: looking a child up by its labels takes a lock and builds tuples on every call.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
OUTPUT_BUCKETS = (-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e6)
UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of a request to a path no route has."""


class ServingMetrics:
    """The metrics of one server."""

    def __init__(self, log_depth: Callable[[], float], log_dropped: Callable[[], float]) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            ProcessCollector,
        )

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelcycle_requests_total",
            "HTTP requests",
            ("route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelcycle_request_seconds",
            "Time from request to response",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "modelcycle_requests_in_flight", "Requests being answered", registry=self.registry
        )
        self.predictions = Counter(
            "modelcycle_predictions_total",
            "Rows predicted, by predicted class (regression: 'value')",
            ("version", "label"),
            registry=self.registry,
        )
        self.outputs = Histogram(
            "modelcycle_prediction_value",
            "Regression outputs",
            ("version",),
            buckets=OUTPUT_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "modelcycle_model_info",
            "The version answering (1) and the ones that did before (0)",
            ("model", "version", "version_id"),
            registry=self.registry,
        )
        queue = Gauge(
            "modelcycle_prediction_log_queue",
            "Records waiting to be logged",
            registry=self.registry,
        )
        queue.set_function(log_depth)
        dropped = Gauge(
            "modelcycle_prediction_log_dropped",
            "Records the full log queue dropped (the requests still succeeded)",
            registry=self.registry,
        )
        dropped.set_function(log_dropped)
        ProcessCollector(registry=self.registry)
        self._requests: dict[tuple[str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        self._predictions: dict[tuple[str, str], Any] = {}
        self.collectors: list[Any] = []
        # The paths of the app's routes (build_app fills it): the labels of requests answered
        # before the router saw them (a 413 of the body limit).
        self.routes: set[str] = set()

    def add_collector(self, collector: Any) -> None:
        """Expose a Prometheus collector's figures too (e.g. ``monitor_gauges``)."""
        self.collectors.append(collector)
        self.registry.register(collector)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and observe how long it took."""
        counter = self._requests.get((route, status))
        if counter is None:
            counter = self._requests[route, status] = self.requests.labels(route, str(status))
        counter.inc()
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def route_of(self, scope: Mapping[str, Any]) -> str:
        """The ``route`` label of an answered ASGI request (see the module docstring)."""
        route = scope.get("route")  # Starlette's router sets the route it matched
        if route is not None:
            return str(getattr(route, "path", UNMATCHED_ROUTE))
        path = scope.get("path")
        return path if path in self.routes else UNMATCHED_ROUTE

    def serving(self, model: str, version: int, version_id: str) -> None:
        """Mark ``version`` as the one answering."""
        for sample in next(iter(self.model_info.collect())).samples:
            labels = sample.labels
            self.model_info.labels(labels["model"], labels["version"], labels["version_id"]).set(0)
        self.model_info.labels(model, str(version), version_id).set(1)

    def count_outputs(self, version: str, labels: list[Any] | None, values: Any) -> None:
        """Count predicted classes, or observe regression outputs."""
        if labels is not None:
            counts = {str(labels[0]): 1} if len(labels) == 1 else Counter(map(str, labels))
            for label, count in counts.items():
                counter = self._predictions.get((version, label))
                if counter is None:
                    counter = self.predictions.labels(version, label)
                    self._predictions[version, label] = counter
                counter.inc(count)
            return
        self.predictions.labels(version, "value").inc(len(values))
        histogram = self.outputs.labels(version)
        if values and isinstance(values[0], list):  # several outputs per row
            values = [value for row in values for value in row]
        for value in values:
            histogram.observe(float(value))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
