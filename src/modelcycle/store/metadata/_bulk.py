"""Statements handed to the database driver as text and plain tuples.

On the hot paths SQLAlchemy's per-row work (a parameter dict per row, a bind processor per
value) costs more than storing a small row does, and its per-statement work (about 13 µs)
more than a small statement. These statements are built as SQL text once per shape, from the
table definitions, and run on a cursor of the connection's driver, inside the transaction the
unit of work opened; a driver error is wrapped as SQLAlchemy wraps it (``IntegrityError``...),
so that the unit of work translates it as any other. Many rows go into one multi-row
``VALUES`` list of at most ``ROWS_PER_STATEMENT`` rows (within SQLite's oldest limit of 999
parameters, and PostgreSQL's of 65,535).

On PostgreSQL many rows go instead as one array per column into one short statement
(``INSERT … SELECT … FROM unnest(…)``), sent in binary: its text is the same for any number
of rows, so the driver parses it once and the server prepares it once, where a long multi-row
``VALUES`` list would be parsed again by the driver and planned again by the server on every
call (most of the time of a thousand-row batch). The arrays are encoded here, in the server's
binary array format, by one ``struct`` call per column of fixed-size values (a join for text
and bytes): the driver's own array adapter takes a Python step per value, about 0.8 µs, which
was a quarter of a thousand-point ``log_batch``. A column it cannot encode (an unexpected
value type) goes to the driver as a list, which adapts it or says what is wrong.

Values must already be what the driver stores: ``int``, ``float``, ``str``, ``bool``, None,
and ``bytearray`` for binary columns (SQLite's driver takes a ``bytearray`` without looking up
an adapter, which it does for every ``bytes``).
"""

from __future__ import annotations

import functools
import re
import struct
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy import BigInteger, Boolean, Float, Integer, LargeBinary, String
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Table
    from sqlalchemy.engine import Dialect

PIPELINE_OPTION = "modelcycle_pipeline"
"""Execution option holding a ``Piped`` transaction, on a connection run in pipeline mode."""
MAX_PARAMETERS = 999
ROWS_PER_STATEMENT = 128
_EXACT_ROWS = 16

_DIALECTS: dict[str, Any] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}


class Target(Protocol):
    """What statements run on: a SQLAlchemy ``Connection``, or ``UnitOfWork.pipelined()``'s."""

    @property
    def connection(self) -> Any:
        """The pooled driver connection (``cursor()``, ``driver_connection``)."""

    @property
    def dialect(self) -> Dialect:
        """The SQLAlchemy dialect."""

    def get_execution_options(self) -> Mapping[str, Any]:
        """Options of the transaction (``PIPELINE_OPTION``)."""


def quote_pg(name: str) -> str:
    """An identifier as PostgreSQL quotes it."""
    return quote("postgresql", name)


