"""``modelcycle models list|show|register|alias|approve|reject|export``: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import NONE, console, iso_utc, key_values, local_time, print_json, value
from modelcycle.core.entities.model import ApprovalState
from modelcycle.core.errors import NotFound

if TYPE_CHECKING:
    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.registry.versions import ModelRegistry

app = typer.Typer(help="The model registry: versions, aliases, reviews, exports.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
RefArgument = Annotated[
    str, typer.Argument(help="The version: churn@3, churn@production or churn@latest.")
]
_HINT = "list the models with `modelcycle models list`"


def _registry(ctx: typer.Context) -> ModelRegistry:
    from modelcycle.sdk.session import configure, get_session

    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    return get_session().registry


def version_dict(version: ModelVersion) -> dict[str, Any]:
    """The JSON form of a model version."""
    model = version.model
    gate = version.gate
    return {
        "id": version.id,
        "project": version.project,
        "name": version.name,
        "version": version.version,
        "ref": version.ref,
        "aliases": list(version.aliases),
        "approval": version.approval.value,
        "approvals": [
            {"state": a.state.value, "actor": a.actor, "at": a.at, "comment": a.comment}
            for a in version.approvals
        ],
        "gate": None
        if gate is None
        else {
            "passed": gate.passed,
            "metric": gate.metric,
            "value": gate.value,
            "goal": gate.goal,
            "production_ref": gate.production_ref,
            "production_value": gate.production_value,
            "dataset_version_id": gate.dataset_version_id,
            "tolerance": gate.tolerance,
            "reason": gate.reason,
        },
        "exports": {k: dict(v) for k, v in version.exports.items()},
        "created_at": version.created_at,
        "created_at_iso": iso_utc(version.created_at),
        "description": version.description,
        "model": {
            "run_id": model.run_id,
            "name": model.name,
            "flavor": model.flavor,
            "digest": model.digest,
            "size_bytes": model.size_bytes,
            "task": model.task,
            "classes": None if model.classes is None else list(model.classes),
            "signature": model.signature.to_dict(),
            "requirements": list(model.requirements),
        },
    }


@app.command("list")
def list_models(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="List this model's versions instead.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the registered models, or the versions of one."""
    registry = _registry(ctx)
    project_name = _store.project_name(project)
    if name is not None:
        with hint_on(NotFound, _HINT):
            found = registry.list_versions(project_name, name)
        if as_json:
            print_json({"versions": [version_dict(v) for v in found]})
            return
        table = Table("ref", "aliases", "approval", "gate", "flavor", "run", "created")
        for version in found:
            table.add_row(
                version.ref,
                ", ".join(version.aliases) or NONE,
                version.approval.value,
                _gate_text(version),
                version.model.flavor,
                version.model.run_id,
                local_time(version.created_at),
            )
        console().print(table)
        return
    models = registry.list_models(project_name)
    if as_json:
        print_json(
            {
                "models": [
                    {
                        "name": m.name,
                        "latest_version": m.latest_version,
                        "version_count": m.version_count,
                        "aliases": dict(m.aliases),
                        "updated_at": m.updated_at,
                    }
                    for m in models
                ]
            }
        )
        return
    if not models:
        console().print(f"No registered models in project {project_name!r} yet.")
        return
    table = Table("name", "latest", "versions", "aliases", "updated")
    for model in models:
        aliases = ", ".join(f"{a}→@{v}" for a, v in sorted(model.aliases.items()))
        table.add_row(
            model.name,
            f"@{model.latest_version}",
            str(model.version_count),
            aliases or NONE,
            local_time(model.updated_at),
        )
    console().print(table)


def _gate_text(version: ModelVersion) -> str:
    gate = version.gate
    if gate is None:
        return "not run"
    return ("passed" if gate.passed else "FAILED") + f" ({gate.metric}={gate.value:.4g})"


