"""Files as sources: CSV, TSV, JSON lines, Parquet; a file, a folder or a glob; local or fsspec.

CSV and JSON files are parsed in blocks by pyarrow's streaming readers; the types inferred from
the first file's first block are imposed on every later file, so a folder of monthly files
gives one schema. A Parquet folder is read as a dataset with Hive partitions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.core.errors import InvalidInput, ModelCycleError, NotFound
from modelcycle.services.data._arrow_types import arrow_types
from modelcycle.services.data.sources import (
    SourceStream,
    display_path,
    is_url,
    local_path,
    without_credentials,
)
from modelcycle.store.filesystems import open_filesystem

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from modelcycle.services.data.sources import SourceOptions

_BLOCK_BYTES = 4 << 20
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GLOB = re.compile(r"[*?\[]")
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to (\S+): invalid value (.*)"
)


def open_files(text: str, options: SourceOptions) -> SourceStream:
    """Open a file, folder or glob, local or behind an fsspec URL."""
    if is_url(text):
        fs, path = _reach(text, lambda: open_filesystem(text, options.storage_options))
        shown = without_credentials(text)
        protocol = text.split("://", 1)[0]
    else:
        from fsspec.implementations.local import LocalFileSystem

        fs, path = LocalFileSystem(), display_path(local_path(text))
        shown, protocol = path, "file"
    files, folder = _expand(fs, path, shown)
    file_format = options.format or _format_of(files, shown)
    description: dict[str, Any] = {
        "kind": "files",
        "format": file_format,
        "location": shown,
        "files": len(files),
    }
    if protocol == "file" and len(files) == 1:
        description["modified"] = _modified(fs, files[0])
    if options.described():
        description["options"] = options.described()
    if file_format == "parquet":
        return _open_parquet(fs, files, folder, description)
    sizes = [_size(fs, f) for f in files]
    return _open_text(fs, files, sizes, file_format, options, description)


def _reach(url: str, call: Any) -> Any:
    try:
        return call()
    except ModelCycleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver failure means "cannot reach"; say which
        raise InvalidInput(f"cannot reach {without_credentials(url)}: {exc}") from None


def _expand(fs: Any, path: str, shown: str) -> tuple[list[str], str | None]:
    """The files a path names, sorted, and the folder when it names one."""
    if _GLOB.search(path):
        found = sorted(p for p in _reach(shown, lambda: fs.glob(path)) if fs.isfile(p))
        if not found:
            raise NotFound(f"no file matches {shown}")
        return found, None
    if _reach(shown, lambda: fs.isdir(path)):
        found = sorted(
            p
            for p in _reach(shown, lambda: fs.find(path))
            if not _hidden(p[len(path) :]) and _extension(p)[0] in _EXTENSIONS
        )
        if not found:
            known = ", ".join(sorted(_EXTENSIONS))
            raise NotFound(f"the folder {shown} holds no data file ({known})")
        return found, path
    if not _reach(shown, lambda: fs.exists(path)):
        raise NotFound(f"no file at {shown}")
    return [path], None


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/"))


def _extension(path: str) -> tuple[str, str | None]:
    """The format extension and the compression of ``path`` (``data.csv.gz`` → .csv, gzip)."""
    name = path.rsplit("/", 1)[-1].lower()
    stem, dot, ext = name.rpartition(".")
    compression = _COMPRESSION.get(f".{ext}") if dot else None
    if compression is not None:
        _, dot, ext = stem.rpartition(".")
    return (f".{ext}" if dot else ""), compression


def _format_of(files: list[str], shown: str) -> str:
    formats = {_EXTENSIONS.get(_extension(f)[0]) for f in files}
    if None in formats:
        raise InvalidInput(
            f"cannot tell the format of {shown} from its extension; pass format= "
            "(csv, tsv, jsonl or parquet)"
        )
    if len(formats) > 1:
        raise InvalidInput(
            f"{shown} mixes formats ({', '.join(sorted(str(f) for f in formats))}); "
            "register one format at a time or pass a glob"
        )
    return str(formats.pop())


def _size(fs: Any, path: str) -> int:
    try:
        return int(fs.size(path) or 0)
    except (OSError, TypeError):
        return 0


def _modified(fs: Any, path: str) -> str | None:
    try:
        return str(fs.modified(path).isoformat())
    except (OSError, NotImplementedError, AttributeError):
        return None


# -- Parquet ---------------------------------------------------------------------------------


def _open_parquet(
    fs: Any, files: list[str], folder: str | None, description: dict[str, Any]
) -> SourceStream:
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    filesystem = PyFileSystem(FSSpecHandler(fs))
    try:
        dataset = ds.dataset(
            files,
            filesystem=filesystem,
            format="parquet",
            partitioning="hive" if folder else None,
            partition_base_dir=folder,
        )
        total = dataset.count_rows()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{description['location']} is not readable Parquet: {exc}") from None
    if folder is not None and dataset.partitioning is not None:
        keys = [f.name for f in dataset.partitioning.schema]
        if keys:
            description["partitions"] = keys
    done = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in dataset.to_batches(batch_size=65_536):
                done[0] += batch.num_rows
                yield batch
            if total == 0:
                yield pa.RecordBatch.from_pylist([], schema=dataset.schema)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"cannot read {description['location']}: {exc}") from None

    return SourceStream(description, batches(), "rows", total, lambda: done[0])


# -- CSV and JSON lines ----------------------------------------------------------------------


def _open_text(
    fs: Any,
    files: list[str],
    sizes: list[int],
    file_format: str,
    options: SourceOptions,
    description: dict[str, Any],
) -> SourceStream:
    state: dict[str, Any] = {"done": 0, "current": None}
    dtypes = arrow_types(options.dtypes)

    def progress() -> int:
        current = state["current"]
        position = current.tell() if current is not None and not current.closed else 0
        return int(state["done"] + position)

    def batches() -> Iterator[pa.RecordBatch]:
        schema: pa.Schema | None = None
        for path, size in zip(files, sizes, strict=True):
            shown = _shown(description["location"], path, len(files))
            with _reach(shown, lambda p=path: fs.open(p, "rb")) as raw:
                state["current"] = raw
                stream = _decompressed(raw, path)
                if file_format == "jsonl":
                    reader = _json_reader(stream, options, schema, shown)
                else:
                    reader = _csv_reader(stream, file_format, options, dtypes, schema, shown)
                schema = yield from _read_all(reader, schema, shown)
            state["done"] += size
            state["current"] = None

    return SourceStream(description, batches(), "bytes", sum(sizes) or None, progress)


def _shown(location: str, path: str, count: int) -> str:
    return location if count == 1 else f"{location} ({path.rsplit('/', 1)[-1]})"


def _decompressed(raw: Any, path: str) -> Any:
    stream = pa.PythonFile(raw, mode="r")
    compression = _extension(path)[1]
    if compression is None:
        return stream
    return pa.CompressedInputStream(stream, compression)


def _csv_reader(
    stream: Any,
    file_format: str,
    options: SourceOptions,
    dtypes: dict[str, pa.DataType],
    schema: pa.Schema | None,
    shown: str,
) -> Any:
    import pyarrow.csv as pacsv

    invalid: list[Any] = []

    def on_invalid_row(row: Any) -> str:
        invalid.append(row)
        return "error"

    delimiter = options.delimiter or ("\t" if file_format == "tsv" else ",")
    # A column that was empty so far (null type) says nothing: let this file tell its type.
    column_types = {f.name: f.type for f in schema or [] if not pa.types.is_null(f.type)}
    column_types.update(dtypes)
    convert: dict[str, Any] = {"column_types": column_types, "strings_can_be_null": True}
    if options.null_values is not None:
        convert["null_values"] = list(options.null_values)
    read = pacsv.ReadOptions(
        use_threads=False,  # keeps line numbers in parse errors
        block_size=_BLOCK_BYTES,
        encoding=options.encoding,
        column_names=list(options.column_names) if options.column_names else None,
        autogenerate_column_names=not options.header and not options.column_names,
        skip_rows=1 if options.column_names and options.header else 0,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid_row)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=read,
            parse_options=parse,
            convert_options=pacsv.ConvertOptions(**convert),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _csv_error(exc, invalid, schema, shown, options) from None
    _check_text(reader.schema, dtypes, shown, options)
    return _CsvBatches(reader, invalid, shown, options)


def _check_text(
    schema: pa.Schema, dtypes: dict[str, pa.DataType], shown: str, options: SourceOptions
) -> None:
    """Refuse columns read as raw bytes: their text is not in the encoding that was given."""
    binary = [f.name for f in schema if pa.types.is_binary(f.type) and f.name not in dtypes]
    if binary:
        raise InvalidInput(
            f"{shown} is not valid {options.encoding} text (in column "
            f"{', '.join(map(repr, binary[:5]))}); pass its encoding (e.g. latin-1)"
        )


class _CsvBatches:
    """A CSV reader whose errors name the file, the line or column, and the fix."""

    def __init__(self, reader: Any, invalid: list[Any], shown: str, options: SourceOptions):
        self._reader, self._invalid, self._shown, self._options = reader, invalid, shown, options
        self.schema: pa.Schema = reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._reader
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _csv_error(exc, self._invalid, self.schema, self._shown, self._options) from None


def _csv_error(
    exc: Exception,
    invalid: list[Any],
    schema: pa.Schema | None,
    shown: str,
    options: SourceOptions,
) -> InvalidInput:
    if invalid:
        row = invalid[-1]
        where = f"line {row.number}" if row.number is not None else "a row"
        return InvalidInput(
            f"{shown}: {where} has {row.actual_columns} fields where {row.expected_columns} "
            f"were expected ({row.text[:80]!r}); fix that row, or check the delimiter "
            f"({options.delimiter or ','!r}) and quoting"
        )
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in str(exc):
        return InvalidInput(
            f"{shown} is not valid {options.encoding} text; pass its encoding (e.g. latin-1)"
        )
    match = _CONVERSION.search(str(exc))
    if match:
        return _conversion_error(match, schema, shown)
    return InvalidInput(f"{shown} is not readable as CSV: {exc}")


def _conversion_error(match: re.Match[str], schema: pa.Schema | None, shown: str) -> InvalidInput:
    index, line, dtype, value = match.groups()
    known = schema is not None and int(index) < len(schema)
    column = schema.names[int(index)] if schema is not None and known else f"#{int(index) + 1}"
    where = f"{shown}: line {line}" if line else shown
    if dtype == "null":
        return InvalidInput(
            f"{where}: column {column!r} holds {value}, but it was empty in all the rows "
            f"before, so its type could not be inferred; pass dtypes={{{column!r}: 'string'}} "
            "or the type it should have"
        )
    return InvalidInput(
        f"{where}: column {column!r} holds {value}, which is not {dtype} (the type was "
        f"inferred from the first rows); pass dtypes={{{column!r}: 'string'}} or the type "
        "it should have"
    )


def _json_reader(stream: Any, options: SourceOptions, schema: pa.Schema | None, shown: str) -> Any:
    import pyarrow.json as pajson

    if options.encoding.lower().replace("-", "") != "utf8":
        stream = pa.transcoding_input_stream(stream, options.encoding, "utf-8")
    # Fields that were null in every earlier row say nothing: this file may tell their type.
    known = pa.schema([f for f in schema or [] if not pa.types.is_null(f.type)])
    parse = pajson.ParseOptions(
        explicit_schema=known if len(known) else None,
        unexpected_field_behavior="error" if schema and len(known) == len(schema) else "infer",
    )
    try:
        reader = pajson.open_json(
            stream, read_options=pajson.ReadOptions(block_size=_BLOCK_BYTES), parse_options=parse
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{shown} is not JSON lines (one JSON object per line): {exc}") from None
    if schema is None or reader.schema.names == schema.names:
        return reader
    return _Reordered(reader, schema.names)


class _Reordered:
    """A JSON reader whose columns are put in the order of the files before it."""

    def __init__(self, reader: Any, names: list[str]) -> None:
        self._reader = reader
        self._names = names if set(names) == set(reader.schema.names) else None
        self.schema: pa.Schema = (
            reader.schema
            if self._names is None
            else pa.schema([reader.schema.field(n) for n in names])
        )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._reader:
            yield batch if self._names is None else batch.select(self._names)


def _read_all(
    reader: Any, schema: pa.Schema | None, shown: str
) -> Generator[pa.RecordBatch, None, pa.Schema]:
    """Yield the reader's batches; returns the schema every later file must have."""
    if schema is not None and reader.schema.names != schema.names:
        raise InvalidInput(
            f"{shown} has columns {reader.schema.names[:10]}, unlike the files before it "
            f"({schema.names[:10]}); register files of one layout together"
        )
    empty = True
    try:
        for batch in reader:
            empty = False
            yield batch
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{shown}: {exc}") from None
    if empty and schema is None:  # a header and no rows: the columns are still data
        yield pa.RecordBatch.from_pylist([], schema=reader.schema)
    return reader.schema
