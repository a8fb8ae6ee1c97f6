"""Rendering of datasets: schema tables, lineage lines, JSON forms and the read progress bar."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from modelcycle.cli._render import NONE, console, iso_utc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from modelcycle.core.entities.dataset import DatasetSchema, DatasetVersion, Lineage

_CATEGORIES_SHOWN = 8


def schema_table(schema: DatasetSchema) -> Table:
    """The columns of a version: type, kind, nulls and the categories when few."""
    table = Table("column", "type", "kind", "nulls", "categories", title="schema")
    for column in schema.columns:
        categories = NONE
        if column.categories is not None:
            shown = ", ".join(column.categories[:_CATEGORIES_SHOWN])
            extra = len(column.categories) - _CATEGORIES_SHOWN
            categories = f"{shown}, … (+{extra})" if extra > 0 else shown
        table.add_row(
            column.name,
            column.dtype,
            column.kind.value,
            f"{column.null_count:,}" if column.nullable else "0",
            categories,
        )
    return table


def lineage_text(lineage: Lineage) -> str:
    """One line saying where a version came from."""
    parts = [lineage.operation.value]
    source = lineage.source
    if source:
        where = source.get("location", source.get("type", ""))
        what = source.get("query") or source.get("table")
        parts.append(f"from {where}" + (f" ({what})" if what else ""))
    if lineage.parents:
        parts.append("of " + ", ".join(lineage.parents))
    if lineage.recipe:
        parts.append(f"by recipe {lineage.recipe.get('name') or '(unnamed)'}")
    if lineage.details:
        parts.append(", ".join(f"{k}={v}" for k, v in lineage.details.items()))
    if lineage.run_id:
        parts.append(f"in run {lineage.run_id}")
    return " ".join(parts)


def dataset_version_dict(version: DatasetVersion) -> dict[str, Any]:
    """The JSON form of a version."""
    return {
        "id": version.id,
        "project": version.project,
        "name": version.name,
        "version": version.version,
        "ref": version.ref,
        "digest": version.digest,
        "snapshot_digest": version.snapshot_digest,
        "num_rows": version.num_rows,
        "num_columns": version.num_columns,
        "size_bytes": version.size_bytes,
        "created_at": version.created_at,
        "created_at_iso": iso_utc(version.created_at),
        "description": version.description,
        "schema": [
            {
                "name": c.name,
                "dtype": c.dtype,
                "kind": c.kind.value,
                "nullable": c.nullable,
                "null_count": c.null_count,
                "categories": None if c.categories is None else list(c.categories),
            }
            for c in version.schema.columns
        ],
        "lineage": {
            "operation": version.lineage.operation.value,
            "source": dict(version.lineage.source),
            "parents": list(version.lineage.parents),
            "recipe": version.lineage.recipe,
            "run_id": version.lineage.run_id,
            "details": dict(version.lineage.details),
        },
    }


@contextmanager
def progress_bar(
    *, enabled: bool, label: str = "reading"
) -> Iterator[Callable[[int, int | None, str], None] | None]:
    """A Rich progress bar on stderr, fed by ``report(done, total, unit)``; None when off.

    The bar appears on the first report, in bytes (with speed) or rows as the source counts.
    """
    if not enabled:
        yield None
        return
    state: dict[str, Any] = {}

    def report(done: int, total: int | None, unit: str) -> None:
        if "progress" not in state:
            out = console()
            out.stderr = True
            if unit == "bytes":
                columns: list[Any] = [DownloadColumn(), TransferSpeedColumn()]
            else:
                columns = [MofNCompleteColumn() if total else TextColumn("{task.completed:,} rows")]
            progress = Progress(
                TextColumn(f"[bold]{label}"),
                BarColumn(),
                *columns,
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=out,
                transient=True,
            )
            progress.start()
            state["progress"] = progress
            state["task"] = progress.add_task(label, total=total)
        state["progress"].update(state["task"], completed=done, total=total)

    try:
        yield report
    finally:
        if "progress" in state:
            state["progress"].stop()
