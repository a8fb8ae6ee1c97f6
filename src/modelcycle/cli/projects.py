"""``modelcycle projects list|show``: projects and their problem cards."""

from typing import Annotated

import typer
from rich.table import Table

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import (
    NONE,
    console,
    key_values,
    local_time,
    print_json,
    project_dict,
    value,
)
from modelcycle.core.entities.project import Project
from modelcycle.core.errors import NotFound

app = typer.Typer(help="Projects and their problem cards.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]


def _metric(project: Project) -> str:
    card = project.card
    if card.metric is None:
        return NONE
    return f"{card.metric} ({card.direction.value})" if card.direction else card.metric


@app.command("list")
def list_projects(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every project with its task, target, metric and goal."""
    tracking = _store.tracking(ctx)
    found = tracking.list_projects()
    counts = {p.name: tracking.count_runs(projects=[p.name]) for p in found}
    if as_json:
        print_json({"projects": [{**project_dict(p), "runs": counts[p.name]} for p in found]})
        return
    if not found:
        console().print("No projects yet: `mc.set_project(...)` or a first run creates one.")
        return
    table = Table("name", "task", "target", "metric", "goal", "runs", "owners", "created")
    for project in found:
        card = project.card
        table.add_row(
            project.name,
            value(card.task.value if card.task else None),
            value(card.target),
            _metric(project),
            value(card.goal),
            str(counts[project.name]),
            ", ".join(card.owners) or NONE,
            local_time(project.created_at),
        )
    console().print(table)


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project name.")],
    as_json: JsonOption = False,
) -> None:
    """Show a project's problem card."""
    tracking = _store.tracking(ctx)
    with hint_on(NotFound, "list the projects with `modelcycle projects list`"):
        project = tracking.get_project(name)
    if as_json:
        print_json(project_dict(project))
        return
    card = project.card
    console().print(
        key_values(
            {
                "task": card.task.value if card.task else None,
                "target": card.target,
                "metric": _metric(project),
                "goal": card.goal,
                "owners": ", ".join(card.owners) or None,
                "description": card.description,
                "created": local_time(project.created_at),
                "updated": local_time(project.updated_at),
            },
            title=f"Project {project.name}",
        )
    )
