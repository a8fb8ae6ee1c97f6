"""Alert rules over monitor reports: a breach fires once, recovery resolves, webhooks are told.

After each monitor run, ``evaluate_alerts`` reads the report's values for every enabled rule of
the model and moves the rule's alert:

============  ================================================================================
change        when
============  ================================================================================
opened        the value is above the threshold and no alert of the rule was firing
still_firing  the value is above the threshold and the rule's alert is firing already
resolved      the value is at or under the threshold and the rule's alert was firing
ok            the value is at or under the threshold and nothing was firing
no_value      the report has no value for the rule (a firing alert stays firing)
============  ================================================================================

A rule reads one value key: ``drift.share`` (drift_share), ``drift.column.<column>``
(column_score), ``ops.error_rate`` (error_rate), ``ops.p99_latency_ms`` (p99_latency) and, for
metric_drop, ``metric_drop.<metric>``: how much worse than its baseline the metric is, in the
metric's own direction (so a drop of ROC AUC and a rise of RMSE are both positive). When the
report has ``metric.<metric>`` but no drop, the drop is worked out here against the version's
stored evaluation (on its gate's dataset when gated, else the newest), as the performance
monitor does. ``metric=None`` means the project's primary metric.

Every rule fires when its value is above the threshold, but for one case: a column's drift
score is a p-value for some tests (K-S, chi-square, z: low means drift), and a column_score
rule on such a column fires when the score is below the threshold, as the test itself judges
drift. The stored report's summary says which columns those are (``higher_is_drift``).

A rule with a webhook is told when its alert opens and when it resolves (see ``webhooks``); a
firing alert whose notice was not delivered is sent again on each later run until it is.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.project import KNOWN_METRIC_DIRECTIONS, Direction
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.monitor.webhooks import (
    DEFAULT_POLICY,
    DeliveryResult,
    Notification,
    WebhookPolicy,
    alert_payload,
    check_webhook_url,
)
from modelcycle.services.monitor.webhooks import deliver as deliver_notices
from modelcycle.services.registry.versions import current_actor
from modelcycle.store.metadata import Alert, AlertKind, AlertRule, AlertState, DeliveryStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.core.entities.project import Project
    from modelcycle.services.monitor.performance import PerformanceReport
    from modelcycle.store.metadata import SqlMetadataStore

__all__ = [
    "AlertOutcome",
    "StateChange",
    "add_alert_rule",
    "alert_history",
    "evaluate_alerts",
    "metric_drop_values",
    "value_key",
]

DRIFT_SHARE_KEY = "drift.share"
COLUMN_PREFIX = "drift.column."
METRIC_PREFIX = "metric."
DROP_PREFIX = "metric_drop."
ERROR_RATE_KEY = "ops.error_rate"
P99_KEY = "ops.p99_latency_ms"
_UNDELIVERED = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
_SHARES = (AlertKind.DRIFT_SHARE, AlertKind.ERROR_RATE)


class StateChange(StrEnum):
    """What one evaluation did to a rule's alert."""

    OPENED = "opened"
    STILL_FIRING = "still_firing"
    RESOLVED = "resolved"
    OK = "ok"
    NO_VALUE = "no_value"


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """A rule after one monitor report.

    Attributes:
        rule: The rule.
        change: What happened to its alert.
        value: The value the rule read (None: the report had none).
        alert: The alert opened, still firing or resolved, as stored after any delivery;
            a firing alert for ``no_value``; None for ``ok``.
        delivery: How the webhook notice went; None when nothing was sent (no webhook, the
            notice was delivered before, or ``deliver=False``).
        note: Why there is no value, for ``no_value``.
    """

    rule: AlertRule
    change: StateChange
    value: float | None
    alert: Alert | None = None
    delivery: DeliveryResult | None = None
    note: str | None = None


# -- rules --------------------------------------------------------------------------------


