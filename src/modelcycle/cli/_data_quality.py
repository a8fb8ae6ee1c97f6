"""``modelcycle data validate|profile|rules|clean|split``: checks of versions, and versions made."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import NONE, console, print_json, value
from modelcycle.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelcycle.core.entities.dataset import DatasetVersion
    from modelcycle.services.data.rules import ValidationReport

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
RefArgument = Annotated[str, typer.Argument(help="The version, e.g. churn@3 or churn@latest.")]
_EXAMPLES_SHOWN = 3

rules_app = typer.Typer(help="The expectations kept with a dataset name, as YAML.")


def register(app: typer.Typer) -> None:
    """Add the quality commands to the ``data`` app."""
    app.command()(validate)
    app.command()(profile)
    app.command()(clean)
    app.command()(split)
    app.add_typer(rules_app, name="rules")


def _version(ctx: typer.Context, project: str | None, ref: str) -> tuple[Any, DatasetVersion]:
    versions = _store.data_versions(ctx)
    with hint_on(NotFound, "list the versions with `modelcycle data list NAME`"):
        return versions, versions.get(_store.project_name(project), ref)


def validate(
    ctx: typer.Context,
    ref: RefArgument,
    rules_file: Annotated[
        Path | None,
        typer.Option("--rules", help="A YAML rules file (default: the rules saved for the name)."),
    ] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a version against its rules; exit 1 when a rule fails. The result is stored."""
    from modelcycle.services.data import quality
    from modelcycle.services.data.rules import RuleSet

    versions, version = _version(ctx, project, ref)
    rules = RuleSet.from_yaml(_read_text(rules_file)) if rules_file is not None else None
    report = quality.validate(versions, version, rules)
    if as_json:
        print_json({"ref": version.ref, **report.to_dict()})
    else:
        _print_report(version, report)
    if not report.passed:
        raise typer.Exit(1)


def _print_report(version: DatasetVersion, report: ValidationReport) -> None:
    table = Table("", "rule", "failing", "message", "examples", title=f"{version.ref} validation")
    for result in report.results:
        mark = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        examples = ", ".join(str(e) for e in result.examples[:_EXAMPLES_SHOWN]) or NONE
        table.add_row(
            mark, result.rule.describe(), value(result.failing_count), result.message, examples
        )
    out = console()
    out.print(table)
    failed = len(report.failed)
    if failed:
        out.print(f"[red]{failed} of {len(report.results)} rules failed[/red]", markup=True)
    else:
        out.print(f"[green]all {len(report.results)} rules passed[/green]", markup=True)


def profile(
    ctx: typer.Context,
    ref: RefArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML report here.")
    ] = None,
    open_report: Annotated[
        bool, typer.Option("--open", help="Open the HTML report in a browser.")
    ] = False,
    target: Annotated[
        str | None, typer.Option(help="The target column (balance warnings).")
    ] = None,
    max_rows: Annotated[
        int | None, typer.Option(help="Profile a seeded sample of this many rows.")
    ] = None,
    recompute: Annotated[bool, typer.Option(help="Ignore a stored profile.")] = False,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Profile a version (stored with it): statistics, plots, correlations, warnings."""
    from modelcycle.services.data import quality

    versions, version = _version(ctx, project, ref)
    with console().status(f"profiling {version.ref}"):
        result = quality.profile(
            versions, version, target=target, max_rows=max_rows, recompute=recompute
        )
    if as_json:
        print_json(result.to_dict())
    path = output
    if path is None and open_report:
        path = Path(f"{version.name}-{version.version}-profile.html")
    if path is not None:
        result.to_html(path)
        if not as_json:
            console().print(f"Wrote [bold]{path}[/bold]", markup=True)
    if open_report and path is not None:
        webbrowser.open(path.resolve().as_uri())
    if not as_json:
        _print_profile_summary(version, result)


def _print_profile_summary(version: DatasetVersion, result: Any) -> None:
    out = console()
    sample = ""
    if result.is_sampled:
        sample = f" (profiled a sample of {result.sampled_rows:,} rows)"
    out.print(
        f"{version.ref}: {result.total_rows:,} rows x {result.overview.columns} columns, "
        f"{result.duplicates.count:,} duplicate rows{sample}"
    )
    if result.warnings:
        table = Table("warning", "column", "message", title="warnings")
        for warning in result.warnings:
            table.add_row(str(warning.kind), value(warning.column), warning.message)
        out.print(table)
    else:
        out.print("no warnings")


def clean(
    ctx: typer.Context,
    ref: RefArgument,
    recipe: Annotated[
        str, typer.Argument(help="A YAML recipe file, or a saved recipe's name[@revision].")
    ],
    name: Annotated[
        str | None, typer.Option(help="The dataset of the result (default NAME-clean).")
    ] = None,
    save_as: Annotated[
        str | None, typer.Option(help="Also save the recipe under this name, for replay.")
    ] = None,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply a cleaning recipe to a version; the result is a new version with lineage."""
    from modelcycle.cli._render_data import dataset_version_dict
    from modelcycle.services.data import transforms
    from modelcycle.services.data.recipes import Recipe

    versions, version = _version(ctx, project, ref)
    path = Path(recipe)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        steps = Recipe.from_yaml(_read_text(path))
    else:
        _, steps = transforms.load_recipe(versions, version.project, recipe)
    made = transforms.clean(versions, version, steps, name=name, recipe_name=save_as)
    if as_json:
        print_json(dataset_version_dict(made))
        return
    console().print(
        f"Cleaned {version.ref} ({version.num_rows:,} rows) into [bold]{made.ref}[/bold] "
        f"({made.num_rows:,} rows x {made.num_columns} columns)",
        markup=True,
    )


def split(
    ctx: typer.Context,
    ref: RefArgument,
    part: Annotated[
        list[str] | None,
        typer.Option(help="NAME=FRACTION, repeatable (default train=0.8 test=0.2)."),
    ] = None,
    method: Annotated[str, typer.Option(help="random, stratified, time or group.")] = "random",
    column: Annotated[
        str | None, typer.Option(help="The label, time or group column the method uses.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the random choices.")] = 0,
    project: _store.ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Split a version into parts, each a new version (NAME-train, NAME-test, ...)."""
    from modelcycle.cli._render_data import dataset_version_dict
    from modelcycle.services.data import transforms

    versions, version = _version(ctx, project, ref)
    fractions = _fractions(part)
    made = transforms.split(versions, version, fractions, method=method, column=column, seed=seed)
    if as_json:
        print_json({name: dataset_version_dict(v) for name, v in made.items()})
        return
    table = Table("part", "version", "rows", title=f"{version.ref} split ({method})")
    for name, made_version in made.items():
        table.add_row(name, made_version.ref, f"{made_version.num_rows:,}")
    console().print(table)


def _fractions(parts: list[str] | None) -> dict[str, float] | None:
    if not parts:
        return None
    fractions: dict[str, float] = {}
    for item in parts:
        name, eq, share = item.partition("=")
        try:
            fractions[name] = float(share)
        except ValueError:
            eq = ""
        if not eq or not name:
            raise InvalidInput(f"--part takes NAME=FRACTION such as train=0.8, got {item!r}")
    return fractions


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


@rules_app.command("suggest")
def rules_suggest(
    ctx: typer.Context,
    ref: RefArgument,
    save: Annotated[bool, typer.Option(help="Save them as the dataset's rules.")] = False,
    project: _store.ProjectOption = None,
) -> None:
    """Print rules that describe a version as YAML (edit, then `rules set`)."""
    from modelcycle.services.data import quality

    versions, version = _version(ctx, project, ref)
    suggested = quality.suggest_rules(versions, version)
    typer.echo(suggested.to_yaml(), nl=False)
    if save:
        revision = quality.save_rules(versions, version.project, version.name, suggested)
        console().print(f"# saved as revision {revision} of the rules of {version.name!r}")


@rules_app.command("set")
def rules_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset name.")],
    file: Annotated[Path, typer.Argument(help="The YAML rules file.")],
    project: _store.ProjectOption = None,
) -> None:
    """Save a YAML rules file as the expectations of a dataset name."""
    from modelcycle.services.data import quality
    from modelcycle.services.data.rules import RuleSet

    versions = _store.data_versions(ctx)
    rules = RuleSet.from_yaml(_read_text(file))
    revision = quality.save_rules(versions, _store.project_name(project), name, rules)
    console().print(f"Saved {len(rules)} rules as revision {revision} of {name!r}")


@rules_app.command("show")
def rules_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset name.")],
    project: _store.ProjectOption = None,
) -> None:
    """Print the saved rules of a dataset name as YAML."""
    from modelcycle.services.data import quality

    versions = _store.data_versions(ctx)
    saved = quality.get_rules(versions, _store.project_name(project), name)
    if saved is None:
        raise NotFound(
            f"dataset {name!r} has no rules yet; suggest some with "
            f"`modelcycle data rules suggest {name}@latest --save`"
        )
    revision, rules = saved
    typer.echo(f"# revision {revision}\n{rules.to_yaml()}", nl=False)
