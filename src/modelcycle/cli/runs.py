"""``modelcycle runs list|show|compare``: what was tried and how it went."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelcycle.cli import _compare, _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import (
    NONE,
    console,
    duration,
    environment_dict,
    key_values,
    local_time,
    print_json,
    round_float,
    run_dict,
    size,
    status,
    value,
)
from modelcycle.core.entities.run import Environment, Run
from modelcycle.core.errors import NotFound
from modelcycle.core.filters import (
    Comparison,
    Expr,
    Namespace,
    Not,
    parse_filter,
    parse_order_by,
)

app = typer.Typer(help="Runs: list, show and compare.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
_RUN_HINT = "list run ids with `modelcycle runs list`"
_MAX_KEY_COLUMNS = 6
_FILTER_HELP = (
    "e.g. \"metrics.acc > 0.8 and params.model = 'gbm' and tags.team = 'risk'\". Fields: "
    "metrics.KEY, params.KEY, tags.KEY, status, start_time, end_time, run_id, name, project, "
    "parent_id; operators = != < <= > >= like ilike in, not in, is null, is not null; "
    "combine with and, or, not and parentheses."
)


# -- list ----------------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option(help="Only this project's runs (default: every project).")
    ] = None,
    filter: Annotated[str | None, typer.Option(help=_FILTER_HELP)] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY", help="A sort key such as 'metrics.acc desc'; repeat for more keys."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Page size, 1 to 50,000.")] = 50,
    page_token: Annotated[
        str | None, typer.Option(help="The next-page token a previous page printed.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    tracking = _store.tracking(ctx)
    with hint_on(NotFound, "list the projects with `modelcycle projects list`"):
        page = tracking.search_runs(
            projects=[project] if project is not None else None,
            filter=filter,
            order_by=order_by or None,
            limit=limit,
            page_token=page_token,
        )
    if as_json:
        print_json(
            {"runs": [run_dict(r) for r in page.runs], "next_page_token": page.next_page_token}
        )
        return
    out = console()
    if not page.runs:
        out.print("No runs match.")
        return
    columns = _key_columns(page.runs, _named_keys(filter, order_by or ()))
    table = Table("id", "name", "status", "start", "duration")
    for namespace, key in columns:
        table.add_column(
            f"{namespace}.{key}", justify="right" if namespace == "metrics" else "left"
        )
    for run in page.runs:
        cells = [_lookup(run, namespace, key) for namespace, key in columns]
        table.add_row(
            Text(run.id, no_wrap=True),
            run.name or NONE,
            status(run.status.value),
            local_time(run.start_time),
            duration(run.duration_ms),
            *(value(round_float(c)) for c in cells),
        )
    out.print(table)
    if page.next_page_token is not None:
        out.print(f"next page: --page-token {page.next_page_token}", soft_wrap=True)


def _fields(expr: Expr | None) -> list[tuple[str, str]]:
    if expr is None:
        return []
    if isinstance(expr, Comparison):
        return [(expr.field.namespace.value, expr.field.key)]
    if isinstance(expr, Not):
        return _fields(expr.item)
    return [f for item in expr.items for f in _fields(item)]


def _named_keys(filter_text: str | None, order_by: list[str] | tuple[str, ...]) -> list[str]:
    """The metric/param/tag fields the filter and order-by name, in order, as "ns.key"."""
    named = [(k.field.namespace.value, k.field.key) for k in parse_order_by(list(order_by))]
    named += _fields(parse_filter(filter_text))
    keys = [f"{ns}.{key}" for ns, key in named if ns != Namespace.ATTRIBUTES.value]
    return list(dict.fromkeys(keys))


def _key_columns(runs: tuple[Run, ...], named: list[str]) -> list[tuple[str, str]]:
    """The named keys first, then the page's metrics, then its params, up to a few columns."""
    metrics = sorted({k for r in runs for k in r.metrics})
    params = sorted({k for r in runs for k in r.params})
    candidates = named + [f"metrics.{k}" for k in metrics] + [f"params.{k}" for k in params]
    chosen = list(dict.fromkeys(candidates))[: max(_MAX_KEY_COLUMNS, len(named))]
    return [(c.split(".", 1)[0], c.split(".", 1)[1]) for c in chosen]


def _lookup(run: Run, namespace: str, key: str) -> object:
    source = {"metrics": run.metrics, "params": run.params, "tags": run.tags}[namespace]
    return source.get(key)


# -- show ----------------------------------------------------------------------------------------


