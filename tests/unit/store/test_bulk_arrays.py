"""Arrays encoded by ``_bulk`` in PostgreSQL's binary format, read back by a real server.

The server parses what ``encode_array`` builds (``array_recv``): a mistake in the layout is a
protocol error or wrong values here, never a silently different row.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    text,
)
from sqlalchemy.exc import DataError

from modelcycle.store.metadata import _bulk
from modelcycle.store.metadata._engine import create_store_engine

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection


@pytest.fixture
def conn(postgres_url: str) -> Iterator[Connection]:
    engine = create_store_engine(postgres_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _round_trip(conn: Connection, kind: _bulk.ArrayKind, values: list[Any]) -> list[Any]:
    encoded = _bulk.encode_array(kind, values)
    result = _bulk.run(conn, f"SELECT * FROM unnest(%b::{kind.sql})", [encoded])
    return [row[0] for row in result.rows]


CASES: list[tuple[_bulk.ArrayKind, list[Any]]] = [
    (_bulk.INT8, [0, 1, -1, 2**63 - 1, -(2**63), 1_700_000_000_000]),
    (_bulk.INT8, [True, False, 7]),  # bools are ints
    (_bulk.FLOAT8, [0.0, -0.0, 1.5, 1e-300, -1e300, math.inf, -math.inf, 0.1 + 0.2]),
    (_bulk.FLOAT8, [1, 2]),  # ints are floats
    (_bulk.BOOL, [True, False, True]),
    (_bulk.TEXT, ["k0000", "", "accuracy/val", "ünïcødé ✓", "a" * 250, "tab\there"]),
    (_bulk.BYTEA, [b"", b"\x00\x01\xff", bytearray(b"\x01" * 8), bytearray(300)]),
    # all of one length: laid out by strides
    (_bulk.TEXT, [f"k{i:04d}" for i in range(300)]),
    (_bulk.TEXT, ["é", "ü", "a", "ab"]),  # one character, not one byte
    (_bulk.TEXT, ["", "", ""]),
    (_bulk.BYTEA, [bytearray(i.to_bytes(8, "little")) for i in range(300)]),
    (_bulk.BYTEA, [bytearray(b"\x07" * 8)] * 50),  # one object, many times
    (_bulk.INT8, [42] * 40),  # one value
    (_bulk.TEXT, ["same key"] * 40),
    (_bulk.FLOAT8, [0.25] * 40),
    (_bulk.BOOL, [True] * 40),
]


@pytest.mark.parametrize(("kind", "values"), CASES, ids=lambda v: getattr(v, "sql", None))
def test_values_come_back_as_sent(
    conn: Connection, kind: _bulk.ArrayKind, values: list[Any]
) -> None:
    assert isinstance(_bulk.encode_array(kind, values), _bulk.EncodedArray)
    got = _round_trip(conn, kind, values)
    want = [bytes(v) for v in values] if kind is _bulk.BYTEA else values
    assert got == want


def test_nan_survives(conn: Connection) -> None:
    (got,) = _round_trip(conn, _bulk.FLOAT8, [math.nan])
    assert math.isnan(got)


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (_bulk.FLOAT8, [1.0, None, 3.0]),
        (_bulk.INT8, [None, 5]),
        (_bulk.TEXT, ["a", None, "c"]),
        (_bulk.BYTEA, [None, b"x"]),
        (_bulk.BOOL, [None, True]),
        (_bulk.FLOAT8, [None]),
    ],
)
def test_nulls_come_back_as_none(
    conn: Connection, kind: _bulk.ArrayKind, values: list[Any]
) -> None:
    assert _round_trip(conn, kind, values) == values


@pytest.mark.parametrize("kind", [_bulk.INT8, _bulk.FLOAT8, _bulk.BOOL, _bulk.TEXT, _bulk.BYTEA])
def test_empty_array(conn: Connection, kind: _bulk.ArrayKind) -> None:
    assert _round_trip(conn, kind, []) == []


def test_many_values_in_one_array(conn: Connection) -> None:
    n = 5_000  # more than one cached struct size, and than a statement's parameter limit
    values = [i * 0.5 for i in range(n)]
    assert _round_trip(conn, _bulk.FLOAT8, values) == values
    assert _round_trip(conn, _bulk.TEXT, [f"k{i}" for i in range(n)]) == [f"k{i}" for i in range(n)]


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (_bulk.INT8, [1, 2.5]),  # a float is no int8: the driver adapts the list
        (_bulk.TEXT, ["a", 3]),
        (_bulk.TEXT, [b"bytes", b"bytes"]),
        (_bulk.BOOL, ["not", "bools"]),
        (_bulk.BYTEA, [b"a", "text"]),
        (_bulk.BYTEA, [5, 5]),
        (_bulk.TEXT, [b"same", b"same"]),
        (_bulk.INT8, [2**64]),  # out of range for the struct: the driver says so
    ],
)
def test_what_it_cannot_encode_goes_to_the_driver(kind: _bulk.ArrayKind, values: list[Any]) -> None:
    assert _bulk.encode_array(kind, values) == values


def test_a_value_out_of_range_is_refused_by_the_driver(conn: Connection) -> None:
    with pytest.raises(DataError, match="bigint out of range"):
        _round_trip(conn, _bulk.INT8, [2**64])


def test_text_in_another_encoding_is_left_to_the_driver() -> None:
    assert _bulk.encode_array(_bulk.TEXT, ["é"], utf8=False) == ["é"]


def test_rows_inserted_through_unnest_match(conn: Connection) -> None:
    table = Table(
        "bulk_arrays",
        MetaData(),
        Column("i", BigInteger),
        Column("f", Float),
        Column("s", String(20)),
        Column("b", LargeBinary),
        Column("flag", Boolean),
    )
    conn.execute(
        text(
            "CREATE TEMP TABLE bulk_arrays "
            "(i bigint, f double precision, s varchar(20), b bytea, flag boolean)"
        )
    )
    columns = ("i", "f", "s", "b", "flag")
    data: list[list[Any]] = [
        [1, 2, None],
        [0.5, None, -math.inf],
        ["x", "ÿ", None],
        [b"\x00", None, b""],
        [True, None, False],
    ]
    _bulk.insert_columns(conn, table, columns, data)
    rows = conn.execute(
        text("SELECT i, f, s, b, flag FROM bulk_arrays ORDER BY i NULLS LAST")
    ).all()
    assert [tuple(r) for r in rows] == [
        (1, 0.5, "x", b"\x00", True),
        (2, None, "ÿ", None, None),
        (None, -math.inf, None, b"", False),
    ]