def add_alert_rule(
    metadata: SqlMetadataStore,
    *,
    project_id: int,
    model_name: str,
    kind: AlertKind | str,
    threshold: float,
    column: str | None = None,
    metric: str | None = None,
    webhook: str | None = None,
    enabled: bool = True,
    actor: str | None = None,
) -> AlertRule:
    """Check and store a rule on a registered model.

    Args:
        metadata: The store.
        project_id: The model's project.
        model_name: The registered model (whichever version is monitored).
        kind: ``drift_share``, ``column_score``, ``metric_drop``, ``error_rate`` or
            ``p99_latency``.
        threshold: The rule fires when its value is above this.
        column: The column a ``column_score`` rule watches.
        metric: The metric a ``metric_drop`` rule watches (default: the primary metric).
        webhook: An ``http(s)://`` URL told when an alert opens and resolves.
        enabled: Whether monitor runs evaluate it.
        actor: Who creates it (default: ``MODELCYCLE_USER`` or the OS user).

    Raises:
        InvalidInput: an unknown kind, a column or metric given to a kind that takes none,
            a threshold out of range, a metric_drop rule with no metric in a project that
            declares none, a webhook that is not an http(s) URL.
        NotFound: no model of that name is registered in the project.
    """
    kind = _kind(kind)
    threshold = _threshold(kind, threshold)
    if kind is AlertKind.COLUMN_SCORE and not column:
        raise InvalidInput("a column_score rule needs the column it watches (column='age')")
    if column is not None and kind is not AlertKind.COLUMN_SCORE:
        raise InvalidInput(f"column={column!r} applies to column_score rules only, not {kind}")
    if metric is not None and kind is not AlertKind.METRIC_DROP:
        raise InvalidInput(f"metric={metric!r} applies to metric_drop rules only, not {kind}")
    project = _project(metadata, project_id)
    if kind is AlertKind.METRIC_DROP and metric is None and not project.card.metric:
        raise InvalidInput(
            f"project {project.name!r} declares no primary metric: name the metric the rule "
            "watches (metric='roc_auc'), or declare one with mc.set_project(name, metric=...)"
        )
    _check_model(metadata, project, model_name)
    rule = AlertRule(
        id="",
        project_id=project.id,
        model_name=model_name,
        kind=kind,
        threshold=threshold,
        column=column,
        metric=metric,
        webhook_url=None if webhook is None else check_webhook_url(webhook),
        enabled=enabled,
        created_by=actor or current_actor(),
    )
    return metadata.alerts.add_rule(rule)


def alert_history(
    metadata: SqlMetadataStore,
    *,
    project_id: int,
    model_name: str | None = None,
    state: AlertState | str | None = None,
    limit: int | None = 100,
) -> list[Alert]:
    """The alerts of a project's rules (of one model's when named), newest first.

    Raises:
        InvalidInput: an unknown state or a negative limit.
    """
    try:
        wanted = None if state is None else AlertState(state)
    except ValueError:
        raise InvalidInput(
            f"state {state!r} is not one of {[s.value for s in AlertState]}"
        ) from None
    if limit is not None and (isinstance(limit, bool) or limit < 0):
        raise InvalidInput(f"limit={limit!r} must be >= 0")
    if model_name is None:
        return metadata.alerts.alerts(project_id=project_id, state=wanted, limit=limit)
    found: list[Alert] = []
    for rule in metadata.alerts.rules(project_id, model_name):
        found += metadata.alerts.alerts(rule_id=rule.id, state=wanted, limit=limit)
    found.sort(key=lambda alert: (alert.opened_at, alert.id), reverse=True)
    return found if limit is None else found[:limit]


def value_key(rule: AlertRule, primary_metric: str | None = None) -> str | None:
    """The report value a rule reads (None: a metric_drop rule with no metric to name)."""
    if rule.kind is AlertKind.DRIFT_SHARE:
        return DRIFT_SHARE_KEY
    if rule.kind is AlertKind.COLUMN_SCORE:
        return f"{COLUMN_PREFIX}{rule.column}"
    if rule.kind is AlertKind.ERROR_RATE:
        return ERROR_RATE_KEY
    if rule.kind is AlertKind.P99_LATENCY:
        return P99_KEY
    metric = rule.metric or primary_metric
    return None if not metric else f"{DROP_PREFIX}{metric}"


