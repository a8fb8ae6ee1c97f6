"""Dataset versions: immutable, content-addressed snapshots of tabular data, with lineage."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ColumnKind(StrEnum):
    """What a column holds, as a data scientist reads it (not its storage type)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    OTHER = "other"


class Operation(StrEnum):
    """How a version came to be."""

    REGISTER = "register"  # read from a source
    CLEAN = "clean"  # a recipe applied to a parent version
    SPLIT = "split"  # one part of a parent version
    LABEL = "label"  # labelled samples merged into a parent version
    FAILURES = "failures"  # the worst-predicted rows of an evaluation, kept for labelling


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column of a version: storage type, nullability and, for few values, the categories."""

    name: str
    dtype: str  # the Arrow type, e.g. "int64", "string", "timestamp[us]"
    kind: ColumnKind
    nullable: bool  # whether the version holds any null in this column
    null_count: int = 0
    categories: tuple[str, ...] | None = None  # the distinct values, when they are few


@dataclass(frozen=True, slots=True)
class DatasetSchema(Mapping[str, ColumnSchema]):
    """The columns of a version, in order; a mapping from name to column."""

    columns: tuple[ColumnSchema, ...]

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        names = ", ".join(c.name for c in self.columns[:20])
        raise KeyError(f"no column {name!r} (columns: {names})")

    def __iter__(self) -> Iterator[str]:
        return (column.name for column in self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: its source, the versions and recipe it was made of, the run."""

    operation: Operation
    source: Mapping[str, Any] = field(default_factory=dict)  # kind, location, query, options
    parents: tuple[str, ...] = ()  # refs ("name@3") of the versions it was made of
    recipe: Mapping[str, Any] | None = None  # the recipe and what it learned, for CLEAN
    run_id: str | None = None  # the run that made it, if one was active
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. the split's part and seed


Loader = Callable[["DatasetVersion", str, "tuple[str, ...] | None"], Any]


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """An immutable snapshot of a dataset, addressed by the sha256 of its content.

    ``digest`` identifies the data (the same rows and columns give the same digest, whatever
    the source); ``snapshot_digest`` names the stored Parquet file, verified on every read.
    """

    id: str
    project: str
    name: str
    version: int
    digest: str
    snapshot_digest: str
    schema: DatasetSchema
    num_rows: int
    size_bytes: int  # of the stored Parquet snapshot
    created_at: int  # epoch milliseconds
    lineage: Lineage
    description: str | None = None
    _loader: Loader | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """The reference that names this version, e.g. ``"churn@3"``."""
        return f"{self.name}@{self.version}"

    @property
    def num_columns(self) -> int:
        """How many columns the version has."""
        return len(self.schema)

    def load(self, output: str = "pandas", columns: tuple[str, ...] | None = None) -> Any:
        """Read the snapshot, verified against its digest.

        Args:
            output: ``"pandas"`` (default), ``"polars"`` or ``"arrow"``.
            columns: Read only these columns.

        Returns:
            A pandas DataFrame, a polars DataFrame or a pyarrow Table.
        """
        if self._loader is None:
            raise RuntimeError(f"{self.ref} was built without a store to load it from")
        return self._loader(self, output, columns)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named dataset of a project and a summary of its versions."""

    project: str
    name: str
    latest_version: int
    version_count: int
    created_at: int
    updated_at: int
    description: str | None = None
