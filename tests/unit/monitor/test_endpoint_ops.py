"""Error rates from a real endpoint's /metrics page, between monitor runs, and their alert."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.endpoint_ops import endpoint_ops
from modelcycle.services.serve.metrics import ServingMetrics

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def endpoint() -> Iterator[tuple[str, ServingMetrics]]:
    """A loopback server whose /metrics is a real ServingMetrics page the test can change."""
    metrics = ServingMetrics(lambda: 0, lambda: 0)

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, media_type = metrics.render()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", metrics
    finally:
        server.shutdown()
        server.server_close()


def _answer(metrics: ServingMetrics, route: str, status: int, times: int) -> None:
    for _ in range(times):
        metrics.observe(route, status, 0.001)


def test_rates_are_taken_between_two_scrapes(endpoint: tuple[str, ServingMetrics]) -> None:
    url, metrics = endpoint
    _answer(metrics, "/predict", 200, 90)
    _answer(metrics, "/predict", 500, 6)
    _answer(metrics, "/invocations", 422, 4)
    _answer(metrics, "/metrics", 500, 50)  # not a scoring route: not counted
    notes: list[str] = []
    first = endpoint_ops(url, {}, notes)
    assert first["requests_total"] == 100
    assert first["error_rate"] == pytest.approx(0.06)
    assert first["client_error_rate"] == pytest.approx(0.04)
    previous = {f"ops.{k}": v for k, v in first.items()}
    _answer(metrics, "/predict", 200, 10)
    _answer(metrics, "/predict", 503, 10)
    second = endpoint_ops(url, previous, notes)
    assert second["requests_total"] == 120
    assert second["error_rate"] == pytest.approx(0.5)  # 10 of the 20 since the first scrape
    assert second["client_error_rate"] == 0
    assert notes == []


def test_a_restarted_endpoint_counts_from_its_start(endpoint: tuple[str, ServingMetrics]) -> None:
    url, metrics = endpoint
    _answer(metrics, "/predict", 200, 3)
    _answer(metrics, "/predict", 500, 1)
    before = {"ops.requests_total": 1_000.0, "ops.server_errors_total": 0.0}
    before["ops.client_errors_total"] = 0.0
    assert endpoint_ops(url, before, [])["error_rate"] == pytest.approx(0.25)


def test_an_unreachable_endpoint_is_a_note_and_a_bad_url_an_error() -> None:
    notes: list[str] = []
    assert endpoint_ops("http://127.0.0.1:9", {}, notes) == {}
    assert "could not be read" in notes[0]
    with pytest.raises(InvalidInput, match="http"):
        endpoint_ops("file:///etc/passwd", {}, notes)


def test_the_monitor_stores_the_rate_and_the_error_rate_rule_fires(
    tmp_path: Path, endpoint: tuple[str, ServingMetrics]
) -> None:
    url, metrics = endpoint
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc", task="classification", target="malignant", metric="roc_auc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with mc.start_run() as run:
        mc.log_input(mc.data.register("bc-train", X.assign(malignant=y)), role="train")
        mc.log_model(LogisticRegression(max_iter=5000).fit(X, y), input_example=X.head(5))
    mc.models.register(run, "bc")
    mc.monitor.add_alert_rule("bc", "error_rate", 0.1)
    mc.predict_batch("bc@1", X.head(200))
    _answer(metrics, "/predict", 200, 80)
    _answer(metrics, "/predict", 500, 20)
    result = mc.monitor.run("bc@1", window=200, endpoint=url)
    assert result.values["ops.error_rate"] == pytest.approx(0.2)
    (outcome,) = result.alerts
    assert outcome.change.value == "opened"
    _answer(metrics, "/predict", 200, 100)
    again = mc.monitor.run("bc@1", window=200, endpoint=url)
    assert again.values["ops.error_rate"] == 0
    assert again.alerts[0].change.value == "resolved"
    silent = mc.monitor.run("bc@1", window=200)  # no endpoint: no rate, no resolution
    assert "ops.error_rate" not in silent.values
    assert silent.alerts[0].change.value in ("ok", "no_value")