def placeholder(dialect: str) -> str:
    """The driver's positional parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "%s" if dialect == "postgresql" else "?"


def quote(dialect: str, name: str) -> str:
    """An identifier as the dialect quotes it (only when needed: ``"values"``, ``"key"``)."""
    return str(_DIALECTS[dialect].identifier_preparer.quote(name))


class Result(NamedTuple):
    """What a statement returned: its rows (if it returns any), row count and last row id."""

    rows: list[Any]
    rowcount: int
    lastrowid: int | None


def run(
    conn: Target,
    sql: str,
    params: Sequence[Any] | dict[str, Any] = (),
    *,
    wait: bool = True,
) -> Result:
    """Execute one statement on a driver cursor of ``conn`` (in its transaction).

    On a connection the unit of work pipelines (PostgreSQL), a statement run with
    ``wait=False`` is only queued (see ``Piped``): it travels with the next one that waits,
    or with the commit, and what it returns is not known (an empty ``Result``); its errors
    surface there.
    """
    piped: Piped | None = conn.get_execution_options().get(PIPELINE_OPTION)
    if piped is not None:
        if not wait and isinstance(params, (tuple, list)):
            piped.queue(sql, params)
            return _QUEUED
        flush(conn)
    return _execute(conn, sql, params, piped.pipeline if piped is not None and wait else None)


def flush(conn: Target) -> None:
    """Send the writes queued on a pipelined connection (see ``Piped``), not waiting."""
    piped: Piped | None = conn.get_execution_options().get(PIPELINE_OPTION)
    if piped is not None:
        for sql, params in piped.take():
            _execute(conn, sql, params, None)


def _execute(conn: Target, sql: str, params: Any, pipeline: Any) -> Result:
    """Run the statement; with ``pipeline``, sync it and wait for its result."""
    cursor: Any = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        if pipeline is not None:
            pipeline.sync()  # sent with what is queued, and waited for: one round trip
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount, getattr(cursor, "lastrowid", None))
    except conn.dialect.loaded_dbapi.Error as error:
        raise driver_error(conn, error, sql, params) from error
    finally:
        cursor.close()


class Piped:
    """A transaction in the driver's pipeline mode, and the writes queued in it.

    Queued writes go to the server as few statements: writes to distinct tables are sent
    together as one, each a data-modifying ``WITH`` item of the last, which saves the
    driver's and the server's work per statement (about 25 µs each way). They cannot see
    one another's changes, so a write to a table already in the statement starts another
    one; constraints are checked when the whole statement ends, so a row may refer to one
    inserted beside it.
    """

    __slots__ = ("_queued", "pipeline")

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self._queued: list[tuple[str, str, Sequence[Any]]] = []

    def queue(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a write (``INSERT``, ``UPDATE`` or ``DELETE``; other statements go alone)."""
        match = _TARGET.match(sql)
        self._queued.append((match.group(1) if match else "", sql, params))

    def take(self) -> list[tuple[str, list[Any]]]:
        """The queued writes as statements to send, in order; the queue is emptied."""
        statements: list[tuple[str, list[Any]]] = []
        group: list[tuple[str, Sequence[Any]]] = []
        tables: set[str] = set()
        for table, sql, params in self._queued:
            if group and (not table or table in tables):
                statements.append(_together(group))
                group, tables = [], set()
            group.append((sql, params))
            tables.add(table)
            if not table:  # not a write: alone
                statements.append(_together(group))
                group, tables = [], set()
        if group:
            statements.append(_together(group))
        self._queued.clear()
        return statements


_TARGET = re.compile(r"(?:INSERT INTO|UPDATE|DELETE FROM) (\S+) ")
_QUEUED = Result([], -1, None)


def _together(group: Sequence[tuple[str, Sequence[Any]]]) -> tuple[str, list[Any]]:
    """Statements as one: all but the last as ``WITH`` items of the last."""
    *items, (last, last_params) = group
    if not items:
        return last, list(last_params)
    heads = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(items))
    params = [value for _, values in group for value in values]
    return f"WITH {heads} {last}", params


def driver_error(
    conn: Target, error: Exception, sql: str = "", params: Any = None
) -> sa_exc.StatementError:
    """A driver error wrapped as SQLAlchemy wraps it, for the unit of work to translate."""
    return sa_exc.DBAPIError.instance(
        sql, params, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )


