"""Error rates of a running endpoint, read from its ``/metrics`` by the monitor.

The prediction log holds the requests that were answered with predictions; the requests that
failed are only counted by the endpoint (``modelcycle_requests_total{route, status}``). Given
the endpoint's URL, a monitor run scrapes those counters and stores them with its report, so the
next run turns the difference into rates over the time between the two:

- ``ops.error_rate``: answers with a 5xx status among the scoring requests (``/predict``,
  ``/invocations``); what the ``error_rate`` alert rule watches;
- ``ops.client_error_rate``: answers with a 4xx status (malformed or mismatched input);
- ``ops.requests_total``, ``ops.server_errors_total``, ``ops.client_errors_total``: the
  counters as scraped.

The first scrape of a version, or one after the endpoint restarted (a counter went down), gives
rates since the endpoint started. An endpoint that cannot be reached gives no rates and a note;
it never fails the run.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

SCORING_ROUTES = frozenset({"/predict", "/invocations"})
COUNTERS = ("requests_total", "server_errors_total", "client_errors_total")
TIMEOUT_SECONDS = 5.0


def endpoint_ops(
    url: str, previous: Mapping[str, float | None], notes: list[str]
) -> dict[str, float | None]:
    """Scrape ``url``'s ``/metrics``; the counters and the rates since ``previous`` counters.

    Args:
        url: The endpoint's base URL (``http://host:8000``).
        previous: The values of the version's previous report (its ``ops.*`` counters).
        notes: Gets a line when the endpoint cannot be read.

    Raises:
        InvalidInput: ``url`` is not an http(s) URL.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"endpoint {url!r} must be an http:// or https:// URL")
    try:
        counts = scrape_counters(url.rstrip("/") + "/metrics")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        notes.append(f"ops: the endpoint's metrics at {url} could not be read ({exc})")
        return {}
    before = [previous.get(f"ops.{name}") for name in COUNTERS]
    after = [counts[name] for name in COUNTERS]
    restarted = any(b is None or a < b for a, b in zip(after, before, strict=True))
    requests, server, client = (
        after if restarted else [a - (b or 0.0) for a, b in zip(after, before, strict=True)]
    )
    return {
        **{name: counts[name] for name in COUNTERS},
        "error_rate": server / requests if requests > 0 else None,
        "client_error_rate": client / requests if requests > 0 else None,
    }


def scrape_counters(metrics_url: str) -> dict[str, float]:
    """The scoring routes' request counters in a ``/metrics`` page, by status class."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
        text = answer.read().decode()
    counts = dict.fromkeys(COUNTERS, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name != "modelcycle_requests":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if sample.labels.get("route") not in SCORING_ROUTES:
                continue
            status = sample.labels.get("status", "")
            counts["requests_total"] += sample.value
            if status.startswith("5"):
                counts["server_errors_total"] += sample.value
            elif status.startswith("4"):
                counts["client_errors_total"] += sample.value
    return counts
