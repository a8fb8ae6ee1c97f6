"""``mc.data``: datasets of the current project, as immutable content-addressed versions.

Wherever a dataset is taken, a reference (``"churn@3"``, ``"churn@latest"``, ``"churn"``) or a
``DatasetVersion`` is accepted; functions that only read data also take a DataFrame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.sdk import context
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from modelcycle.core.entities.dataset import Dataset, DatasetVersion

__all__ = ["get", "list_datasets", "load", "register", "versions"]


def register(
    name: str,
    source: object,
    *,
    query: str | None = None,
    table: str | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    encoding: str = "utf8",
    header: bool = True,
    column_names: tuple[str, ...] | None = None,
    dtypes: Mapping[str, str] | None = None,
    null_values: tuple[str, ...] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    description: str | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> DatasetVersion:
    """Snapshot ``source`` as the next version of dataset ``name`` in the current project.

    Args:
        name: The dataset name.
        source: A path, folder or glob of CSV/TSV/JSON-lines/Parquet files; an fsspec URL
            (``s3://bucket/data.parquet``); a database URL with ``query`` or ``table``; or a
            pandas/polars DataFrame or pyarrow Table.
        query: SQL to run, for a database URL.
        table: A table to read whole, for a database URL.
        format: ``csv``, ``tsv``, ``jsonl`` or ``parquet`` when the extension does not tell.
        delimiter: CSV delimiter.
        encoding: Text encoding of CSV and JSON files.
        header: Whether a CSV's first line holds the column names.
        column_names: Column names for a CSV without a header.
        dtypes: Types of some columns, e.g. ``{"zip": "string"}``.
        null_values: CSV strings read as null.
        storage_options: Options of the fsspec file system of a URL.
        description: What this version is.
        progress: Called with (done, total or None, unit) while reading.

    Returns:
        The new version; registering content that ``name`` already holds returns that
        version and stores nothing. Inside ``mc.start_run()`` the run is recorded as the one
        that made it.
    """
    from modelcycle.services.data.sources import SourceOptions

    options = SourceOptions(
        format=format,
        delimiter=delimiter,
        encoding=encoding,
        header=header,
        column_names=tuple(column_names) if column_names else None,
        dtypes=dtypes,
        null_values=tuple(null_values) if null_values is not None else None,
        query=query,
        table=table,
        storage_options=storage_options,
    )
    session = get_session()
    active = context.active()
    return session.data.register(
        session.project,
        name,
        source,
        options=options,
        description=description,
        run_id=active.id if active is not None else None,
        progress=progress,
    )


def get(ref: str | DatasetVersion) -> DatasetVersion:
    """The version ``ref`` names in the current project (``"name@3"``, ``"name@latest"``)."""
    session = get_session()
    return session.data.get(session.project, ref)


def load(
    ref: str | DatasetVersion, output: str = "pandas", columns: tuple[str, ...] | None = None
) -> Any:
    """The rows of a version, verified: pandas (default), ``"polars"`` or ``"arrow"``."""
    return get(ref).load(output, columns)


def list_datasets() -> list[Dataset]:
    """The datasets of the current project, by name."""
    session = get_session()
    return session.data.list_datasets(session.project)


def versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, newest first."""
    session = get_session()
    return session.data.list_versions(session.project, name)
