"""Webhook delivery against a real HTTP receiver on loopback: retries, failures, the budget."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.webhooks import (
    Notification,
    WebhookPolicy,
    alert_payload,
    check_webhook_url,
    deliver,
    shown_url,
    summary_line,
)
from modelcycle.store.metadata import (
    Alert,
    AlertKind,
    AlertRule,
    AlertState,
    DeliveryStatus,
    SqlMetadataStore,
    open_metadata_store,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

FAST = WebhookPolicy(attempts=3, backoff_s=0.05, timeout_s=2.0, budget_s=5.0)


class Receiver:
    """A webhook receiver on loopback: records each POST, answers the scripted statuses.

    ``statuses`` are answered in order, then 200 for every later request; ``delay_s`` holds
    each answer back that long (to outlast a client's timeout).
    """

    def __init__(self, statuses: Sequence[int] = (), delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answered: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver._lock:
                    receiver.bodies.append(body)
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.answered.append(status)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up
                    self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    s = open_metadata_store(f"sqlite:///{tmp_path / 'mc.db'}")
    yield s
    s.close()


def _firing_alert(store: SqlMetadataStore, url: str) -> Alert:
    project_id = store.projects.id_of("p", create=True)
    rule = store.alerts.add_rule(
        AlertRule("", project_id, "churn", AlertKind.DRIFT_SHARE, 0.3, webhook_url=url,
                  created_by="ana")
    )  # fmt: skip
    alert, opened = store.alerts.open_alert(rule.id, 0.5, at=1000)
    assert opened
    return alert


def _notice(url: str, alert_id: str = "a" * 32, state: str = "firing") -> Notification:
    return Notification(alert_id, url, {"alert_id": alert_id, "state": state, "value": 0.5})


# -- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "https://hooks.example.com/x?token=1", "HTTPS://[::1]:9/x"],
)
def test_http_and_https_urls_with_a_host_are_webhooks(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://example.com/hook", "must be an http:// or https:// URL, not ftp://"),
        ("file:///etc/passwd", "must be an http:// or https:// URL, not file://"),
        ("example.com/hook", "not a bare name"),
        ("http:///hook", "names no host"),
        ("http://example.com:99999/", "invalid port"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("", "must be 1 to 2048 characters"),
        (42, "a webhook is a URL string, got int"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        check_webhook_url(url)


def test_a_shown_url_keeps_the_host_and_hides_the_path() -> None:
    assert shown_url("https://hooks.example.com/services/T0/B0/secret") == (
        "https://hooks.example.com/…"
    )
    assert shown_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"attempts": 0}, "attempts=0 must be >= 1"),
        ({"attempts": 1.5}, "must be an integer"),
        ({"backoff_s": -1}, "backoff_s=-1 must be a finite number"),
        ({"timeout_s": 0}, "must be > 0"),
        ({"budget_s": float("inf")}, "budget_s=inf must be a finite number"),
    ],
)
def test_a_policy_that_would_never_send_or_never_stop_is_refused(
    changes: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        WebhookPolicy(**changes)


# -- delivery -----------------------------------------------------------------------------


def test_a_notice_is_posted_once_as_json_with_its_headers() -> None:
    with Receiver() as receiver:
        [result] = deliver(None, [_notice(receiver.url)], FAST)
    assert (result.delivered, result.attempts, result.status, result.error) == (
        True,
        1,
        200,
        None,
    )
    assert receiver.bodies == [{"alert_id": "a" * 32, "state": "firing", "value": 0.5}]
    headers = receiver.headers[0]
    assert headers["content-type"] == "application/json"
    assert headers["x-modelcycle-event"] == "alert.firing"
    assert headers["x-modelcycle-delivery"] == f"{'a' * 32}:firing"
    assert headers["user-agent"].startswith("modelcycle/")


def test_a_server_error_is_retried_and_every_attempt_is_recorded(store: SqlMetadataStore) -> None:
    with Receiver(statuses=[500, 503]) as receiver:
        alert = _firing_alert(store, receiver.url)
        [result] = deliver(store, [_notice(receiver.url, alert.id)], FAST)
    assert receiver.answered == [500, 503, 200]
    assert (result.delivered, result.attempts, result.status) == (True, 3, 200)
    stored = store.alerts.get_alert(alert.id)
    assert stored.delivery_status is DeliveryStatus.DELIVERED
    assert stored.delivery_attempts == 3
    assert stored.delivered_at is not None
    assert stored.last_error is None


def test_a_client_error_is_not_retried(store: SqlMetadataStore) -> None:
    with Receiver(statuses=[404]) as receiver:
        alert = _firing_alert(store, receiver.url)
        [result] = deliver(store, [_notice(receiver.url, alert.id)], FAST)
    assert receiver.answered == [404]
    assert (result.delivered, result.attempts, result.error) == (
        False,
        1,
        "the receiver answered HTTP 404",
    )
    stored = store.alerts.get_alert(alert.id)
    assert (stored.delivery_status, stored.delivery_attempts, stored.last_error) == (
        DeliveryStatus.FAILED,
        1,
        "the receiver answered HTTP 404",
    )


def test_a_redirect_is_not_followed() -> None:
    with Receiver(statuses=[302]) as receiver:
        [result] = deliver(None, [_notice(receiver.url)], FAST)
    assert len(receiver.bodies) == 1  # nothing was sent to /elsewhere
    assert (result.delivered, result.status) == (False, 302)


def test_a_down_receiver_is_a_recorded_failure_after_the_retries(
    store: SqlMetadataStore,
) -> None:
    url = closed_port_url()
    alert = _firing_alert(store, url)
    policy = WebhookPolicy(attempts=3, backoff_s=0.2, timeout_s=1.0, budget_s=5.0)
    [result] = deliver(store, [_notice(url, alert.id)], policy)
    assert not result.delivered
    assert result.attempts == 3
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("cannot reach http://127.0.0.1:")
    assert "refused" in result.error.lower()
    stored = store.alerts.get_alert(alert.id)
    assert (stored.delivery_status, stored.delivery_attempts) == (DeliveryStatus.FAILED, 3)
    assert stored.last_error == result.error


def test_a_receiver_that_never_answers_is_given_up_within_the_budget() -> None:
    policy = WebhookPolicy(attempts=5, backoff_s=0.1, timeout_s=0.3, budget_s=1.0)
    with Receiver(delay_s=3.0) as receiver:
        [result] = deliver(None, [_notice(receiver.url)], policy)
    assert not result.delivered
    assert result.error is not None
    assert result.error.startswith("no answer within")
    assert 2 <= result.attempts < 5  # the budget, not the attempt count, ended it


def test_several_notices_go_side_by_side_within_one_budget() -> None:
    policy = WebhookPolicy(attempts=2, backoff_s=0.1, timeout_s=0.5, budget_s=1.5)
    with Receiver(delay_s=1.0) as slow, Receiver() as fast:
        notices = [_notice(slow.url, f"{i:032x}") for i in range(6)] + [_notice(fast.url)]
        results = deliver(None, notices, policy)
    assert [r.delivered for r in results] == [False] * 6 + [True]
    assert [r.alert_id for r in results] == [n.alert_id for n in notices]
    assert len(fast.bodies) == 1


def test_a_malformed_answer_is_a_retried_failure() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    answered = []

    def answer_garbage() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"this is not HTTP\r\n\r\n")
                answered.append(True)

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        [result] = deliver(None, [_notice(url)], WebhookPolicy(attempts=2, backoff_s=0.05))
    finally:
        thread.join(5)
        listener.close()
    assert len(answered) == 2
    assert not result.delivered
    assert result.attempts == 2
    assert result.error is not None
    assert result.error.startswith("BadStatusLine")


def test_a_payload_that_is_not_json_is_a_failed_delivery_not_an_exception() -> None:
    notice = Notification("a" * 32, "http://127.0.0.1:9/hook", {"value": float("nan")})
    [result] = deliver(None, [notice], FAST)
    assert not result.delivered
    assert result.attempts == 0
    assert result.error is not None
    assert result.error.startswith("unexpected ValueError")


def test_nothing_to_send_sends_nothing() -> None:
    assert deliver(None, [], FAST) == []


# -- payloads -----------------------------------------------------------------------------


def _rule(kind: AlertKind, **fields: Any) -> AlertRule:
    return AlertRule("r" * 32, 1, "churn", kind, 0.3, created_by="ana", **fields)


def test_the_payload_names_the_alert_rule_model_value_and_report() -> None:
    rule = _rule(AlertKind.DRIFT_SHARE)
    alert = Alert("a" * 32, rule.id, AlertState.FIRING, 0.5, opened_at=1000)
    payload = alert_payload(
        rule,
        alert,
        event="firing",
        value=0.5,
        project="shop",
        model_version_id="v" * 32,
        model_version=3,
        report_id="p" * 32,
        at_ms=1000,
    )
    assert payload == {
        "event": "alert.firing",
        "state": "firing",
        "alert_id": "a" * 32,
        "rule_id": "r" * 32,
        "kind": "drift_share",
        "project": "shop",
        "model_name": "churn",
        "model_version": 3,
        "model_version_id": "v" * 32,
        "column": None,
        "test": None,
        "metric": None,
        "value": 0.5,
        "opened_value": 0.5,
        "threshold": 0.3,
        "fires_when": "above",
        "report_id": "p" * 32,
        "opened_at": 1000,
        "resolved_at": None,
        "at": 1000,
        "summary": "churn@3: drift share 0.5 is above 0.3 (firing)",
    }


@pytest.mark.parametrize(
    ("rule", "event", "value", "line"),
    [
        (
            _rule(AlertKind.COLUMN_SCORE, column="age"),
            "firing",
            0.71234,
            "churn: drift score of column 'age' 0.7123 is above 0.3 (firing)",
        ),
        (
            _rule(AlertKind.METRIC_DROP),
            "resolved",
            0.01,
            "churn: drop of roc_auc 0.01 is back at or under 0.3 (resolved)",
        ),
        (
            _rule(AlertKind.METRIC_DROP, metric="f1"),
            "firing",
            0.4,
            "churn: drop of f1 0.4 is above 0.3 (firing)",
        ),
        (
            _rule(AlertKind.P99_LATENCY),
            "firing",
            250.0,
            "churn: p99 latency (ms) 250 is above 0.3 (firing)",
        ),
        (
            _rule(AlertKind.ERROR_RATE),
            "firing",
            None,
            "churn: error rate unknown is above 0.3 (firing)",
        ),
    ],
)  # fmt: skip
def test_the_summary_line_says_what_crossed_which_threshold(
    rule: AlertRule, event: str, value: float | None, line: str
) -> None:
    assert summary_line(rule, event, value, model="churn", primary_metric="roc_auc") == line
