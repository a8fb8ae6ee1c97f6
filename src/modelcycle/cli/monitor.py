"""``modelcycle monitor run|schedule|list|show|alerts``: monitor a model over its prediction log.

``run`` computes one report (feature and prediction drift, data quality, performance once
labels arrive, ops figures), stores it and evaluates the model's alert rules; ``schedule``
does that every ``--every`` in the foreground until SIGTERM or Ctrl-C (for cron or systemd,
see ``services.monitor.schedule``); ``list`` and ``show`` read the stored reports.
"""

from __future__ import annotations

import datetime as dt
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelcycle.cli import _store, monitor_alerts
from modelcycle.cli._errors import hint_on, report
from modelcycle.cli._render import NONE, console, iso_utc, key_values, local_time, print_json
from modelcycle.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from modelcycle.services.monitor.reference import LogWindow
    from modelcycle.services.monitor.run import MonitorResult
    from modelcycle.store.metadata.monitor_reports import MonitorReport

app = typer.Typer(help="Monitor models: drift, data quality, performance, ops; alerts.")
app.add_typer(monitor_alerts.app, name="alerts")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
RefArgument = Annotated[
    str, typer.Argument(help="The model version: churn@production, churn@3 or churn.")
]
WindowOption = Annotated[
    int | None,
    typer.Option(
        "--window",
        "-w",
        min=1,
        help="The newest N predictions (default: 1000).",
        show_default=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        help="Predictions since a span before each run (1h, 30m, 2d) or an ISO time.",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="The serving endpoint (http://host:8000): its /metrics give the error rates.",
        show_default=False,
    ),
]
ReferenceOption = Annotated[
    str | None,
    typer.Option(
        "--reference",
        "-r",
        help="A dataset version to compare with (default: the model's training data).",
        show_default=False,
    ),
]
PerformanceEveryOption = Annotated[
    str | None,
    typer.Option(
        help="Also score performance per window of this length (1h, 1d), once labels arrive.",
        show_default=False,
    ),
]
_HINT = "list the models with `modelcycle models list`"


def _every_ms(span: str | None) -> int | None:
    from modelcycle.services.monitor.schedule import parse_duration

    return None if span is None else int(parse_duration(span) * 1000)


def _session(ctx: typer.Context, project: str | None) -> Any:
    from modelcycle.sdk.session import configure, get_session

    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    session = get_session()
    session.project = _store.project_name(project)
    return session


def _window(last: int | None, since: str | None) -> LogWindow:
    from modelcycle.services.monitor.reference import DEFAULT_LAST, LogWindow
    from modelcycle.services.monitor.schedule import parse_duration

    if since is None:
        return LogWindow(last=last if last is not None else DEFAULT_LAST)
    try:
        moment = dt.datetime.fromisoformat(since)
    except ValueError:
        return LogWindow(last=last, span_ms=int(parse_duration(since) * 1000))
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return LogWindow(last=last, since_ms=int(moment.timestamp() * 1000))