@app.command()
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (32 hex characters).")],
    packages: Annotated[
        bool, typer.Option("--packages", help="List every installed package of the run.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show everything about one run."""
    tracking = _store.tracking(ctx)
    with hint_on(NotFound, _RUN_HINT):
        run = tracking.get_run(run_id)
    environment = None
    if run.environment_digest is not None:
        environment = tracking.get_environment(run.environment_digest)
    histories = {key: tracking.get_metric_history(run.id, key) for key in sorted(run.metrics)}
    summary: dict[str, dict[str, object]] = {
        key: {
            "latest": run.metrics[key],
            "points": len(history),
            "last_step": history.steps[-1] if len(history) else None,
        }
        for key, history in histories.items()
    }
    refs = _input_refs(run)
    if as_json:
        data = run_dict(run)
        for item in data["inputs"]:
            item["ref"] = refs.get(item["dataset_version_id"])
        data["environment"] = (
            environment_dict(environment, packages=packages) if environment else None
        )
        data["metric_summary"] = summary
        print_json(data)
        return
    _print_run(run, environment, summary, packages=packages, refs=refs)


def _input_refs(run: Run) -> dict[str, str]:
    """``name@version`` of each input still in the store (``project/…`` from another project)."""
    from modelcycle.sdk.session import get_session

    refs: dict[str, str] = {}
    versions = get_session().data
    for item in run.inputs:
        try:
            version = versions.get_by_id(item.dataset_version_id)
        except NotFound:
            continue
        same = version.project == run.project
        refs[item.dataset_version_id] = version.ref if same else f"{version.project}/{version.ref}"
    return refs


def _print_run(
    run: Run,
    environment: Environment | None,
    summary: dict[str, dict[str, object]],
    *,
    packages: bool,
    refs: dict[str, str],
) -> None:
    out = console()
    code = run.code
    out.print(
        key_values(
            {
                "name": run.name,
                "project": run.project,
                "status": status(run.status.value),
                "start": local_time(run.start_time),
                "end": local_time(run.end_time),
                "duration": duration(run.duration_ms),
                "parent": run.parent_id,
                "host / pid": f"{run.host or NONE} / {run.pid if run.pid is not None else NONE}",
            },
            title=f"Run {run.id}",
        )
    )
    dirty = None if code.git_dirty is None else ("yes" if code.git_dirty else "no")
    out.print(
        key_values(
            {
                "commit": code.git_commit,
                "branch": code.git_branch,
                "dirty": dirty,
                "diff digest": code.diff_digest,
                "entry point": code.entry_point,
                "repository": code.repository,
            },
            title="Code",
        )
    )
    if environment is not None:
        hint = "" if packages else "  (--packages lists them)"
        out.print(
            key_values(
                {
                    "python": environment.python_version,
                    "platform": environment.platform,
                    "packages": f"{len(environment.packages)}{hint}",
                },
                title="Environment",
            )
        )
        if packages:
            out.print("\n".join(environment.packages), soft_wrap=True)
    _print_tables(out, run, summary, refs)
    if run.error:
        out.print(Text("Error", style="bold red"))
        out.print(Text(run.error, style="red"), soft_wrap=True)


def _print_tables(
    out: Console, run: Run, summary: dict[str, dict[str, object]], refs: dict[str, str]
) -> None:
    if run.params:
        params = Table("param", "value", title="Params", title_justify="left")
        for key in sorted(run.params):
            params.add_row(key, run.params[key])
        out.print(params)
    if summary:
        metrics = Table("metric", "latest", "points", "last step", title="Metrics")
        metrics.title_justify = "left"
        for key, info in summary.items():
            metrics.add_row(
                key, value(info["latest"]), value(info["points"]), value(info["last_step"])
            )
        out.print(metrics)
    if run.tags:
        tags = Table("tag", "value", title="Tags", title_justify="left")
        for key in sorted(run.tags):
            tags.add_row(key, run.tags[key])
        out.print(tags)
    if run.inputs:
        inputs = Table("dataset version", "id", "role", title="Inputs", title_justify="left")
        for item in run.inputs:
            ref = refs.get(item.dataset_version_id, NONE)
            inputs.add_row(ref, item.dataset_version_id, item.role)
        out.print(inputs)
    if run.artifacts:
        artifacts = Table("path", "size", "digest", title="Artifacts", title_justify="left")
        for artifact in run.artifacts:
            artifacts.add_row(artifact.path, size(artifact.size), artifact.digest[:12])
        out.print(artifacts)


# -- compare -------------------------------------------------------------------------------------


@app.command()
def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show the rows whose values are the same.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side: status, duration, commit, params and latest metrics."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids", param_hint="RUN_IDS")
    if len(set(run_ids)) != len(run_ids):
        raise typer.BadParameter("a run id is given more than once", param_hint="RUN_IDS")
    tracking = _store.tracking(ctx)
    with hint_on(NotFound, _RUN_HINT):
        found = [tracking.get_run(run_id) for run_id in run_ids]
    comparison = _compare.compare(found)
    if as_json:
        print_json(comparison.to_dict())
        return
    console().print(_compare.table(comparison, show_all=show_all))
    hidden = comparison.num_identical
    if not show_all and hidden:
        console().print(f"{hidden} identical row(s) hidden; --all shows them")
