"""SQL databases as sources: a SQLAlchemy URL plus a query or a table, streamed in batches.

Rows are fetched with a server-side cursor where the driver has one (``stream_results``), a
batch at a time, and turned into Arrow columns once; nothing is loaded twice. Column types
come from the first batch in which a column holds a value; ``dtypes`` overrides them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._arrow_types import arrow_types
from modelcycle.services.data.sources import SourceStream

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from modelcycle.services.data.sources import SourceOptions

_INFER_ROWS = 100_000  # rows looked at, at most, to find the type of a column that starts null


def open_sql(url: str, options: SourceOptions) -> SourceStream:
    """Stream the result of ``options.query`` or ``options.table`` from the database at ``url``."""
    from sqlalchemy import create_engine, select, table, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if (options.query is None) == (options.table is None):
        raise InvalidInput(
            "a database source needs exactly one of query (SQL text) or table (a table name)"
        )
    try:
        parsed = make_url(url)
        engine = create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise InvalidInput(f"cannot use database URL {_hide(url)}: {exc}") from None
    shown = parsed.render_as_string(hide_password=True)
    if options.query is not None:
        statement: Any = text(options.query)
    else:
        schema, _, name = str(options.table).rpartition(".")
        statement = select(text("*")).select_from(table(name, schema=schema or None))
    description: dict[str, Any] = {"kind": "sql", "location": shown}
    description["query" if options.query is not None else "table"] = (
        options.query if options.query is not None else options.table
    )
    if options.dtypes:
        description["options"] = {"dtypes": dict(options.dtypes)}
    done = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            with engine.connect() as conn:
                result = conn.execution_options(
                    stream_results=True, yield_per=options.batch_rows
                ).execute(statement)
                names = list(result.keys())
                _check_names(names)
                partitions = (
                    list(zip(*rows, strict=True)) for rows in result.partitions(options.batch_rows)
                )
                for batch in _typed_batches(names, partitions, arrow_types(options.dtypes)):
                    done[0] += batch.num_rows
                    yield batch
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error is the query's or the URL's
            raise InvalidInput(
                f"the database at {shown} refused the read: {_first_line(exc)}"
            ) from None
        finally:
            engine.dispose()

    return SourceStream(description, batches(), "rows", None, lambda: done[0])


def _typed_batches(
    names: list[str],
    partitions: Iterator[list[tuple[Any, ...]]],
    dtypes: dict[str, pa.DataType],
) -> Iterator[pa.RecordBatch]:
    """Arrow batches of the fetched columns, all of one schema."""
    pending: list[list[pa.Array]] = []
    types: list[pa.DataType | None] = [dtypes.get(n) for n in names]
    seen_rows = 0
    empty = True
    for columns in partitions:
        empty = False
        arrays = [_array(names[i], values, types[i]) for i, values in enumerate(columns)]
        if all(t is not None for t in types):
            yield pa.RecordBatch.from_arrays(arrays, names=names)
            continue
        pending.append(arrays)
        seen_rows += len(arrays[0]) if arrays else 0
        for i, array in enumerate(arrays):
            if types[i] is None and not pa.types.is_null(array.type):
                types[i] = array.type
        if all(t is not None for t in types) or seen_rows >= _INFER_ROWS:
            yield from _flush(names, pending, types)
            pending = []
            types = [t if t is not None else pa.null() for t in types]
    if pending:
        yield from _flush(names, pending, [t if t is not None else pa.null() for t in types])
    if empty:  # no rows: one empty batch still tells the columns
        arrays = [pa.array([], type=t if t is not None else pa.null()) for t in types]
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def _flush(
    names: list[str], pending: list[list[pa.Array]], types: Sequence[pa.DataType | None]
) -> Iterator[pa.RecordBatch]:
    for arrays in pending:
        cast = [_cast(names[i], a, types[i] or pa.null()) for i, a in enumerate(arrays)]
        yield pa.RecordBatch.from_arrays(cast, names=names)


def _array(name: str, values: Sequence[Any], dtype: pa.DataType | None) -> pa.Array:
    try:
        try:
            return pa.array(values, type=dtype, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            if dtype is None:
                raise
            # The driver's values are of another type (ints for a string column): convert.
            return pa.array(values, from_pandas=True).cast(dtype)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        TypeError,
        OverflowError,
    ) as exc:
        want = f"as {dtype}" if dtype is not None else "in one type"
        raise InvalidInput(
            f"column {name!r} cannot be read {want}: {exc}; pass dtypes={{{name!r}: 'string'}} "
            "or the type it should have"
        ) from None


def _cast(name: str, array: pa.Array, dtype: pa.DataType) -> pa.Array:
    if array.type == dtype:
        return array
    try:
        return array.cast(dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"column {name!r} changes type from {dtype} to {array.type} ({exc}); "
            f"pass dtypes={{{name!r}: ...}} with the type it should have"
        ) from None


def _check_names(names: list[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(
            f"the query returns the column name(s) {', '.join(map(repr, duplicates))} more "
            "than once; give each column a distinct name (AS ...)"
        )


def _hide(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('://', 1)[0]}://***@{tail}" if at else url


def _first_line(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    return text.splitlines()[0] if text else type(exc).__name__