def metric_drop_values(report: PerformanceReport) -> dict[str, float]:
    """A performance report's drops against its baseline, keyed ``metric_drop.<name>``.

    Each value is how much worse than the baseline the metric is, in its own direction
    (``MetricDrop.change``); the monitor stores them beside ``metric.<name>``.
    """
    return {f"{DROP_PREFIX}{drop.metric}": float(drop.change) for drop in report.drops}


# -- evaluation ---------------------------------------------------------------------------


def evaluate_alerts(
    metadata: SqlMetadataStore,
    *,
    project_id: int | str,
    model_name: str,
    model_version_id: str,
    report_id: str | None,
    values: Mapping[str, float | None],
    at_ms: int,
    deliver: bool = True,
    policy: WebhookPolicy = DEFAULT_POLICY,
) -> list[AlertOutcome]:
    """Move the alerts of every enabled rule of a model after a monitor report.

    Args:
        metadata: The store.
        project_id: The model's project: its id (an int or its text), or its name.
        model_name: The registered model the report is about.
        model_version_id: The version whose predictions the report covered.
        report_id: The stored report (None when it was not stored).
        values: The report's values by key (``drift.share``, ``metric.f1``...).
        at_ms: When the report ran (epoch ms): alerts open and resolve at this time.
        deliver: Send webhook notices (False: leave them pending for a later run).
        policy: Webhook tries, waits, timeouts and the time budget of all the notices.

    Returns:
        One outcome per enabled rule, in the order the rules were created.

    Raises:
        NotFound: no such project.
        InvalidInput: a value that is not a number.
    """
    project = _project(metadata, project_id)
    context = _Context(metadata, project, model_version_id, report_id, values)
    outcomes: list[AlertOutcome] = []
    notices: dict[int, Notification] = {}
    for rule in metadata.alerts.rules(project.id, model_name, enabled=True):
        value, note = context.value_of(rule)
        outcome, event = _apply(context, rule, value, note, at_ms)
        if deliver and event is not None and outcome.alert is not None and rule.webhook_url:
            payload = _payload(context, rule, outcome.alert, event, value, at_ms)
            notices[len(outcomes)] = Notification(outcome.alert.id, rule.webhook_url, payload)
        outcomes.append(outcome)
    if not notices:
        return outcomes
    sent = deliver_notices(metadata, list(notices.values()), policy)
    results = dict(zip(notices, sent, strict=True))
    return [
        _with_delivery(metadata, outcome, results[index]) if index in results else outcome
        for index, outcome in enumerate(outcomes)
    ]


def _apply(
    context: _Context, rule: AlertRule, value: float | None, note: str | None, at_ms: int
) -> tuple[AlertOutcome, str | None]:
    """Open, keep or resolve the rule's alert; returns the outcome and the event to send."""
    alerts = context.metadata.alerts
    if value is None:
        firing = alerts.firing_alert(rule.id)
        event = "firing" if firing is not None and _undelivered(firing) else None
        return AlertOutcome(rule, StateChange.NO_VALUE, None, firing, note=note), event
    below = context.fires_below(rule)
    if (value < rule.threshold) if below else (value > rule.threshold):
        alert, opened = alerts.open_alert(
            rule.id,
            value,
            model_version_id=context.model_version_id,
            report_id=context.report_id,
            at=at_ms,
        )
        change = StateChange.OPENED if opened else StateChange.STILL_FIRING
        event = "firing" if opened or _undelivered(alert) else None
        return AlertOutcome(rule, change, value, alert), event
    resolved = alerts.resolve(rule.id, at=at_ms)
    if resolved is None:
        return AlertOutcome(rule, StateChange.OK, value), None
    return AlertOutcome(rule, StateChange.RESOLVED, value, resolved), "resolved"


