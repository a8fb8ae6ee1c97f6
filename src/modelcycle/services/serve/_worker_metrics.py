"""``/metrics`` of a server with several workers: whole-server figures from every worker.

prometheus-client's multiprocess mode: the supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh folder before the workers start, each worker's metric values live in memory-mapped files
there, and whichever worker answers ``/metrics`` merges them all:

- counters and histograms (requests, latency, predictions, outputs) are summed over the
  workers, the dead ones included, so they never go backwards when a worker is replaced;
- gauges (requests in flight, the version answering) are one series per worker, labelled
  ``pid``; the supervisor deletes a dead worker's;
- the prediction log's queue depth (live workers) and drops (all workers) are summed; each
  worker publishes its own every second and when it answers ``/metrics``;
- process CPU, memory and file descriptors are read from ``/proc`` for each live worker,
  labelled ``pid``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from modelcycle.services.serve.metrics import ServingMetrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PUBLISH_SECONDS = 1.0

# ServingMetrics reads these through set_function, which multiprocess mode cannot see (their
# files hold zeros); each worker publishes them under the second name, merged back here.
_PUBLISHED = {
    "modelcycle_prediction_log_queue": "modelcycle_worker_log_queue",
    "modelcycle_prediction_log_dropped": "modelcycle_worker_log_dropped",
}
_RENAMED = {worker: served for served, worker in _PUBLISHED.items()}


class WorkerMetrics(ServingMetrics):
    """The metrics of one worker; ``render`` gives the whole server's.

    Raises:
        KeyError: ``PROMETHEUS_MULTIPROC_DIR`` is not set (the supervisor sets it).
    """

    def __init__(self, log_depth: Callable[[], float], log_dropped: Callable[[], float]) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        super().__init__(log_depth, log_dropped)
        self.directory = os.environ[MULTIPROC_ENV]
        self._log_depth = log_depth
        self._log_dropped = log_dropped
        published = CollectorRegistry()  # never rendered: the values go to the shared files
        self._depth = Gauge(
            "modelcycle_worker_log_queue",
            "Records waiting to be logged",
            registry=published,
            multiprocess_mode="livesum",
        )
        self._dropped = Gauge(
            "modelcycle_worker_log_dropped",
            "Records the full log queue dropped (the requests still succeeded)",
            registry=published,
            multiprocess_mode="sum",
        )
        self.publish()
        threading.Thread(target=self._publish_often, name="modelcycle-metrics", daemon=True).start()

    def publish(self) -> None:
        """Write this worker's prediction log figures to the shared files."""
        self._depth.set(self._log_depth())
        self._dropped.set(self._log_dropped())

    def _publish_often(self) -> None:
        stop = threading.Event()
        while not stop.wait(PUBLISH_SECONDS):
            self.publish()

    def render(self) -> tuple[bytes, str]:
        """The exposition text of the whole server and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        self.publish()
        registry = CollectorRegistry()
        registry.register(WholeServer(self.directory))
        for collector in self.collectors:  # read per process, the same in every worker
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class WholeServer:
    """A collector merging every worker's files in ``directory``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        """The merged metrics, then each live worker's process metrics."""
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = MultiProcessCollector(None, path=self.directory)  # type: ignore[no-untyped-call]
        for metric in merged.collect():  # type: ignore[no-untyped-call]
            if metric.name in _PUBLISHED:
                continue
            served = _RENAMED.get(metric.name)
            yield metric if served is None else _renamed(metric, served)
        yield from _process_metrics(worker_pids(self.directory))


def worker_pids(directory: str) -> list[str]:
    """The pids of the workers with gauges in ``directory`` (the live ones)."""
    return sorted(path.stem[len("gauge_all_") :] for path in Path(directory).glob("gauge_all_*.db"))


def forget_worker(directory: str, pid: int) -> None:
    """Delete a dead worker's gauges (its counters and histograms stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    Path(directory, f"gauge_all_{pid}.db").unlink(missing_ok=True)


def _renamed(metric: Metric, name: str) -> Metric:
    from prometheus_client.metrics_core import Metric

    out = Metric(name, metric.documentation, metric.type)
    for sample in metric.samples:
        out.add_sample(name, sample.labels, sample.value)
    return out


def _process_metrics(pids: list[str]) -> Iterator[Metric]:
    from prometheus_client import ProcessCollector
    from prometheus_client.metrics_core import Metric

    families: dict[str, Metric] = {}
    for pid in pids:
        collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
        for metric in collector.collect():
            family = families.setdefault(
                metric.name, Metric(metric.name, metric.documentation, metric.type)
            )
            for sample in metric.samples:
                family.add_sample(sample.name, {**sample.labels, "pid": pid}, sample.value)
    yield from families.values()
