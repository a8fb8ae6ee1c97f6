"""Webhook delivery of alerts: a JSON POST, retried with backoff, every attempt recorded.

A delivery never raises and never holds the monitor for long. The deliveries of one monitor
run share one time budget (``WebhookPolicy.budget_s``, 10 s by default) and run side by side
on a few threads; the call returns when each has been delivered, has failed for good, or the
budget ran out. Each attempt waits at most ``timeout_s`` for the receiver (less when the
budget has less left), and a retry waits ``backoff_s``, then twice that, and so on. A 2xx
answer delivers; a 5xx, 408 or 429 answer or a network error is retried; any other answer
(redirects included, which are not followed) fails at once, since sending the same body again
will not change it. Every attempt is counted on the alert with ``record_delivery``, so the
alert says whether it was delivered, how many attempts it took and the last error.

Deliveries are at least once: a receiver that answers after the timeout may get the same
event again from a later run. Each body carries the alert id and the event, and the
``X-ModelCycle-Delivery`` header ``<alert id>:<event>`` lets a receiver drop repeats.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelcycle._version import __version__
from modelcycle.core.errors import InvalidInput
from modelcycle.store.metadata.alerts import AlertKind

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modelcycle.store.metadata import Alert, AlertRule, SqlMetadataStore

log = logging.getLogger("modelcycle.monitor.webhooks")

_RETRIED_STATUSES = frozenset({408, 425, 429})
_MAX_URL_LENGTH = 2048
_MAX_THREADS = 8


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """How hard to try a webhook.

    Attributes:
        attempts: Tries per delivery (at least 1).
        backoff_s: The wait before the second try; each later wait doubles (0.5, 1, 2...).
        timeout_s: The longest one try waits for the receiver (connect, then each read).
        budget_s: The longest all the deliveries of one call may take together.
    """

    attempts: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 3.0
    budget_s: float = 10.0

    def __post_init__(self) -> None:
        """Refuse settings that would never send or never stop."""
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InvalidInput(f"attempts={self.attempts!r} must be an integer >= 1")
        if self.attempts < 1:
            raise InvalidInput(f"attempts={self.attempts!r} must be >= 1")
        for name in ("backoff_s", "timeout_s", "budget_s"):
            number = getattr(self, name)
            if not isinstance(number, int | float) or not math.isfinite(number) or number < 0:
                raise InvalidInput(f"{name}={number!r} must be a finite number of seconds >= 0")
        if self.timeout_s <= 0 or self.budget_s <= 0:
            raise InvalidInput(
                f"timeout_s={self.timeout_s!r} and budget_s={self.budget_s!r} must be > 0"
            )


DEFAULT_POLICY = WebhookPolicy()


@dataclass(frozen=True, slots=True)
class Notification:
    """One event of one alert to send: where, and the JSON body."""

    alert_id: str
    url: str
    payload: Mapping[str, Any]

    @property
    def event(self) -> str:
        """``firing`` or ``resolved``: what happened to the alert."""
        return str(self.payload.get("state", "firing"))


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a notification went.

    Attributes:
        alert_id: The alert it was about.
        event: ``firing`` or ``resolved``.
        delivered: Whether a try got a 2xx answer.
        attempts: Tries made (each is also counted on the alert).
        status: The HTTP status of the last answer, None when none came.
        error: Why the last try failed (None when delivered).
        elapsed_ms: Time spent, waits included.
    """

    alert_id: str
    event: str
    delivered: bool
    attempts: int
    status: int | None
    error: str | None
    elapsed_ms: int