def _progress(enabled: bool) -> Any:
    """A Rich progress bar on stderr fed by ``run_monitor``'s steps; a no-op when off."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar() -> Iterator[Callable[[str, int, int], None] | None]:
        out = console()
        out.stderr = True
        if not enabled or not out.is_terminal:
            # Off the terminal (a pipe, a log file) a bar is noise: nothing is drawn.
            yield None
            return
        progress = Progress(
            TextColumn("[bold]monitoring[/bold] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        task = progress.add_task("", total=None)

        def step(name: str, done: int, total: int) -> None:
            progress.update(task, description=name, completed=done, total=total)

        with progress:
            yield step

    return bar()


def _one_run(
    session: Any,
    ref: str,
    window: LogWindow,
    reference: str | None,
    progress: Callable[[str, int, int], None] | None,
    deliver: bool,
    every_ms: int | None = None,
    endpoint: str | None = None,
) -> MonitorResult:
    from modelcycle.services.monitor.run import run_monitor

    with hint_on(NotFound, _HINT):
        return run_monitor(
            session.registry,
            session.data,
            session.project,
            ref,
            window=window,
            reference=reference,
            every_ms=every_ms,
            deliver=deliver,
            endpoint=endpoint,
            progress=progress,
        )


def _result_dict(result: MonitorResult) -> dict[str, Any]:
    report_row = result.report
    summary = report_row.summary
    return {
        "id": report_row.id,
        "model": result.model_ref,
        "created_at": report_row.created_at,
        "created_at_iso": iso_utc(report_row.created_at),
        "window": result.window,
        "rows": report_row.rows,
        "reference": report_row.reference,
        "drift_share": report_row.drift_share,
        "dataset_drifted": report_row.dataset_drifted,
        "drifted_columns": summary.get("drifted_columns", []),
        "prediction_drift": summary.get("prediction_drift"),
        "primary_metric": summary.get("primary_metric"),
        "primary_value": summary.get("primary_value"),
        "quality": summary.get("quality"),
        "alerts": [
            {
                "rule_id": o.rule.id,
                "kind": o.rule.kind.value,
                "change": o.change.value,
                "value": o.value,
                "alert_id": None if o.alert is None else o.alert.id,
            }
            for o in result.alerts
        ],
        "notes": list(result.notes),
        "values": dict(result.values),
    }


def _print_result(result: MonitorResult, html: Path | None) -> None:
    data = _result_dict(result)
    drifted = data["drifted_columns"]
    prediction = data["prediction_drift"]
    opened = [a for a in data["alerts"] if a["change"] == "opened"]
    rows = {
        "report": data["id"],
        "model": data["model"],
        "window": f"{data['window']} ({data['rows']:,} predictions)",
        "reference": data["reference"],
        "drift": f"{len(drifted)} of {len(result.drift.tested_columns)} features drifted "
        f"({_pct(data['drift_share'])})" + (f": {', '.join(drifted[:8])}" if drifted else ""),
        "prediction drift": NONE
        if prediction is None
        else f"{'drift' if prediction['drifted'] else 'no drift'} "
        f"({prediction['label']} {_num(prediction['score'])})",
        "quality": _quality_line(data["quality"]),
        "performance": NONE
        if data["primary_metric"] is None
        else f"{data['primary_metric']} {_num(data['primary_value'])}",
        "alerts opened": ", ".join(f"{a['kind']} ({_num(a['value'])})" for a in opened) or NONE,
    }
    if html is not None:
        rows["html"] = str(html)
    out = console()
    out.print(key_values(rows))
    for note in result.notes:
        out.print(f"[dim]note: {note}[/dim]", markup=True)


def _quality_line(quality: dict[str, Any] | None) -> str:
    if not quality:
        return NONE
    return (
        f"{quality['schema_violations']} schema violations, {quality['rules_failed']} rules "
        f"failed, {quality['missing']:,} missing, {quality['out_of_range']:,} out of range, "
        f"{quality['unseen']:,} unseen"
    )


def _num(value: object) -> str:
    if value is None:
        return NONE
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _pct(value: float | None) -> str:
    return NONE if value is None else f"{value:.1%}"


@app.command("run")
def run_command(
    ctx: typer.Context,
    ref: RefArgument,
    window: WindowOption = None,
    since: SinceOption = None,
    reference: ReferenceOption = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the HTML report to this file.", show_default=False),
    ] = None,
    deliver: Annotated[bool, typer.Option(help="Deliver the webhooks of alerts that fire.")] = True,
    performance_every: PerformanceEveryOption = None,
    endpoint: EndpointOption = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Monitor the newest predictions of a model version and store the report."""
    session = _session(ctx, project)
    log_window = _window(window, since)
    every_ms = _every_ms(performance_every)
    with _progress(not as_json) as step:
        result = _one_run(session, ref, log_window, reference, step, deliver, every_ms, endpoint)
    if html is not None:
        result.to_html(html)
    if as_json:
        print_json(_result_dict(result))
        return
    _print_result(result, html)


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    ref: RefArgument,
    every: Annotated[str, typer.Option(help="Time between runs: 30m, 1h, 1d.")],
    window: WindowOption = None,
    since: SinceOption = None,
    reference: ReferenceOption = None,
    endpoint: EndpointOption = None,
    max_runs: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after this many runs.", show_default=False),
    ] = None,
    project: _store.ProjectOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line per run to stdout.")
    ] = False,
) -> None:
    """Run the monitor every --every in the foreground until SIGTERM or Ctrl-C.

    A failed run is reported on stderr and the schedule goes on. Under cron or systemd,
    schedule `modelcycle monitor run` instead.
    """
    import orjson

    from modelcycle.services.monitor.schedule import parse_duration, run_every

    every_s = parse_duration(every)
    session = _session(ctx, project)
    log_window = _window(window, since)
    out = console()

    def on_result(number: int, result: MonitorResult) -> None:
        if as_json:
            typer.echo(orjson.dumps({"run": number, **_result_dict(result)}).decode())
            return
        row = result.report
        drifted = len(row.summary.get("drifted_columns", []))
        opened = sum(1 for o in result.alerts if o.change.value == "opened")
        out.print(
            f"run {number} · {local_time(row.created_at)} · report {row.id} · "
            f"{row.rows:,} predictions · drift {_pct(row.drift_share)} ({drifted} features) · "
            f"{opened} alerts opened"
        )

    def on_error(number: int, exc: BaseException) -> None:
        typer.echo(f"run {number} failed:", err=True)
        report(exc)

    summary = run_every(
        lambda: _one_run(session, ref, log_window, reference, None, True, None, endpoint),
        every_s,
        max_runs=max_runs,
        on_result=on_result,
        on_error=on_error,
    )
    typer.echo(
        f"schedule stopped ({summary.stopped_by}): {summary.runs} runs, {summary.failures} failed",
        err=True,
    )
    if summary.runs and summary.failures == summary.runs:
        raise typer.Exit(1)