def insert(conn: Target, table: Table, columns: tuple[str, ...], rows: Sequence[Any]) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``); never waited for (see ``run``)."""
    _many(conn, table, columns, _transposed(rows), (), None, False, "")


def insert_columns(
    conn: Target, table: Table, columns: tuple[str, ...], data: Sequence[Sequence[Any]]
) -> None:
    """Insert rows given by column: ``data[i]`` holds the values of ``columns[i]``, in order."""
    _many(conn, table, columns, data, (), None, False, "")


def upsert(
    conn: Target,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[Any],
    keys: tuple[str, ...],
    update: tuple[str, ...] = (),
    where: str = "",
) -> int:
    """Insert ``rows``; on a conflict on ``keys`` set the ``update`` columns (or do nothing).

    ``where`` (SQL text comparing ``excluded.<column>`` with the stored ``<table>.<column>``)
    limits the update to the rows it holds for; then the count of rows inserted or updated
    is returned, waiting for it (else 0, without waiting). The rows of one call must not
    repeat a key (PostgreSQL refuses to update a row twice in one statement).
    """
    return _many(conn, table, columns, _transposed(rows), keys, update, bool(where), where)


def upsert_columns(
    conn: Target,
    table: Table,
    columns: tuple[str, ...],
    data: Sequence[Sequence[Any]],
    keys: tuple[str, ...],
    update: tuple[str, ...] = (),
    where: str = "",
    *,
    count: bool = True,
) -> int:
    """``upsert`` of rows given by column, as ``insert_columns`` takes them.

    ``count=False``: the caller knows how many rows the ``where`` lets through and does not
    wait for the count (0 is returned).
    """
    return _many(conn, table, columns, data, keys, update, bool(where) and count, where)


def _transposed(rows: Sequence[Any]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _many(
    conn: Target,
    table: Table,
    columns: tuple[str, ...],
    data: Sequence[Sequence[Any]],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    counted: bool,
    where: str,
) -> int:
    """Run the rows in statements of a few fixed sizes, so that few statements are compiled.

    The count of rows changed is returned (and waited for) when ``counted``.

    Full statements hold the largest power of two of rows that fits the parameter limit;
    a rest of more than ``_EXACT_ROWS`` rows is split by the binary digits of its length
    (37 rows: 32 + 4 + 1), a smaller one goes in one statement of its own size. The
    parameters of a statement are laid out from the columns by slice assignment, without a
    Python step per value.
    """
    n_rows = len(data[0]) if data else 0
    if not n_rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "postgresql":
        sql = _unnest_sql(table, columns, keys, update, where)
        result = run(conn, sql, _encoded(conn, table, columns, data), wait=counted)
        return result.rowcount if counted else 0
    size = _statement_rows(len(columns))
    width = len(columns)
    changed = 0
    start = 0
    while start < n_rows:
        left = n_rows - start
        if left >= size:
            n = size
        elif left <= _EXACT_ROWS:
            n = left
        else:
            n = 1 << (left.bit_length() - 1)
        flat: list[Any] = [None] * (n * width)
        for index, column in enumerate(data):
            flat[index::width] = column[start : start + n]
        sql = _insert_sql(dialect, table.name, columns, n, keys, update, where)
        result = run(conn, sql, flat, wait=counted)
        if counted:
            changed += result.rowcount
        start += n
    return changed


def update_columns(
    conn: Target,
    table: Table,
    columns: tuple[str, ...],
    data: Sequence[Sequence[Any]],
    keys: tuple[str, ...],
    where: str = "",
) -> int:
    """PostgreSQL: update stored rows from rows given by column; the count updated, waited for.

    ``data[i]`` holds the values of ``columns[i]``; the rows are matched on ``keys`` (among
    ``columns``), the other columns are set. ``where`` (SQL text comparing
    ``excluded.<column>``, the incoming row, with ``<table>.<column>``) limits the update to
    the rows it holds for, as in ``upsert``. Cheaper than an upsert of rows known to be stored:
    no speculative insertion and no separate row lock (about 14% of the server's time and WAL
    of a thousand-row upsert). The rows of one call must not repeat a key.
    """
    if not data or not len(data[0]):
        return 0
    sql = _update_from_sql(table, columns, keys, where)
    return run(conn, sql, _encoded(conn, table, columns, data)).rowcount


def _encoded(
    conn: Target, table: Table, columns: tuple[str, ...], data: Sequence[Sequence[Any]]
) -> list[Any]:
    utf8 = conn.connection.driver_connection.info.encoding == "utf-8"
    return [
        encode_array(kind, column, utf8)
        for kind, column in zip(_array_kinds(table, columns), data, strict=True)
    ]


@functools.lru_cache(maxsize=32)
def _update_from_sql(
    table: Table, columns: tuple[str, ...], keys: tuple[str, ...], where: str
) -> str:
    name = quote_pg(table.name)
    arrays = ", ".join(f"%b::{kind.sql}" for kind in _array_kinds(table, columns))
    names = ", ".join(map(quote_pg, columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in map(quote_pg, _without(columns, keys)))
    match = " AND ".join(f"{name}.{k} = excluded.{k}" for k in map(quote_pg, keys))
    condition = f" AND ({where})" if where else ""
    return (
        f"UPDATE {name} SET {sets} FROM unnest({arrays}) AS excluded({names}) "
        f"WHERE {match}{condition}"
    )


def _without(columns: tuple[str, ...], keys: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in keys]


@functools.lru_cache(maxsize=128)
def _unnest_sql(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    where: str,
) -> str:
    names = ", ".join(quote("postgresql", c) for c in columns)
    arrays = ", ".join(f"%b::{kind.sql}" for kind in _array_kinds(table, columns))
    sql = f"INSERT INTO {quote('postgresql', table.name)} ({names}) SELECT * FROM unnest({arrays})"
    return sql + _conflict("postgresql", keys, update, where)


# -- PostgreSQL arrays in binary --------------------------------------------------------------


class ArrayKind(NamedTuple):
    """How the values of a column travel in an array (unbounded: a cast never truncates)."""

    sql: str
    """The array type the statement casts the parameter to."""
    oid: int
    """The element type's oid, as the binary array format names it."""
    code: str
    """The ``struct`` code of a fixed-size element; empty for text and bytes."""