def alert_payload(
    rule: AlertRule,
    alert: Alert,
    *,
    event: str,
    value: float | None,
    project: str,
    model_version_id: str,
    model_version: int | None = None,
    report_id: str | None = None,
    at_ms: int,
    primary_metric: str | None = None,
    below: bool = False,
    column_test: str | None = None,
) -> dict[str, Any]:
    """The JSON body telling a webhook that an alert is firing or resolved.

    Keys: ``event`` (``alert.firing`` / ``alert.resolved``), ``state``, ``alert_id``,
    ``rule_id``, ``kind``, ``project``, ``model_name``, ``model_version`` (the number, when
    known), ``model_version_id``, ``column``, ``test`` (the drift test that scored the column,
    when known), ``metric``, ``value`` (this run's), ``opened_value`` (the value that opened
    the alert), ``threshold``, ``fires_when`` (``above``, or ``below`` for a column scored by a
    p-value), ``report_id``, ``opened_at``, ``resolved_at``, ``at`` (the run's time; times are
    epoch ms) and ``summary``, one line for people.
    """
    model = rule.model_name if model_version is None else f"{rule.model_name}@{model_version}"
    metric = (rule.metric or primary_metric) if rule.kind is AlertKind.METRIC_DROP else None
    return {
        "event": f"alert.{event}",
        "state": event,
        "alert_id": alert.id,
        "rule_id": rule.id,
        "kind": rule.kind.value,
        "project": project,
        "model_name": rule.model_name,
        "model_version": model_version,
        "model_version_id": model_version_id,
        "column": rule.column,
        "test": column_test,
        "metric": metric,
        "value": value,
        "opened_value": alert.value,
        "threshold": rule.threshold,
        "fires_when": "below" if below else "above",
        "report_id": report_id,
        "opened_at": alert.opened_at,
        "resolved_at": alert.resolved_at,
        "at": at_ms,
        "summary": summary_line(
            rule, event, value, model=model, primary_metric=primary_metric, below=below
        ),
    }


def summary_line(
    rule: AlertRule,
    event: str,
    value: float | None,
    *,
    model: str,
    primary_metric: str | None = None,
    below: bool = False,
) -> str:
    """One line for people: ``churn@3: drift share 0.42 is above 0.3 (firing)``.

    ``below``: the rule fires when the value falls under the threshold (a p-value).
    """
    if rule.kind is AlertKind.COLUMN_SCORE:
        subject = f"drift score of column {rule.column!r}"
    elif rule.kind is AlertKind.METRIC_DROP:
        subject = f"drop of {rule.metric or primary_metric or 'the primary metric'}"
    else:
        subject = _LABELS[rule.kind]
    shown = "unknown" if value is None else f"{value:.4g}"
    beyond, back = ("below", "above") if below else ("above", "under")
    if event == "resolved":
        return f"{model}: {subject} {shown} is back at or {back} {rule.threshold:g} (resolved)"
    return f"{model}: {subject} {shown} is {beyond} {rule.threshold:g} (firing)"


_LABELS = {
    AlertKind.DRIFT_SHARE: "drift share",
    AlertKind.ERROR_RATE: "error rate",
    AlertKind.P99_LATENCY: "p99 latency (ms)",
}