def _alert_counts(session: Any, version_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for alert in session.metadata.alerts.alerts(model_version_id=version_id, limit=None):
        if alert.report_id is not None:
            counts[alert.report_id] = counts.get(alert.report_id, 0) + 1
    return counts


def _report_dict(row: MonitorReport, alerts: int | None = None) -> dict[str, Any]:
    summary = row.summary
    data = {
        "id": row.id,
        "model": summary.get("model"),
        "model_version_id": row.model_version_id,
        "created_at": row.created_at,
        "created_at_iso": iso_utc(row.created_at),
        "window": summary.get("window"),
        "window_start": row.window_start,
        "window_end": row.window_end,
        "rows": row.rows,
        "reference": row.reference,
        "drift_share": row.drift_share,
        "dataset_drifted": row.dataset_drifted,
        "drifted_columns": summary.get("drifted_columns", []),
        "tested_columns": summary.get("tested_columns"),
        "primary_metric": summary.get("primary_metric"),
        "primary_value": summary.get("primary_value"),
        "json_digest": row.json_digest,
        "html_digest": row.html_digest,
    }
    if alerts is not None:
        data["alerts"] = alerts
    return data


@app.command("list")
def list_command(
    ctx: typer.Context,
    ref: RefArgument,
    limit: Annotated[int, typer.Option(min=1, help="At most this many reports.")] = 20,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """The monitor reports of a model version, newest first."""
    session = _session(ctx, project)
    with hint_on(NotFound, _HINT):
        version = session.registry.get(session.project, ref)
    rows = session.metadata.monitor_reports.reports(model_version_id=version.id, limit=limit)
    counts = _alert_counts(session, version.id)
    data = [_report_dict(row, counts.get(row.id, 0)) for row in rows]
    if as_json:
        print_json(data)
        return
    if not data:
        console().print(f"no monitor reports for {version.ref} yet: run `modelcycle monitor run`")
        return
    table = Table(title=f"monitor reports of {version.ref}", title_justify="left")
    table.add_column("report", no_wrap=True, min_width=32)  # ids are copied whole
    for column in ("time", "rows", "drift", "drifted", "metric", "alerts"):
        numeric = column in ("rows", "drift", "alerts")
        table.add_column(column, justify="right" if numeric else "left")
    for item in data:
        drifted = item["drifted_columns"]
        metric = item["primary_metric"]
        table.add_row(
            item["id"],
            local_time(item["created_at"])[:16].replace("T", " "),
            f"{item['rows']:,}",
            _pct(item["drift_share"]),
            f"{len(drifted)}/{item['tested_columns'] or 0}",
            NONE if metric is None else f"{metric} {_num(item['primary_value'])}",
            str(item["alerts"]),
        )
    console().print(table)


@app.command("show")
def show_command(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(help="The report id (from `monitor list`).")],
    open_html: Annotated[
        bool, typer.Option("--open", help="Open the HTML report in a browser.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the HTML report to this file.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One stored monitor report: its summary and every value."""
    from modelcycle.services.data.profile._html import write_atomic

    session = _session(ctx, None)
    with hint_on(NotFound, "list the reports with `modelcycle monitor list MODEL_REF`"):
        row = session.metadata.monitor_reports.get(report_id)
    values = session.metadata.monitor_reports.values(report_id)
    written: Path | None = None
    if html is not None or open_html:
        if row.html_digest is None:
            raise InvalidInput(f"report {report_id} has no HTML report stored")
        written = html or Path.cwd() / f"monitor-{report_id}.html"
        write_atomic(str(written), session.artifacts.read_bytes(row.html_digest).decode())
        if open_html:
            webbrowser.open(written.resolve().as_uri())
    if as_json:
        print_json({**_report_dict(row), "summary": dict(row.summary), "values": values})
        return
    data = _report_dict(row)
    out = console()
    out.print(
        key_values(
            {
                "report": data["id"],
                "model": data["model"],
                "time": local_time(data["created_at"]),
                "window": f"{data['window']} ({data['rows']:,} predictions)",
                "reference": data["reference"],
                "drift share": _pct(data["drift_share"]),
                "drifted": ", ".join(data["drifted_columns"]) or NONE,
                "quality": _quality_line(row.summary.get("quality")),
                "html": NONE if written is None else str(written),
            }
        )
    )
    table = Table(title="values", title_justify="left")
    table.add_column("key")
    table.add_column("value", justify="right")
    for key, number in values.items():
        table.add_row(key, _num(number))
    out.print(table)
