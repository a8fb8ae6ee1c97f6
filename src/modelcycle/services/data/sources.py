"""Data sources: files, folders and globs, fsspec URLs, SQL databases and in-memory frames.

Every source is read as a stream of Arrow record batches, so a file larger than memory is
registered without ever being held whole. What a source was (kind, location without
credentials, query, options) is described for the version's lineage.

What ``open_source`` accepts:

- a local path or ``file://`` URL to a CSV, TSV, JSON-lines or Parquet file (optionally
  ``.gz``/``.bz2``/``.zst`` compressed), a folder of them, or a glob (``data/2026-*.csv``);
  a folder of Parquet files is read as a dataset with Hive partitions (``year=2026/...``);
- any fsspec URL of the same (``s3://bucket/key.parquet``, ``gs://...``);
- a SQLAlchemy database URL (``sqlite:///file.db``, ``postgresql+psycopg://...``) together with
  ``query`` or ``table``;
- a pandas or polars DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator, Mapping

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SQL_SCHEME = re.compile(
    r"^(sqlite|postgresql|postgres|mysql|mariadb|mssql|oracle|duckdb)(\+[a-z0-9_]+)?://", re.I
)
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@dataclass(frozen=True, slots=True)
class SourceOptions:
    r"""How to read a source. Every field is optional; formats are told by file extension.

    Attributes:
        format: ``csv``, ``tsv``, ``jsonl`` or ``parquet`` when the extension does not say.
        delimiter: CSV field delimiter (default comma; tab for ``.tsv``).
        encoding: Text encoding of CSV and JSON files.
        header: Whether the first CSV line holds the column names.
        column_names: Names for a CSV without a header.
        dtypes: Types of some columns (``{"zip": "string"}``), overriding inference.
        null_values: CSV strings read as null (default: empty, ``NA``, ``null``, ``NaN``...).
        query: SQL query, for a database URL.
        table: Table to read whole, for a database URL.
        storage_options: Extra options for the fsspec file system of a URL.
        batch_rows: Rows fetched per batch from a database.
    """

    format: str | None = None
    delimiter: str | None = None
    encoding: str = "utf8"
    header: bool = True
    column_names: tuple[str, ...] | None = None
    dtypes: Mapping[str, str] | None = None
    null_values: tuple[str, ...] | None = None
    query: str | None = None
    table: str | None = None
    storage_options: Mapping[str, Any] | None = None
    batch_rows: int = 65_536

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise InvalidInput(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise InvalidInput(f"delimiter must be one character, got {self.delimiter!r}")
        if self.batch_rows < 1:
            raise InvalidInput(f"batch_rows must be at least 1, got {self.batch_rows}")

    def described(self) -> dict[str, Any]:
        """The options that were set, for the lineage record (never storage credentials)."""
        shown: dict[str, Any] = {}
        for name in ("format", "delimiter", "header", "column_names", "dtypes", "null_values"):
            value = getattr(self, name)
            if name == "header" and value:
                continue
            if value is not None:
                shown[name] = list(value) if isinstance(value, tuple) else value
        if self.encoding.lower().replace("-", "") != "utf8":
            shown["encoding"] = self.encoding
        return shown


@dataclass(slots=True)
class SourceStream:
    """An open source: its batches, what it is, and how far reading has got.

    ``progress()`` counts in ``unit`` (bytes of the files read, or rows from a database) up to
    ``total`` when the total is known.
    """

    description: dict[str, Any]
    batches: Iterator[pa.RecordBatch]
    unit: str = "rows"
    total: int | None = None
    progress: Callable[[], int] = field(default=lambda: 0)
    close: Callable[[], None] = field(default=lambda: None)


def open_source(source: object, options: SourceOptions | None = None) -> SourceStream:
    """Open ``source`` for streaming (see the module docstring for what it may be).

    Raises:
        InvalidInput: the source is of an unknown kind, or its options do not fit it.
        NotFound: no file matches the path, glob or URL.
    """
    options = options or SourceOptions()
    if isinstance(source, str | Path):
        text = str(source)
        if _SQL_SCHEME.match(text):
            from modelcycle.services.data._sql_source import open_sql

            return open_sql(text, options)
        if options.query is not None or options.table is not None:
            raise InvalidInput(
                f"query and table apply to a database URL, and {text!r} is not one "
                "(e.g. sqlite:///file.db or postgresql+psycopg://user@host/db)"
            )
        from modelcycle.services.data._file_sources import open_files

        return open_files(text, options)
    return _open_in_memory(source)


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL with a scheme (``s3://...``) rather than a local path."""
    return bool(_URL_SCHEME.match(text)) and not text.lower().startswith("file://")


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` part removed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _open_in_memory(source: object) -> SourceStream:
    table = _as_arrow(source)
    kind = f"{type(source).__module__.split('.')[0]}.{type(source).__name__}"
    description = {"kind": "frame", "type": kind}
    if isinstance(table, pa.RecordBatchReader):
        return SourceStream(description, iter(table), close=table.close)
    return SourceStream(description, iter(table.to_batches()), total=table.num_rows)


def _as_arrow(source: object) -> pa.Table | pa.RecordBatchReader:
    if isinstance(source, pa.Table | pa.RecordBatchReader):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    module = type(source).__module__.split(".")[0]
    if module == "pandas" and type(source).__name__ == "DataFrame":
        frame: Any = source
        _check_unique_columns([str(c) for c in frame.columns])
        if not all(isinstance(c, str) for c in frame.columns):
            raise InvalidInput(
                "every column name of the DataFrame must be a string; rename them "
                "(df.columns = df.columns.astype(str))"
            )
        return pa.Table.from_pandas(frame, preserve_index=None)
    if module == "polars" and type(source).__name__ == "DataFrame":
        return source.to_arrow()  # type: ignore[attr-defined]
    if module == "polars" and type(source).__name__ == "LazyFrame":
        return source.collect().to_arrow()  # type: ignore[attr-defined]
    raise InvalidInput(
        f"cannot read a {type(source).__name__} as data: give a path, a URL, a database URL "
        "with a query, or a pandas/polars DataFrame or pyarrow Table"
    )


def _check_unique_columns(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"column {name!r} appears twice; column names must be unique")
        seen.add(name)


def local_path(text: str) -> Path:
    """The local path a plain path or ``file://`` URL names."""
    if text.lower().startswith("file://"):
        return Path(urlsplit(text).path)
    return Path(text).expanduser()


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as lineage records it: absolute, so that it means the same from anywhere."""
    return str(Path(path).resolve())