def _undelivered(alert: Alert) -> bool:
    return alert.delivery_status in _UNDELIVERED


def _with_delivery(
    metadata: SqlMetadataStore, outcome: AlertOutcome, result: DeliveryResult
) -> AlertOutcome:
    alert = outcome.alert
    if alert is not None:
        with contextlib.suppress(NotFound):  # NotFound: its rule was removed meanwhile
            alert = metadata.alerts.get_alert(alert.id)
    return AlertOutcome(outcome.rule, outcome.change, outcome.value, alert, result, outcome.note)


class _Context:
    """What the rules of one report share: the project, the version, its baseline."""

    def __init__(
        self,
        metadata: SqlMetadataStore,
        project: Project,
        model_version_id: str,
        report_id: str | None,
        values: Mapping[str, float | None],
    ) -> None:
        self.metadata = metadata
        self.project = project
        self.model_version_id = model_version_id
        self.report_id = report_id
        self.values = _numbers(values)
        self._summary: Mapping[str, Any] | None = None
        self._version: ModelVersion | None = None
        self._looked_up = False
        self._baseline: dict[str, float] | None = None

    def value_of(self, rule: AlertRule) -> tuple[float | None, str | None]:
        """The rule's value in this report, or None and why."""
        key = value_key(rule, self.project.card.metric)
        if key is None:
            return None, (
                f"project {self.project.name!r} declares no primary metric and the rule names none"
            )
        if key in self.values:
            found = self.values[key]
            return found, None if found is not None else f"{key} has no value in this report"
        if rule.kind is AlertKind.METRIC_DROP:
            return self._drop(key.removeprefix(DROP_PREFIX))
        return None, f"the report has no {key}"

    def _drop(self, metric: str) -> tuple[float | None, str | None]:
        current = self.values.get(f"{METRIC_PREFIX}{metric}")
        if current is None:
            return None, f"the report has no value of {metric} (no {METRIC_PREFIX}{metric})"
        base = self.baseline().get(metric)
        if base is None:
            return None, f"no stored evaluation of this version has {metric} to compare with"
        higher = _higher_is_better(metric, self.project)
        return (base - current if higher else current - base), None

    def baseline(self) -> dict[str, float]:
        """The metrics of the version's evaluation (on its gate's dataset when gated)."""
        if self._baseline is None:
            self._baseline = {}
            version = self.version()
            if version is not None:
                self._baseline = _evaluation_metrics(self.metadata, version)
        return self._baseline

    def fires_below(self, rule: AlertRule) -> bool:
        """Whether the rule's value breaches by falling under the threshold.

        Only a column_score rule on a column whose drift test gives a p-value does: low
        means drift there. The report's summary says which test scored each column
        (``higher_is_drift``); without it the score is read as a distance.
        """
        if rule.kind is not AlertKind.COLUMN_SCORE:
            return False
        directions = self.summary().get("higher_is_drift")
        if not isinstance(directions, dict):
            return False
        return directions.get(rule.column) is False

    def column_test(self, rule: AlertRule) -> str | None:
        """The drift test that scored a column_score rule's column, when the report says."""
        tests = self.summary().get("tests")
        found = tests.get(rule.column) if isinstance(tests, dict) else None
        return found if isinstance(found, str) else None

    def summary(self) -> Mapping[str, Any]:
        """The stored report's summary (empty without a stored report)."""
        if self._summary is None:
            self._summary = {}
            if self.report_id is not None:
                with contextlib.suppress(NotFound):
                    self._summary = self.metadata.monitor_reports.get(self.report_id).summary
        return self._summary

    def version(self) -> ModelVersion | None:
        """The monitored version, None when the registry does not know its id."""
        if not self._looked_up:
            self._looked_up = True
            try:
                self._version = self.metadata.registry.get_version_by_id(self.model_version_id)
            except NotFound:
                self._version = None
        return self._version


