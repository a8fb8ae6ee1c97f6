"""Alert rules and the alerts they open: a breach fires once, and stays open until resolved.

A rule watches one number of a model's monitor runs (``kind``) and fires when it is above
``threshold``: the drift share, one column's drift score, the drop of a metric against its
baseline, the error rate, the p99 latency in milliseconds. ``open_alert`` opens an alert for a
rule unless one is already firing, in which case it returns that one: the ``alerts`` table
lets a rule have at most one firing alert (a unique ``firing_rule_id``, NULL once resolved),
so concurrent monitor runs cannot open two. ``resolve`` closes it; the next breach opens a new
one. Deliveries to the rule's webhook are recorded on the alert (status, attempts, last error).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from modelcycle.core.errors import Conflict, InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata._tables import KEY_LENGTH, alert_rules, alerts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row
    from sqlalchemy.sql import Select

    from modelcycle.store.metadata._unit_of_work import UnitOfWork

_ATTEMPTS = 5


class AlertKind(StrEnum):
    """What a rule watches; each fires when its value is above the rule's threshold."""

    DRIFT_SHARE = "drift_share"  # share of drifted columns, 0..1
    COLUMN_SCORE = "column_score"  # one column's drift score (needs ``column``)
    METRIC_DROP = "metric_drop"  # baseline minus current, in the metric's better direction
    ERROR_RATE = "error_rate"  # share of failed requests, 0..1
    P99_LATENCY = "p99_latency"  # milliseconds


class AlertState(StrEnum):
    """Whether an alert is open."""

    FIRING = "firing"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    """Where the webhook delivery of an alert stands."""

    PENDING = "pending"  # a webhook is set, not yet delivered
    DELIVERED = "delivered"
    FAILED = "failed"  # the last attempt failed; ``last_error`` says why
    NONE = "none"  # the rule has no webhook


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A threshold on one monitored number of a registered model (whatever version serves).

    ``id`` and ``created_at`` are assigned by ``add_rule`` when empty / zero.
    """

    id: str
    project_id: int
    model_name: str
    kind: AlertKind
    threshold: float
    column: str | None = None
    metric: str | None = None  # for metric_drop; None means the project's primary metric
    webhook_url: str | None = None
    enabled: bool = True
    created_at: int = 0
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One breach of a rule, from when it fired until a run found the value back in bounds."""

    id: str
    rule_id: str
    state: AlertState
    value: float | None
    opened_at: int
    model_version_id: str | None = None
    report_id: str | None = None
    resolved_at: int | None = None
    delivery_status: DeliveryStatus = DeliveryStatus.PENDING
    delivery_attempts: int = 0
    last_error: str | None = None
    delivered_at: int | None = None


