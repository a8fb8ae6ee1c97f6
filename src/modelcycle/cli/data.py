"""``modelcycle data add|list|show``: dataset versions of a project (quality commands beside)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelcycle.cli import _data_quality, _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import (
    NONE,
    console,
    key_values,
    local_time,
    print_json,
    size,
    value,
)
from modelcycle.cli._render_data import (
    dataset_version_dict,
    lineage_text,
    progress_bar,
    schema_table,
)
from modelcycle.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelcycle.core.entities.dataset import Dataset, DatasetVersion

app = typer.Typer(help="Datasets: immutable versions, validation, profiles, cleaning, splits.")
_data_quality.register(app)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]
ProjectOption = _store.ProjectOption


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset name.")],
    source: Annotated[
        str,
        typer.Argument(
            help="A file, folder or glob (CSV, TSV, JSON lines, Parquet), a URL such as "
            "s3://bucket/key.parquet, or a database URL with --query or --table."
        ),
    ],
    query: Annotated[str | None, typer.Option(help="SQL to run on a database URL.")] = None,
    table: Annotated[str | None, typer.Option(help="A table to read, on a database URL.")] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv, tsv, jsonl or parquet, when the extension won't say."),
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default ',').")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSON files.")] = "utf8",
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="Whether a CSV starts with names.")
    ] = True,
    dtype: Annotated[
        list[str] | None,
        typer.Option(help="COLUMN=TYPE (int, float, string, bool, date, datetime, category)."),
    ] = None,
    null_value: Annotated[
        list[str] | None, typer.Option(help="A CSV string read as null (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register SOURCE as the next version of NAME (no new version if the content is known)."""
    from modelcycle.services.data.sources import SourceOptions

    versions = _store.data_versions(ctx)
    options = SourceOptions(
        format=file_format,
        delimiter=delimiter,
        encoding=encoding,
        header=header,
        dtypes=_pairs(dtype, "--dtype"),
        null_values=tuple(null_value) if null_value else None,
        query=query,
        table=table,
    )
    known = _known_digests(versions, project, name)
    with progress_bar(enabled=not as_json) as report:
        version = versions.register(
            _store.project_name(project),
            name,
            source,
            options=options,
            description=description,
            progress=report,
        )
    if as_json:
        print_json({**dataset_version_dict(version), "created": version.digest not in known})
        return
    verb = "Already registered as" if version.digest in known else "Registered"
    console().print(
        f"{verb} [bold]{version.ref}[/bold]: {version.num_rows:,} rows x "
        f"{version.num_columns} columns, {size(version.size_bytes)} "
        f"(sha256 {version.digest[:12]})",
        markup=True,
    )


def _known_digests(versions: Any, project: str | None, name: str) -> set[str]:
    try:
        return {v.digest for v in versions.list_versions(_store.project_name(project), name)}
    except NotFound:
        return set()


def _pairs(items: list[str] | None, option: str) -> dict[str, str] | None:
    if not items:
        return None
    pairs: dict[str, str] = {}
    for item in items:
        key, eq, val = item.partition("=")
        if not eq or not key or not val:
            raise InvalidInput(f"{option} takes COLUMN=VALUE, got {item!r}")
        pairs[key] = val
    return pairs


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="List the versions of this dataset instead.")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the datasets of a project, or the versions of one dataset."""
    versions = _store.data_versions(ctx)
    project_name = _store.project_name(project)
    if name is not None:
        with hint_on(NotFound, "list the datasets with `modelcycle data list`"):
            found = versions.list_versions(project_name, name)
        _print_versions(found, as_json)
        return
    datasets = versions.list_datasets(project_name)
    if as_json:
        print_json({"datasets": [_dataset_dict(d) for d in datasets]})
        return
    if not datasets:
        console().print(
            f"No datasets in project {project_name!r} yet: `modelcycle data add NAME SOURCE`."
        )
        return
    table = Table("name", "latest", "versions", "updated", "description")
    for dataset in datasets:
        table.add_row(
            dataset.name,
            f"@{dataset.latest_version}",
            str(dataset.version_count),
            local_time(dataset.updated_at),
            value(dataset.description),
        )
    console().print(table)


def _dataset_dict(dataset: Dataset) -> dict[str, Any]:
    return {
        "project": dataset.project,
        "name": dataset.name,
        "latest_version": dataset.latest_version,
        "version_count": dataset.version_count,
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
        "description": dataset.description,
    }


def _print_versions(found: list[DatasetVersion], as_json: bool) -> None:
    if as_json:
        print_json({"versions": [dataset_version_dict(v) for v in found]})
        return
    table = Table("ref", "rows", "columns", "size", "made by", "sha256", "created")
    for version in found:
        table.add_row(
            version.ref,
            f"{version.num_rows:,}",
            str(version.num_columns),
            size(version.size_bytes),
            version.lineage.operation.value,
            version.digest[:12],
            local_time(version.created_at),
        )
    console().print(table)


@app.command()
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version, e.g. churn@3 or churn@latest.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a version: counts, schema, lineage, children and its latest validation."""
    versions = _store.data_versions(ctx)
    with hint_on(NotFound, "list the versions with `modelcycle data list NAME`"):
        version = versions.get(_store.project_name(project), ref)
    children = versions.children(version)
    validation = versions.metadata.datasets.latest_validation(version.id)
    if as_json:
        print_json(
            {
                **dataset_version_dict(version),
                "children": [c.ref for c in children],
                "validation": validation,
            }
        )
        return
    out = console()
    out.print(
        key_values(
            {
                "ref": version.ref,
                "project": version.project,
                "id": version.id,
                "rows": f"{version.num_rows:,}",
                "columns": version.num_columns,
                "size": size(version.size_bytes),
                "sha256": version.digest,
                "created": local_time(version.created_at),
                "description": version.description,
                "lineage": lineage_text(version.lineage),
                "children": ", ".join(c.ref for c in children) or NONE,
                "validation": _validation_line(validation),
            },
            title=version.ref,
        )
    )
    out.print(schema_table(version.schema))


def _validation_line(validation: Any) -> str:
    if validation is None:
        return "not validated yet (`modelcycle data validate REF`)"
    results = validation.get("results", [])
    failed = sum(1 for r in results if not r.get("passed"))
    if failed:
        return f"{failed} of {len(results)} rules failed"
    return f"all {len(results)} rules passed"