def check_webhook_url(url: object) -> str:
    """The URL, if it can be a webhook: ``http://`` or ``https://`` with a host.

    Raises:
        InvalidInput: another scheme, no host, a bad port, spaces or control characters.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"a webhook is a URL string, got {type(url).__name__}")
    shown = _shown(url)
    hint = "give a URL such as https://hooks.example.com/modelcycle"
    if not url or len(url) > _MAX_URL_LENGTH:
        raise InvalidInput(f"webhook {shown!r} must be 1 to {_MAX_URL_LENGTH} characters; {hint}")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidInput(f"webhook {shown!r} holds spaces or control characters; {hint}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            f"webhook {shown!r} must be an http:// or https:// URL, not "
            f"{(parts.scheme + '://') if parts.scheme else 'a bare name'}; {hint}"
        )
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise InvalidInput(f"webhook {shown!r} has an invalid port; {hint}") from None
    if not parts.hostname:
        raise InvalidInput(f"webhook {shown!r} names no host; {hint}")
    return url


def shown_url(url: str) -> str:
    """A webhook URL safe to print: scheme, host and port only (paths often hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _shown(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


def deliver(
    metadata: SqlMetadataStore | None,
    notifications: Sequence[Notification],
    policy: WebhookPolicy = DEFAULT_POLICY,
) -> list[DeliveryResult]:
    """Send each notification, retried per ``policy``; never raises.

    Args:
        metadata: Where each attempt is counted on its alert (``alerts.record_delivery``);
            None sends without recording.
        notifications: What to send; they go side by side on up to 8 threads.
        policy: Tries, waits, timeouts and the budget shared by all of them.

    Returns:
        One result per notification, in order.
    """
    if not notifications:
        return []
    deadline = time.monotonic() + policy.budget_s
    if len(notifications) == 1:
        return [_deliver_one(metadata, notifications[0], policy, deadline)]
    workers = min(_MAX_THREADS, len(notifications))
    with ThreadPoolExecutor(workers, thread_name_prefix="modelcycle-webhook") as pool:
        futures = [
            pool.submit(_deliver_one, metadata, item, policy, deadline) for item in notifications
        ]
        return [future.result() for future in futures]


def _deliver_one(
    metadata: SqlMetadataStore | None,
    item: Notification,
    policy: WebhookPolicy,
    deadline: float,
) -> DeliveryResult:
    started = time.monotonic()
    try:
        return _try_to_deliver(metadata, item, policy, deadline, started)
    except Exception as failure:  # a delivery never raises into the monitor
        log.exception("webhook delivery of alert %s failed unexpectedly", item.alert_id)
        error = f"unexpected {type(failure).__name__}: {failure}"
        elapsed = int((time.monotonic() - started) * 1000)
        return DeliveryResult(item.alert_id, item.event, False, 0, None, error, elapsed)


def _try_to_deliver(
    metadata: SqlMetadataStore | None,
    item: Notification,
    policy: WebhookPolicy,
    deadline: float,
    started: float,
) -> DeliveryResult:
    body = json.dumps(item.payload, sort_keys=True, allow_nan=False).encode()
    attempts = 0
    status: int | None = None
    error: str | None = None
    for attempt in range(policy.attempts):
        if attempt:
            wait = policy.backoff_s * 2 ** (attempt - 1)
            if time.monotonic() + wait >= deadline:
                break  # no time left for another try: the failure stands
            time.sleep(wait)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if attempts == 0:
                error = f"not sent: the delivery budget of {policy.budget_s:g} s ran out"
                _record(metadata, item.alert_id, delivered=False, error=error)
            break
        attempts += 1
        status, error, retry = _attempt(item, body, min(policy.timeout_s, remaining))
        _record(metadata, item.alert_id, delivered=error is None, error=error)
        if error is None or not retry:
            break
    elapsed = int((time.monotonic() - started) * 1000)
    if error is not None:
        log.warning(
            "webhook %s for alert %s failed after %d attempt(s): %s",
            shown_url(item.url),
            item.alert_id,
            attempts,
            error,
        )
    return DeliveryResult(
        item.alert_id, item.event, error is None, attempts, status, error, elapsed
    )


def _attempt(
    item: Notification, body: bytes, timeout: float
) -> tuple[int | None, str | None, bool]:
    """One POST: (status, error or None when delivered, whether a retry may help)."""
    request = urllib.request.Request(  # noqa: S310 - the scheme was checked to be http(s)
        item.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"modelcycle/{__version__} alerts",
            "X-ModelCycle-Event": f"alert.{item.event}",
            "X-ModelCycle-Delivery": f"{item.alert_id}:{item.event}",
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(4096)
            status = int(response.status)
    except urllib.error.HTTPError as answer:
        status = int(answer.code)
        answer.close()
    except TimeoutError:
        return None, f"no answer within {timeout:.2g} s", True
    except urllib.error.URLError as failure:
        reason = failure.reason
        if isinstance(reason, TimeoutError):
            return None, f"no connection within {timeout:.2g} s", True
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        return None, f"cannot reach {shown_url(item.url)}: {text}", True
    except (OSError, ValueError, http.client.HTTPException) as failure:  # reset, malformed
        return None, f"{type(failure).__name__}: {failure}", True
    if 200 <= status < 300:
        return status, None, False
    retry = status >= 500 or status in _RETRIED_STATUSES
    return status, f"the receiver answered HTTP {status}", retry


def _record(
    metadata: SqlMetadataStore | None, alert_id: str, *, delivered: bool, error: str | None
) -> None:
    if metadata is None:
        return
    try:
        metadata.alerts.record_delivery(alert_id, delivered=delivered, error=error)
    except Exception:
        log.exception("could not record the webhook delivery of alert %s", alert_id)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not hops: a POST is not re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Follow no redirect (the 3xx becomes the attempt's answer)."""
        return


_OPENER = urllib.request.build_opener(_NoRedirect())