class AlertRepository:
    """Create rules, open and resolve alerts, record webhook deliveries.

    Thread safety: every call is its own transaction; calls from many threads and processes
    are safe, and two monitor runs racing on the same breach open one alert.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    # -- rules ----------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule) -> AlertRule:
        """Store a rule (its id and creation time are filled in when empty).

        Raises:
            InvalidInput: an unknown kind, a column score without a column, a threshold that
                is not a finite number, a webhook URL that is not http(s), no ``created_by``.
        """
        stored = _checked_rule(rule)
        with self._uow.write() as conn:
            conn.execute(
                insert(alert_rules).values(
                    id=stored.id,
                    project_id=stored.project_id,
                    model_name=stored.model_name,
                    kind=stored.kind.value,
                    column_name=stored.column,
                    metric=stored.metric,
                    threshold=stored.threshold,
                    webhook_url=stored.webhook_url,
                    enabled=stored.enabled,
                    created_at=stored.created_at,
                    created_by=stored.created_by,
                )
            )
        return stored

    def get_rule(self, rule_id: str) -> AlertRule:
        """The rule with this id.

        Raises:
            NotFound: there is none.
        """
        with self._uow.read() as conn:
            return _rule(conn, rule_id)

    def rules(
        self,
        project_id: int,
        model_name: str | None = None,
        *,
        enabled: bool | None = None,
    ) -> list[AlertRule]:
        """The rules of a project (of one model when named), oldest first."""
        query: Select[Any] = select(alert_rules).where(alert_rules.c.project_id == project_id)
        if model_name is not None:
            query = query.where(alert_rules.c.model_name == model_name)
        if enabled is not None:
            query = query.where(alert_rules.c.enabled == enabled)
        query = query.order_by(alert_rules.c.created_at, alert_rules.c.id)
        with self._uow.read() as conn:
            return [_to_rule(row) for row in conn.execute(query)]

    def set_rule_enabled(self, rule_id: str, enabled: bool) -> AlertRule:
        """Turn a rule on or off (a disabled rule is kept with its alerts).

        Raises:
            NotFound: no such rule.
        """
        with self._uow.write() as conn:
            _rule(conn, rule_id)
            conn.execute(
                update(alert_rules).where(alert_rules.c.id == rule_id).values(enabled=enabled)
            )
            return _rule(conn, rule_id)

    def delete_rule(self, rule_id: str) -> None:
        """Remove a rule and its alerts, in one transaction.

        Raises:
            NotFound: no such rule.
        """
        with self._uow.write() as conn:
            _rule(conn, rule_id)
            conn.execute(delete(alerts).where(alerts.c.rule_id == rule_id))
            conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))

    # -- alerts ---------------------------------------------------------------------------

    def open_alert(
        self,
        rule_id: str,
        value: float | None,
        *,
        model_version_id: str | None = None,
        report_id: str | None = None,
        at: int | None = None,
    ) -> tuple[Alert, bool]:
        """Open an alert for a breach of the rule, unless one is already firing.

        Returns:
            The firing alert and whether this call opened it (False: it was open already and
            is returned unchanged, so a breach that lasts over many runs fires once).

        Raises:
            NotFound: no such rule.
        """
        for attempt in range(_ATTEMPTS):
            try:
                return self._open_once(rule_id, value, model_version_id, report_id, at)
            except Conflict:
                # Another process opened one between our read and our insert: return it.
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_once(
        self,
        rule_id: str,
        value: float | None,
        model_version_id: str | None,
        report_id: str | None,
        at: int | None,
    ) -> tuple[Alert, bool]:
        with self._uow.write() as conn:
            rule = _rule(conn, rule_id)
            existing = _firing(conn, rule_id)
            if existing is not None:
                return existing, False
            alert = Alert(
                id=new_id(),
                rule_id=rule_id,
                state=AlertState.FIRING,
                value=None if value is None or math.isnan(value) else float(value),
                opened_at=_now() if at is None else at,
                model_version_id=model_version_id,
                report_id=report_id,
                delivery_status=(
                    DeliveryStatus.PENDING if rule.webhook_url else DeliveryStatus.NONE
                ),
            )
            conn.execute(
                insert(alerts).values(
                    id=alert.id,
                    rule_id=rule_id,
                    firing_rule_id=rule_id,
                    model_version_id=model_version_id,
                    report_id=report_id,
                    state=alert.state.value,
                    value=alert.value,
                    opened_at=alert.opened_at,
                    delivery_status=alert.delivery_status.value,
                    delivery_attempts=0,
                )
            )
            return alert, True

    def resolve(self, rule_id: str, *, at: int | None = None) -> Alert | None:
        """Resolve the rule's firing alert; returns it, or None when none was firing."""
        with self._uow.write() as conn:
            firing = _firing(conn, rule_id)
            if firing is None:
                return None
            resolved_at = _now() if at is None else at
            conn.execute(
                update(alerts)
                .where(alerts.c.id == firing.id)
                .values(
                    state=AlertState.RESOLVED.value, firing_rule_id=None, resolved_at=resolved_at
                )
            )
        return replace(firing, state=AlertState.RESOLVED, resolved_at=resolved_at)

    def firing_alert(self, rule_id: str) -> Alert | None:
        """The rule's firing alert, or None."""
        with self._uow.read() as conn:
            return _firing(conn, rule_id)

    def get_alert(self, alert_id: str) -> Alert:
        """The alert with this id.

        Raises:
            NotFound: there is none.
        """
        with self._uow.read() as conn:
            return _alert(conn, alert_id)

    def alerts(
        self,
        *,
        project_id: int | None = None,
        rule_id: str | None = None,
        model_version_id: str | None = None,
        state: AlertState | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = 100,
    ) -> list[Alert]:
        """Alerts matching every given filter (opened in [since, until)), newest first."""
        query: Select[Any] = select(alerts)
        if project_id is not None:
            query = query.join(alert_rules, alert_rules.c.id == alerts.c.rule_id).where(
                alert_rules.c.project_id == project_id
            )
        if rule_id is not None:
            query = query.where(alerts.c.rule_id == rule_id)
        if model_version_id is not None:
            query = query.where(alerts.c.model_version_id == model_version_id)
        if state is not None:
            query = query.where(alerts.c.state == AlertState(state).value)
        if since_ms is not None:
            query = query.where(alerts.c.opened_at >= since_ms)
        if until_ms is not None:
            query = query.where(alerts.c.opened_at < until_ms)
        query = query.order_by(alerts.c.opened_at.desc(), alerts.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._uow.read() as conn:
            return [_to_alert(row) for row in conn.execute(query)]

    def record_delivery(
        self,
        alert_id: str,
        *,
        delivered: bool,
        error: str | None = None,
        at: int | None = None,
    ) -> Alert:
        """Count one webhook attempt for an alert, and its outcome.

        Raises:
            NotFound: no such alert.
        """
        when = _now() if at is None else at
        with self._uow.write() as conn:
            _alert(conn, alert_id)
            values: dict[str, Any] = {
                "delivery_attempts": alerts.c.delivery_attempts + 1,
                "delivery_status": (
                    DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED
                ).value,
                "last_error": None if delivered else (error or "delivery failed"),
            }
            if delivered:
                values["delivered_at"] = when
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
            return _alert(conn, alert_id)


def _checked_rule(rule: AlertRule) -> AlertRule:
    try:
        kind = AlertKind(rule.kind)
    except ValueError:
        raise InvalidInput(
            f"alert kind {rule.kind!r} is not one of {[k.value for k in AlertKind]}"
        ) from None
    threshold: object = rule.threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput(f"threshold={threshold!r} must be a number")
    if not math.isfinite(threshold):
        raise InvalidInput(f"threshold={threshold!r} must be a finite number")
    if kind is AlertKind.COLUMN_SCORE and not rule.column:
        raise InvalidInput("a column_score rule needs the column it watches (column='age')")
    for name, text in (("column", rule.column), ("metric", rule.metric)):
        if text is not None and (not text or len(text) > KEY_LENGTH):
            raise InvalidInput(f"{name} {text!r} must be 1 to {KEY_LENGTH} characters")
    if rule.webhook_url is not None and not rule.webhook_url.startswith(("http://", "https://")):
        raise InvalidInput(f"webhook_url {rule.webhook_url!r} must be an http:// or https:// URL")
    if not rule.model_name:
        raise InvalidInput("an alert rule names the registered model it watches")
    if not rule.created_by:
        raise InvalidInput("an alert rule records who created it (created_by)")
    return replace(
        rule,
        id=rule.id or new_id(),
        kind=kind,
        threshold=float(threshold),
        created_at=rule.created_at or _now(),
    )


def _now() -> int:
    return time.time_ns() // 1_000_000


def _rule(conn: Connection, rule_id: str) -> AlertRule:
    row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).first()
    if row is None:
        raise NotFound(f"no alert rule with id {rule_id!r}")
    return _to_rule(row)


def _alert(conn: Connection, alert_id: str) -> Alert:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"no alert with id {alert_id!r}")
    return _to_alert(row)


def _firing(conn: Connection, rule_id: str) -> Alert | None:
    row = conn.execute(select(alerts).where(alerts.c.firing_rule_id == rule_id)).first()
    return None if row is None else _to_alert(row)


def _to_rule(row: Row[Any]) -> AlertRule:
    return AlertRule(
        id=row.id,
        project_id=row.project_id,
        model_name=row.model_name,
        kind=AlertKind(row.kind),
        threshold=row.threshold,
        column=row.column_name,
        metric=row.metric,
        webhook_url=row.webhook_url,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _to_alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        state=AlertState(row.state),
        value=row.value,
        opened_at=row.opened_at,
        model_version_id=row.model_version_id,
        report_id=row.report_id,
        resolved_at=row.resolved_at,
        delivery_status=DeliveryStatus(row.delivery_status),
        delivery_attempts=row.delivery_attempts,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )
