"""``modelcycle monitor alerts add|list|remove|enable|disable|history``: alert rules and alerts.

A rule watches one number of a registered model's monitor runs and fires when it is above its
threshold; each breach opens one alert, which resolves when a run finds the number back in
bounds. Rules with a webhook get a JSON POST when their alert opens and when it resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import NONE, console, iso_utc, local_time, print_json
from modelcycle.core.errors import NotFound

if TYPE_CHECKING:
    from modelcycle.store.metadata import Alert, AlertRule, SqlMetadataStore

app = typer.Typer(
    help="Alert rules on monitored models, and the alerts they opened.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
RuleArgument = Annotated[str, typer.Argument(help="The rule's id (see `list`).")]
_KINDS = "drift_share, column_score, metric_drop, error_rate or p99_latency"
_RULES_HINT = "list the rules with `modelcycle monitor alerts list`"
_MODELS_HINT = "list the registered models with `modelcycle models list`"


def _metadata(ctx: typer.Context) -> SqlMetadataStore:
    from modelcycle.sdk.session import configure, get_session

    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    return get_session().metadata


def _project_id(metadata: SqlMetadataStore, project: str | None) -> int:
    name = _store.project_name(project)
    with hint_on(NotFound, "name the project with --project or MODELCYCLE_PROJECT"):
        return metadata.projects.id_of(name, create=False)


def rule_dict(rule: AlertRule, firing: Alert | None = None) -> dict[str, Any]:
    """The JSON form of a rule, with its firing alert (None when it is not firing)."""
    return {
        "id": rule.id,
        "model_name": rule.model_name,
        "kind": rule.kind.value,
        "column": rule.column,
        "metric": rule.metric,
        "threshold": rule.threshold,
        "webhook": rule.webhook_url,
        "enabled": rule.enabled,
        "created_at": rule.created_at,
        "created_at_iso": iso_utc(rule.created_at),
        "created_by": rule.created_by,
        "firing_alert_id": None if firing is None else firing.id,
    }


def alert_dict(alert: Alert, rule: AlertRule | None = None) -> dict[str, Any]:
    """The JSON form of an alert (with its rule's model, kind and threshold when known)."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "model_name": None if rule is None else rule.model_name,
        "kind": None if rule is None else rule.kind.value,
        "threshold": None if rule is None else rule.threshold,
        "state": alert.state.value,
        "value": alert.value,
        "model_version_id": alert.model_version_id,
        "report_id": alert.report_id,
        "opened_at": alert.opened_at,
        "opened_at_iso": iso_utc(alert.opened_at),
        "resolved_at": alert.resolved_at,
        "resolved_at_iso": iso_utc(alert.resolved_at),
        "delivery": {
            "status": alert.delivery_status.value,
            "attempts": alert.delivery_attempts,
            "last_error": alert.last_error,
            "delivered_at": alert.delivered_at,
        },
    }


def _watches(rule: AlertRule) -> str:
    if rule.column:
        return f"{rule.kind.value} of {rule.column}"
    if rule.metric:
        return f"{rule.kind.value} of {rule.metric}"
    if rule.kind.value == "metric_drop":
        return "metric_drop of the primary metric"
    return rule.kind.value


def _webhook(rule: AlertRule) -> str:
    from modelcycle.services.monitor.webhooks import shown_url

    return NONE if rule.webhook_url is None else shown_url(rule.webhook_url)