@app.command()
def show(
    ctx: typer.Context,
    ref: RefArgument,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a version: model, signature, lineage, reviews, gate and exports."""
    registry = _registry(ctx)
    with hint_on(NotFound, _HINT):
        version = registry.get(_store.project_name(project), ref)
    lineage = registry.lineage(version)
    if as_json:
        data = version_dict(version)
        data["lineage"] = {
            "run_id": lineage.run.id,
            "run_name": lineage.run.name,
            "git_commit": lineage.run.code.git_commit,
            "git_dirty": lineage.run.code.git_dirty,
            "environment_digest": lineage.run.environment_digest,
            "inputs": [{"dataset": d, "role": r} for d, r in lineage.inputs],
        }
        print_json(data)
        return
    model = version.model
    out = console()
    out.print(
        key_values(
            {
                "ref": version.ref,
                "aliases": ", ".join(version.aliases) or None,
                "approval": version.approval.value,
                "gate": _gate_text(version),
                "flavor": model.flavor,
                "task": model.task,
                "sha256": model.digest,
                "run": f"{lineage.run.id} ({lineage.run.name or 'unnamed'})",
                "commit": lineage.run.code.git_commit,
                "data": ", ".join(f"{d} ({r})" for d, r in lineage.inputs) or None,
                "requirements": ", ".join(model.requirements),
                "exports": ", ".join(sorted(version.exports)) or None,
                "created": local_time(version.created_at),
            },
            title=version.ref,
        )
    )
    signature = Table("input", "type", "nullable", title="signature")
    for column in model.signature.inputs:
        signature.add_row(column.name, column.dtype, "yes" if column.nullable else "no")
    out.print(signature)
    if version.approvals:
        reviews = Table("decision", "by", "at", "comment", title="reviews")
        for review in version.approvals:
            reviews.add_row(
                review.state.value, review.actor, local_time(review.at), value(review.comment)
            )
        out.print(reviews)


@app.command()
def register(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A run id, or runs:/<run id>/<model name>.")],
    name: Annotated[str, typer.Argument(help="The registered model's name.")],
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register the model a run logged as the next version of NAME."""
    registry = _registry(ctx)
    version = registry.register(_store.project_name(project), source, name, description=description)
    if as_json:
        print_json(version_dict(version))
        return
    console().print(f"Registered [bold]{version.ref}[/bold] from run {version.model.run_id}")


@app.command()
def alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production, staging.")],
    version: Annotated[
        str | None, typer.Argument(help="The version number (or an alias to copy).")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    force: Annotated[
        bool, typer.Option(help="Move production to an unapproved or ungated version (recorded).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why, recorded with a forced move.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS of NAME at VERSION, or remove it with --delete."""
    from modelcycle.core.errors import InvalidInput

    registry = _registry(ctx)
    project_name = _store.project_name(project)
    if delete:
        registry.delete_alias(project_name, name, alias_name)
        console().print(f"Removed alias {alias_name!r} of {name!r}")
        return
    if version is None:
        raise InvalidInput("give the VERSION to point the alias at (or --delete)")
    selector: int | str = int(version) if version.isdigit() else version
    moved = registry.set_alias(project_name, name, alias_name, selector, force=force, reason=reason)
    if as_json:
        print_json(version_dict(moved))
        return
    console().print(f"{name}@{alias_name} → [bold]{moved.ref}[/bold]", markup=True)


def _review(
    ctx: typer.Context,
    ref: str,
    state: ApprovalState,
    comment: str | None,
    project: str | None,
    as_json: bool,
) -> None:
    registry = _registry(ctx)
    with hint_on(NotFound, _HINT):
        version = registry.review(_store.project_name(project), ref, state, comment=comment)
    if as_json:
        print_json(version_dict(version))
        return
    console().print(f"{version.ref} is now {state.value}")


@app.command()
def approve(
    ctx: typer.Context,
    ref: RefArgument,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a version (the actor is MODELCYCLE_USER or the system user)."""
    _review(ctx, ref, ApprovalState.APPROVED, comment, project, as_json)


@app.command()
def reject(
    ctx: typer.Context,
    ref: RefArgument,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a version."""
    _review(ctx, ref, ApprovalState.REJECTED, comment, project, as_json)


@app.command()
def export(
    ctx: typer.Context,
    ref: RefArgument,
    file_format: Annotated[
        str, typer.Option("--format", "-f", help="pickle, onnx or pmml.")
    ] = "onnx",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default NAME-V.EXT).")
    ] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a version, check the export's predictions against the model's, record it."""
    from modelcycle.services.registry.exports import export_version

    registry = _registry(ctx)
    with hint_on(NotFound, _HINT):
        version = registry.get(_store.project_name(project), ref)
    suffix = {"onnx": ".onnx", "pmml": ".pmml", "pickle": ".pkl"}.get(file_format, "")
    path = output or Path(f"{version.name}-{version.version}{suffix}")
    with console().status(f"exporting {version.ref} to {file_format}"):
        result = export_version(registry, version, file_format, path)
    if as_json:
        print_json({"ref": version.ref, "path": str(path), **result.to_dict()})
        return
    parity = result.parity
    verdict = "[green]parity passed[/green]" if parity.passed else "[red]parity FAILED[/red]"
    console().print(
        f"Wrote [bold]{path}[/bold] ({len(result.data):,} bytes); {verdict} on "
        f"{parity.rows} rows with {parity.checked_with} (tolerance {parity.tolerance})",
        markup=True,
    )
    if not parity.passed:
        raise typer.Exit(1)


@app.command()
def evaluate(
    ctx: typer.Context,
    ref: RefArgument,
    data: Annotated[str, typer.Argument(help="The labelled dataset version, e.g. churn-test@1.")],
    target: Annotated[
        str | None, typer.Option(help="The label column (default: the project's).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML report here.")
    ] = None,
    open_report: Annotated[
        bool, typer.Option("--open", help="Open the report in a browser.")
    ] = False,
    shap: Annotated[bool, typer.Option(help="Add SHAP explanations (the shap extra).")] = False,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a version on a dataset version: metrics, plots, slices, failure cases."""
    import webbrowser

    from modelcycle.sdk.evaluation import evaluate as run_evaluation

    _registry(ctx)
    _use_project(project)
    with console().status(f"evaluating {ref} on {data}"):
        result = run_evaluation(ref, data, target=target, shap=shap)
    path = output
    if path is None and open_report:
        path = Path(f"{ref.replace('@', '-')}-evaluation.html")
    if path is not None:
        result.to_html(path)
    if open_report and path is not None:
        webbrowser.open(path.resolve().as_uri())
    if as_json:
        print_json(result.to_dict())
        return
    table = Table("metric", "value", title=f"{ref} on {data}")
    for name, figure in result.metrics.items():
        table.add_row(name, value(figure))
    console().print(table)
    if path is not None:
        console().print(f"Wrote [bold]{path}[/bold]", markup=True)


@app.command()
def gate(
    ctx: typer.Context,
    ref: RefArgument,
    data: Annotated[str, typer.Argument(help="The dataset version to compare on.")],
    tolerance: Annotated[
        float, typer.Option(help="How much worse than production still passes.")
    ] = 0.0,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a version with the goal and with production; exit 1 when it does not pass."""
    from modelcycle.sdk.evaluation import gate as run_gate

    _registry(ctx)
    _use_project(project)
    with console().status(f"gating {ref} on {data}"):
        version = run_gate(ref, data, tolerance=tolerance)
    if as_json:
        print_json(version_dict(version))
    else:
        result = version.gate
        verdict = "[green]passed[/green]" if result and result.passed else "[red]FAILED[/red]"
        console().print(f"{version.ref} {verdict}: {result.reason if result else ''}", markup=True)
    if version.gate is None or not version.gate.passed:
        raise typer.Exit(1)


def _use_project(project: str | None) -> None:
    from modelcycle.sdk.session import get_session

    get_session().project = _store.project_name(project)