BOOL = ArrayKind("bool[]", 16, "?")
INT8 = ArrayKind("int8[]", 20, "q")
FLOAT8 = ArrayKind("float8[]", 701, "d")
BYTEA = ArrayKind("bytea[]", 17, "")
TEXT = ArrayKind("text[]", 25, "")

_ARRAY_KINDS: tuple[tuple[type[Any], ArrayKind], ...] = (
    (Boolean, BOOL),
    (BigInteger, INT8),
    (Integer, INT8),
    (Float, FLOAT8),
    (LargeBinary, BYTEA),
    (String, TEXT),  # Text is a String
)


@functools.lru_cache(maxsize=128)
def _array_kinds(table: Table, columns: tuple[str, ...]) -> tuple[ArrayKind, ...]:
    return tuple(_array_kind(table.c[c].type) for c in columns)


def _array_kind(column_type: Any) -> ArrayKind:
    for sa_type, kind in _ARRAY_KINDS:
        if isinstance(column_type, sa_type):
            return kind
    raise TypeError(f"no array type for column type {column_type!r}")


class EncodedArray:
    """A one-dimensional array in PostgreSQL's binary format (what ``array_recv`` reads).

    Sent as a parameter of unknown type: the statement casts it to its array type, which the
    server then reads it as.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def adapt_encoded_arrays(driver_connection: Any) -> None:
    """Let a psycopg connection send ``EncodedArray`` parameters as they are."""
    driver_connection.adapters.register_dumper(EncodedArray, _encoded_array_dumper())


@functools.cache
def _encoded_array_dumper() -> type[Any]:
    # psycopg is imported here, by a PostgreSQL connection: a SQLite store never needs it.
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class EncodedArrayDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> bytes:
            return bytes(obj.data)

    return EncodedArrayDumper


_HEADER = struct.Struct(">iiiii")  # dimensions, has-NULL flag, element oid, length, lower bound
_EMPTY = struct.Struct(">iii")
_LENGTH = struct.Struct(">i").pack
_NULL = _LENGTH(-1)


def encode_array(kind: ArrayKind, values: Sequence[Any], utf8: bool = True) -> Any:
    """``values`` as an ``EncodedArray`` of ``kind``; else as a list, for the driver to adapt.

    ``utf8``: text is encoded as UTF-8 (the connection's encoding); otherwise the driver
    encodes it. Values without NULLs take the fast path; a NULL makes it fail (``struct`` and
    ``len`` refuse None), and the values are encoded again with their NULLs.
    """
    n = len(values)
    if not n:
        return EncodedArray(_EMPTY.pack(0, 0, kind.oid))
    if kind is TEXT and not utf8:
        return list(values)
    nulls = False
    if kind is BOOL:  # struct takes any object as a bool: check they are bools (or NULLs)
        bools = values.count(True) + values.count(False)
        if bools != n:
            if bools + values.count(None) != n:
                return list(values)
            nulls = True
    try:
        body = _body_with_nulls(kind, values) if nulls else _body(kind, values)
    except (struct.error, TypeError, AttributeError):
        if nulls or None not in values:
            return list(values)  # not what the column stores: the driver adapts it or says why
        nulls = True
        try:
            body = _body_with_nulls(kind, values)
        except (struct.error, TypeError, AttributeError):
            return list(values)
    return EncodedArray(_HEADER.pack(1, int(nulls), kind.oid, n, 1) + body)


def _body(kind: ArrayKind, values: Sequence[Any]) -> bytes:
    """The elements without NULLs: each as its length and its bytes."""
    first = values[0]
    if values[-1] == first and values.count(first) == len(values):  # a run's key, a batch's step
        if kind.code:
            return _element_struct(kind.code).pack(struct.calcsize(kind.code), first) * len(values)
        item: bytes = first.encode() if kind is TEXT else first
        return (_LENGTH(len(item)) + item) * len(values)
    if kind.code:  # one struct call: length, big-endian value, length, value…
        flat: list[Any] = [struct.calcsize(kind.code)] * (2 * len(values))
        flat[1::2] = values
        return _array_struct(kind.code, len(values)).pack(*flat)
    items = list(map(str.encode, values)) if kind is TEXT else values
    lengths = list(map(len, items))
    size = lengths[0]
    if lengths.count(size) != len(items):
        parts: list[Any] = [b""] * (2 * len(items))
        parts[0::2] = map(_LENGTH, lengths)
        parts[1::2] = items
        return b"".join(parts)
    # All of one length (keys "k0000"…, one-point series): lay the bytes out by strides.
    data = b"".join(items)
    stride = size + 4
    out = bytearray(stride * len(items))
    for i, byte in enumerate(_LENGTH(size)):
        out[i::stride] = bytes((byte,)) * len(items)
    for i in range(size):
        out[4 + i :: stride] = data[i::size]
    return bytes(out)


def _body_with_nulls(kind: ArrayKind, values: Sequence[Any]) -> bytes:
    if kind.code:
        size = struct.calcsize(kind.code)
        one = _element_struct(kind.code).pack
        return b"".join([_NULL if v is None else one(size, v) for v in values])
    items = [v if v is None else v.encode() for v in values] if kind is TEXT else values
    return b"".join([_NULL if v is None else _LENGTH(len(v)) + v for v in items])


@functools.cache
def _element_struct(code: str) -> struct.Struct:
    return struct.Struct(">i" + code)


@functools.lru_cache(maxsize=64)
def _array_struct(code: str, n: int) -> struct.Struct:
    return struct.Struct(">" + ("i" + code) * n)


@functools.cache
def _statement_rows(n_columns: int) -> int:
    fits = min(ROWS_PER_STATEMENT, MAX_PARAMETERS // n_columns)
    return 1 << (fits.bit_length() - 1)


@functools.lru_cache(maxsize=512)
def _insert_sql(
    dialect: str,
    table: str,
    columns: tuple[str, ...],
    n_rows: int,
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    where: str,
) -> str:
    names = ", ".join(quote(dialect, c) for c in columns)
    row = "(" + ", ".join([placeholder(dialect)] * len(columns)) + ")"
    sql = f"INSERT INTO {quote(dialect, table)} ({names}) VALUES " + ", ".join([row] * n_rows)
    return sql + _conflict(dialect, keys, update, where)


def _conflict(
    dialect: str, keys: tuple[str, ...], update: tuple[str, ...] | None, where: str
) -> str:
    """The ``ON CONFLICT`` clause of an upsert (nothing for a plain insert)."""
    if update is None:
        return ""
    target = ", ".join(quote(dialect, k) for k in keys)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{quote(dialect, c)} = excluded.{quote(dialect, c)}" for c in update)
    condition = f" WHERE {where}" if where else ""
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}{condition}"


@functools.lru_cache(maxsize=256)
def update_sql(dialect: str, table: str, columns: tuple[str, ...], key: str) -> str:
    """``UPDATE table SET columns… WHERE key = ?``; parameters: the values, then the key."""
    mark = placeholder(dialect)
    sets = ", ".join(f"{quote(dialect, c)} = {mark}" for c in columns)
    return f"UPDATE {quote(dialect, table)} SET {sets} WHERE {quote(dialect, key)} = {mark}"