@app.command()
def add(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The registered model to watch.")],
    kind: Annotated[str, typer.Option(help=f"What to watch: {_KINDS}.")],
    threshold: Annotated[float, typer.Option(help="Fire when the value is above this.")],
    column: Annotated[
        str | None, typer.Option(help="The column a column_score rule watches.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="The metric a metric_drop rule watches (default: the primary one)."),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="An http(s) URL to POST to when an alert opens or resolves.")
    ] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Add it switched off (see `enable`).")
    ] = False,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a rule: fire an alert when MODEL's monitored value is above the threshold.

    drift_share is the share of drifted columns (0..1); column_score a column's drift score (a
    column scored by a p-value fires below the threshold instead); metric_drop how much worse
    than its evaluation a metric is; error_rate the share of failed requests (0..1);
    p99_latency milliseconds.
    """
    from modelcycle.services.monitor.alerts import add_alert_rule

    metadata = _metadata(ctx)
    with hint_on(NotFound, _MODELS_HINT):
        rule = add_alert_rule(
            metadata,
            project_id=_project_id(metadata, project),
            model_name=model,
            kind=kind,
            threshold=threshold,
            column=column,
            metric=metric,
            webhook=webhook,
            enabled=not disabled,
        )
    if as_json:
        print_json(rule_dict(rule))
        return
    target = "" if rule.webhook_url is None else f", notifying {_webhook(rule)}"
    state = " (disabled)" if disabled else ""
    console().print(
        f"Added rule [bold]{rule.id}[/bold]: {rule.model_name} {_watches(rule)} > "
        f"{rule.threshold:g}{target}{state}"
    )


@app.command("list")
def list_rules(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model's rules.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the alert rules, and which are firing now."""
    metadata = _metadata(ctx)
    rules = metadata.alerts.rules(_project_id(metadata, project), model)
    firing = {rule.id: metadata.alerts.firing_alert(rule.id) for rule in rules}
    if as_json:
        print_json({"rules": [rule_dict(rule, firing[rule.id]) for rule in rules]})
        return
    if not rules:
        where = f"model {model!r}" if model else f"project {_store.project_name(project)!r}"
        console().print(
            f"No alert rules for {where} yet; add one with `modelcycle monitor alerts add`."
        )
        return
    table = Table("id", "model", "watches", "above", "webhook", "enabled", "now", "created")
    for rule in rules:
        alert = firing[rule.id]
        now = (
            Text(f"firing since {local_time(alert.opened_at)}", style="red")
            if alert is not None
            else Text("ok", style="green")
        )
        table.add_row(
            rule.id,
            rule.model_name,
            _watches(rule),
            f"{rule.threshold:g}",
            _webhook(rule),
            "yes" if rule.enabled else "no",
            now,
            local_time(rule.created_at),
        )
    console().print(table)


@app.command()
def remove(ctx: typer.Context, rule_id: RuleArgument) -> None:
    """Remove a rule and its alerts."""
    metadata = _metadata(ctx)
    with hint_on(NotFound, _RULES_HINT):
        metadata.alerts.delete_rule(rule_id)
    console().print(f"Removed rule {rule_id} and its alerts")


def _set_enabled(ctx: typer.Context, rule_id: str, enabled: bool, as_json: bool) -> None:
    metadata = _metadata(ctx)
    with hint_on(NotFound, _RULES_HINT):
        rule = metadata.alerts.set_rule_enabled(rule_id, enabled)
    if as_json:
        print_json(rule_dict(rule, metadata.alerts.firing_alert(rule.id)))
        return
    console().print(f"Rule {rule.id} is {'enabled' if enabled else 'disabled'}")


@app.command()
def enable(ctx: typer.Context, rule_id: RuleArgument, as_json: JsonOption = False) -> None:
    """Switch a rule on: monitor runs evaluate it again."""
    _set_enabled(ctx, rule_id, True, as_json)


@app.command()
def disable(ctx: typer.Context, rule_id: RuleArgument, as_json: JsonOption = False) -> None:
    """Switch a rule off: monitor runs skip it; its alerts are kept."""
    _set_enabled(ctx, rule_id, False, as_json)


@app.command()
def history(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model's alerts.")] = None,
    state: Annotated[str | None, typer.Option(help="Only firing or only resolved alerts.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the alerts the rules opened, newest first, with their webhook deliveries."""
    from modelcycle.services.monitor.alerts import alert_history

    metadata = _metadata(ctx)
    project_id = _project_id(metadata, project)
    found = alert_history(
        metadata, project_id=project_id, model_name=model, state=state, limit=limit
    )
    rules = {rule.id: rule for rule in metadata.alerts.rules(project_id)}
    if as_json:
        print_json({"alerts": [alert_dict(a, rules.get(a.rule_id)) for a in found]})
        return
    if not found:
        console().print("No alerts.")
        return
    table = Table(
        "alert", "model", "watches", "value", "above", "state", "opened", "resolved", "webhook"
    )
    for alert in found:
        rule = rules.get(alert.rule_id)
        table.add_row(
            alert.id,
            NONE if rule is None else rule.model_name,
            NONE if rule is None else _watches(rule),
            NONE if alert.value is None else f"{alert.value:.4g}",
            NONE if rule is None else f"{rule.threshold:g}",
            Text(alert.state.value, style="red" if alert.state.value == "firing" else "green"),
            local_time(alert.opened_at),
            local_time(alert.resolved_at),
            _delivery(alert),
        )
    console().print(table)


def _delivery(alert: Alert) -> Text:
    status = alert.delivery_status.value
    if status == "none":
        return Text(NONE)
    tries = f"{alert.delivery_attempts} {'try' if alert.delivery_attempts == 1 else 'tries'}"
    if status == "delivered":
        return Text(f"delivered ({tries})", style="green")
    if status == "pending":
        return Text("pending", style="yellow")
    return Text(f"failed ({tries}): {alert.last_error or 'unknown error'}", style="red")
