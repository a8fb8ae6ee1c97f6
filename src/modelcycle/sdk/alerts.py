"""Alert rules on registered models, and the alerts they open: the ``mc.monitor`` alert calls.

A rule watches one number of a model's monitor runs and fires when it is above its threshold;
an alert opens once per breach and resolves when a run finds the number back in bounds (see
``services.monitor.alerts``). Everything works in the current project (``mc.set_project``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    from modelcycle.store.metadata import Alert, AlertKind, AlertRule, AlertState

__all__ = [
    "add_alert_rule",
    "alert_rules",
    "alerts",
    "remove_alert_rule",
    "set_alert_rule_enabled",
]


def add_alert_rule(
    model_name: str,
    kind: AlertKind | str,
    threshold: float,
    *,
    column: str | None = None,
    metric: str | None = None,
    webhook: str | None = None,
) -> AlertRule:
    """Watch a registered model: fire an alert when a monitored number goes above ``threshold``.

    Args:
        model_name: The registered model (whichever of its versions the monitor runs on).
        kind: What to watch: ``"drift_share"`` (share of drifted columns, 0..1),
            ``"column_score"`` (one column's drift score; when the column's test gives a
            p-value, the rule fires below the threshold instead), ``"metric_drop"`` (how much worse
            than its evaluation the metric is, in the metric's own direction),
            ``"error_rate"`` (0..1) or ``"p99_latency"`` (milliseconds).
        threshold: The rule fires when the value is above this.
        column: The column of a ``column_score`` rule.
        metric: The metric of a ``metric_drop`` rule (default: the project's primary metric).
        webhook: An ``http(s)://`` URL that gets a JSON POST when an alert opens or resolves.

    Returns:
        The stored rule (``.id`` names it for removal).

    Raises:
        InvalidInput: an unknown kind, a column or metric the kind does not take, a threshold
            out of range, a webhook that is not an http(s) URL.
        NotFound: no model of that name is registered in the current project.
    """
    from modelcycle.services.monitor.alerts import add_alert_rule as add_rule

    session = get_session()
    return add_rule(
        session.metadata,
        project_id=_project_id(),
        model_name=model_name,
        kind=kind,
        threshold=threshold,
        column=column,
        metric=metric,
        webhook=webhook,
    )


def alert_rules(model_name: str | None = None) -> list[AlertRule]:
    """The alert rules of the current project (of one model when named), oldest first."""
    session = get_session()
    project_id = _project_id()
    return session.metadata.alerts.rules(project_id, model_name)


def alerts(
    model_name: str | None = None,
    state: AlertState | str | None = None,
    *,
    limit: int | None = 100,
) -> list[Alert]:
    """The alerts of the current project, newest first.

    Args:
        model_name: Only alerts of this model's rules.
        state: Only ``"firing"`` or only ``"resolved"`` alerts.
        limit: At most this many (None: all).

    Raises:
        InvalidInput: an unknown state.
    """
    from modelcycle.services.monitor.alerts import alert_history

    return alert_history(
        get_session().metadata,
        project_id=_project_id(),
        model_name=model_name,
        state=state,
        limit=limit,
    )


def remove_alert_rule(rule_id: str) -> None:
    """Remove a rule and its alerts.

    Raises:
        NotFound: no rule has this id.
    """
    get_session().metadata.alerts.delete_rule(rule_id)


def set_alert_rule_enabled(rule_id: str, enabled: bool) -> AlertRule:
    """Turn a rule off (monitor runs skip it, its alerts are kept) or back on.

    Raises:
        NotFound: no rule has this id.
    """
    return get_session().metadata.alerts.set_rule_enabled(rule_id, enabled)


def _project_id() -> int:
    session = get_session()
    return session.metadata.projects.id_of(session.project, create=False)
