"""The quickstart's monitoring half: shifted traffic, feedback, the monitor, a drift alert.

Imported by ``quickstart.py``. A webhook receiver on a loopback port stands in for the team's
chat or paging tool; the alert rule posts to it when the share of drifted features passes 0.3.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from quickstart_serving import post_json, running_endpoint

import modelcycle as mc

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pandas as pd

SHIFTED = ("mean radius", "mean perimeter", "mean area", "worst radius", "worst perimeter")
SHIFTED += ("worst area", "mean texture", "worst texture", "area error", "perimeter error")
SHIFTED += ("radius error", "mean concavity", "worst concavity", "mean compactness")
SHIFTED += ("worst compactness", "mean concave points")


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server on a loopback port that keeps every JSON body POSTed to it."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the quickstart prints what arrives itself."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def shifted_traffic(features: pd.DataFrame) -> pd.DataFrame:
    """The test rows as a new scanner would send them: sizes and textures read 30% larger."""
    shifted = features.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] * 1.3
    return shifted


def send_feedback(url: str, ids: list[str], labels: list[int]) -> dict[str, Any]:
    """POST the true labels to /feedback, retrying while the predictions are being logged."""
    items = [{"prediction_id": i, "label": y} for i, y in zip(ids, labels, strict=True)]
    deadline = time.monotonic() + 30
    while True:
        try:
            answer, _ = post_json(f"{url}/feedback", {"items": items})
            return answer
        except urllib.error.HTTPError as error:  # 404/207: not all are in the log yet
            if error.code not in (404, 207) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def monitor_production(
    model_name: str, test: mc.DatasetVersion, target: str, project: str, reports: Path
) -> Path:
    """Send shifted traffic and its labels, run the monitor, receive the alert; the report."""
    frame = test.load()
    features = shifted_traffic(frame.drop(columns=target))
    labels = [int(y) for y in frame[target]]
    with webhook_receiver() as (hook, received):
        mc.monitor.add_alert_rule(model_name, "drift_share", 0.3, webhook=hook)
        print(f"\nAlert rule: {model_name} drift share above 0.3 posts to {hook}")
        with running_endpoint(f"{model_name}@production", project) as url:
            records = json.loads(features.to_json(orient="records"))
            answer, _ = post_json(f"{url}/predict", {"records": records})
            print(f"Sent {len(records)} rows of shifted traffic; labels came back the next day:")
            summary = send_feedback(url, answer["ids"], labels)
            print(f"  POST /feedback stored {summary['recorded']} labels")
        report = reports / "monitor.html"
        result = mc.monitor.run(f"{model_name}@production", window=len(records), html=report)
        drift = result.drift
        print(
            f"Monitor report {result.report.id}: {len(drift.drifted_columns)} of "
            f"{len(drift.tested_columns)} features drifted (share {drift.share:.2f}), e.g. "
            f"{', '.join(drift.drifted_columns[:3])}"
        )
        if result.performance is not None:
            metrics = result.performance.overall.metrics
            shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if v is not None)
            print(f"  on the labelled rows: {shown}")
            for drop in result.performance.drops:
                if drop.flagged:
                    print(
                        f"  {drop.metric} fell from {drop.baseline:.3f} at evaluation to "
                        f"{drop.value:.3f}: flagged"
                    )
        deadline = time.monotonic() + 15
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        for payload in received:
            print(f"  the webhook received: {payload.get('summary', payload)}")
        if not received:
            print("  the webhook received nothing: see `modelcycle monitor alerts history`")
    print(f"  report {report}")
    return report