def _evaluation_metrics(metadata: SqlMetadataStore, version: ModelVersion) -> dict[str, float]:
    logged = metadata.logged_models
    evaluation = None
    if version.gate is not None:
        evaluation = logged.latest_evaluation(version.model.id, version.gate.dataset_version_id)
    if evaluation is None:
        newest = logged.evaluations_of(version.model.id)
        evaluation = newest[0] if newest else None
    if evaluation is None:
        return {}
    return {
        name: float(v)
        for name, v in evaluation.metrics.items()
        if v is not None and math.isfinite(v)
    }


def _higher_is_better(metric: str, project: Project) -> bool:
    card = project.card
    if metric == card.metric and card.direction is not None:
        return card.direction is Direction.MAXIMIZE
    known = KNOWN_METRIC_DIRECTIONS.get(metric) or KNOWN_METRIC_DIRECTIONS.get(metric.split("_")[0])
    return known is not Direction.MINIMIZE


def _numbers(values: Mapping[str, float | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    items: list[tuple[object, object]] = list(values.items())
    for key, raw in items:
        if not isinstance(key, str):
            raise InvalidInput(f"monitor value key {key!r} must be a str")
        if raw is None:
            out[key] = None
        elif isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise InvalidInput(f"monitor value {key}={raw!r} is not a number")
        else:
            number = float(raw)
            out[key] = number if math.isfinite(number) else None
    return out


def _payload(
    context: _Context,
    rule: AlertRule,
    alert: Alert,
    event: str,
    value: float | None,
    at_ms: int,
) -> dict[str, Any]:
    version = context.version()
    below = context.fires_below(rule)
    return alert_payload(
        rule,
        alert,
        event=event,
        value=value,
        project=context.project.name,
        model_version_id=context.model_version_id,
        model_version=None if version is None else version.version,
        report_id=context.report_id,
        at_ms=at_ms,
        primary_metric=context.project.card.metric,
        below=below,
        column_test=context.column_test(rule),
    )


# -- checks -------------------------------------------------------------------------------


def _kind(kind: object) -> AlertKind:
    try:
        return AlertKind(str(kind) if isinstance(kind, str) else "")
    except ValueError:
        raise InvalidInput(
            f"alert kind {kind!r} is not one of {', '.join(k.value for k in AlertKind)}"
        ) from None


def _threshold(kind: AlertKind, threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise InvalidInput(f"threshold={threshold!r} must be a number")
    number = float(threshold)
    if not math.isfinite(number):
        raise InvalidInput(f"threshold={threshold!r} must be a finite number")
    if kind in _SHARES and not 0 <= number < 1:
        raise InvalidInput(
            f"the threshold of {'an' if kind is AlertKind.ERROR_RATE else 'a'} {kind} rule is a "
            f"share: 0 <= threshold < 1 (e.g. 0.3), got {number:g}"
        )
    if kind is AlertKind.P99_LATENCY and number < 0:
        raise InvalidInput(f"a p99_latency threshold is milliseconds >= 0, got {number:g}")
    return number


def _project(metadata: SqlMetadataStore, project_id: int | str) -> Project:
    if isinstance(project_id, str) and not project_id.isdigit():
        return metadata.projects.get(project_id)
    wanted = int(project_id)
    for project in metadata.projects.list():
        if project.id == wanted:
            return project
    raise NotFound(f"no project with id {wanted}")


def _check_model(metadata: SqlMetadataStore, project: Project, model_name: str) -> None:
    name: object = model_name  # checked as a plain object: it comes from callers' code
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"model_name={model_name!r} must name a registered model")
    names = [m.name for m in metadata.registry.list_models(project.id)]
    if model_name not in names:
        known = ", ".join(names[:20]) or "none yet"
        raise NotFound(
            f"no model {model_name!r} is registered in project {project.name!r} (models: {known})"
        )
