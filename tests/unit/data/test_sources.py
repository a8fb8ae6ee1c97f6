"""Data sources read for real: files, a SQLite file, PostgreSQL, a moto S3 bucket, frames."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import sqlite3
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.data.snapshots import write_snapshot
from modelcycle.services.data.sources import SourceOptions, SourceStream, open_source

if TYPE_CHECKING:
    from pathlib import Path


def _read(source: object, **options: Any) -> tuple[pa.Table, SourceStream]:
    stream = open_source(source, SourceOptions(**options))
    try:
        batches = list(stream.batches)
    finally:
        stream.close()
    assert batches, "a source always yields at least one batch (the columns)"
    return pa.Table.from_batches(batches), stream


def _table(source: object, **options: Any) -> pa.Table:
    return _read(source, **options)[0]


def _snapshot(source: object, folder: Path, **options: Any) -> pa.Table:
    """The table as a snapshot stores it (the writer settles types across batches)."""
    stream = open_source(source, SourceOptions(**options))
    path = folder / "snapshot.parquet"
    write_snapshot(stream.batches, path)
    return pq.read_table(path)


# -- CSV, TSV, JSON lines, Parquet ---------------------------------------------------------------


def test_csv_infers_types_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,name,score,when\n1,ann,2.5,2026-01-02\n2,bob,,2026-01-03\n3,,4.0,\n")
    table, stream = _read(path)
    assert table.schema.names == ["id", "name", "score", "when"]
    assert table.column("id").type == pa.int64()
    assert table.column("score").type == pa.float64()
    assert pa.types.is_date(table.column("when").type) or pa.types.is_timestamp(
        table.column("when").type
    )
    assert table.column("name").to_pylist() == ["ann", "bob", None]
    assert table.column("score").to_pylist() == [2.5, None, 4.0]
    assert stream.description["kind"] == "files"
    assert stream.description["format"] == "csv"
    assert stream.description["files"] == 1
    assert stream.description["location"].endswith("people.csv")


def test_gzip_compressed_csv(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    with gzip.open(path, "wt", encoding="utf8") as out:
        out.write("a,b\n")
        out.writelines(f"{i},v{i % 3}\n" for i in range(1_000))
    table = _table(path)
    assert table.num_rows == 1_000
    assert table.column("a").to_pylist() == list(range(1_000))
    assert set(table.column("b").to_pylist()) == {"v0", "v1", "v2"}


def test_tsv_uses_a_tab(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("a\tb\n1\thello, world\n2\tx\n")
    table, stream = _read(path)
    assert stream.description["format"] == "tsv"
    assert table.to_pylist() == [{"a": 1, "b": "hello, world"}, {"a": 2, "b": "x"}]


def test_delimiter_and_latin1_encoding(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("name;city\nJosé;Zürich\nÅsa;Malmö\n".encode("latin-1"))
    table, stream = _read(path, delimiter=";", encoding="latin-1")
    assert table.to_pylist() == [
        {"name": "José", "city": "Zürich"},
        {"name": "Åsa", "city": "Malmö"},
    ]
    assert stream.description["options"] == {"delimiter": ";", "encoding": "latin-1"}


def test_latin1_text_read_as_utf8_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match=r"cities\.csv is not valid utf8 text.*latin-1"):
        _table(path)


def test_no_header_gets_generated_names(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("1,x\n2,y\n")
    table = _table(path, header=False)
    assert table.num_rows == 2
    assert table.schema.names == ["f0", "f1"]
    assert table.column("f0").to_pylist() == [1, 2]


def test_column_names_without_a_header(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("1,x\n2,y\n")
    table = _table(path, header=False, column_names=("id", "name"))
    assert table.to_pylist() == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]


def test_column_names_replace_a_header(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("A,B\n1,x\n2,y\n")
    table = _table(path, column_names=("id", "name"))
    assert table.to_pylist() == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]


def test_dtypes_override_inference(tmp_path: Path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text("zip,amount\n01234,3\n98765,4\n")
    table = _table(path, dtypes={"zip": "string", "amount": "float"})
    assert table.column("zip").type == pa.string()
    assert table.column("zip").to_pylist() == ["01234", "98765"]
    assert table.column("amount").type == pa.float64()


def test_unknown_dtype_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text("zip\n1\n")
    with pytest.raises(InvalidInput, match=r"unknown type 'integr'"):
        _table(path, dtypes={"zip": "integr"})


def test_null_values_option(tmp_path: Path) -> None:
    path = tmp_path / "dash.csv"
    path.write_text("a,b\n1,-\n2,3\n-,4\n")
    table = _table(path, null_values=("-",))
    assert table.column("a").type == pa.int64()
    assert table.column("a").to_pylist() == [1, 2, None]
    assert table.column("b").to_pylist() == [None, 3, 4]
    # Without the option "-" is a value, so the columns are text.
    assert _table(path).column("b").type == pa.string()


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n{"a": 3, "b": "z"}\n')
    table, stream = _read(path)
    assert stream.description["format"] == "jsonl"
    assert table.column("a").to_pylist() == [1, 2, 3]
    assert table.column("b").to_pylist() == ["x", None, "z"]


def test_json_lines_folder_with_a_field_null_in_the_first_file(tmp_path: Path) -> None:
    (tmp_path / "1.jsonl").write_text('{"a": 1, "b": null}\n')
    (tmp_path / "2.jsonl").write_text('{"a": 2, "b": "x"}\n')
    (tmp_path / "3.jsonl").write_text('{"b": "y", "a": 3}\n')
    table = _snapshot(tmp_path, tmp_path)
    assert table.to_pylist() == [{"a": 1, "b": None}, {"a": 2, "b": "x"}, {"a": 3, "b": "y"}]
    assert table.column("b").type == pa.string()


def test_json_lines_files_with_an_extra_field_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "2.jsonl").write_text('{"a": 2, "c": 5}\n')
    with pytest.raises(InvalidInput, match=r"2\.jsonl"):
        _table(tmp_path)


def test_malformed_json_lines_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n')
    with pytest.raises(InvalidInput, match=r"events\.jsonl"):
        _table(path)


def test_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    expected = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    pq.write_table(expected, path)
    table, stream = _read(path)
    assert stream.description["format"] == "parquet"
    assert stream.total == 3
    assert table.equals(expected)


def test_hive_partitioned_parquet_folder_keeps_the_partition_column(tmp_path: Path) -> None:
    folder = tmp_path / "sales"
    data = pa.table({"amount": [1, 2, 3, 4, 5], "year": [2025, 2025, 2026, 2026, 2026]})
    pq.write_to_dataset(data, folder, partition_cols=["year"])
    table, stream = _read(folder)
    assert stream.description["partitions"] == ["year"]
    assert stream.description["files"] == 2
    rows = sorted((r["year"], r["amount"]) for r in table.to_pylist())
    assert rows == [(2025, 1), (2025, 2), (2026, 3), (2026, 4), (2026, 5)]


# -- folders and globs ---------------------------------------------------------------------------


def test_folder_of_csvs_imposes_the_first_files_schema(tmp_path: Path) -> None:
    folder = tmp_path / "months"
    folder.mkdir()
    (folder / "2026-01.csv").write_text("id,code\n1,10\n2,20\n")
    # Alone, this file's codes would be strings; the first file made them integers... and
    # here "007" must then read as 7.
    (folder / "2026-02.csv").write_text("id,code\n3,007\n")
    (folder / ".hidden.csv").write_text("nonsense\n")
    (folder / "notes.md").write_text("# not data\n")
    table, stream = _read(folder)
    assert stream.description["files"] == 2
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("code").type == pa.int64()
    assert table.column("code").to_pylist() == [10, 20, 7]


def test_folder_later_file_that_does_not_fit_the_first_types(tmp_path: Path) -> None:
    folder = tmp_path / "months"
    folder.mkdir()
    (folder / "a.csv").write_text("id,code\n1,10\n")
    (folder / "b.csv").write_text("id,code\n2,AB\n")
    with pytest.raises(InvalidInput, match=r"b\.csv.*column 'code'.*'AB'.*dtypes=\{'code'"):
        _table(folder)


def test_glob_of_csvs(tmp_path: Path) -> None:
    for month in ("01", "02", "03"):
        (tmp_path / f"2026-{month}.csv").write_text(f"month,v\n{int(month)},1.5\n")
    (tmp_path / "2025-12.csv").write_text("month,v\n12,0.5\n")
    table, stream = _read(str(tmp_path / "2026-*.csv"))
    assert stream.description["files"] == 3
    assert table.column("month").to_pylist() == [1, 2, 3]


def test_files_with_different_columns_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,x\n1,2\n")
    (tmp_path / "b.csv").write_text("id,y\n1,2\n")
    with pytest.raises(InvalidInput, match=r"b\.csv\) has columns \['id', 'y'\].*\['id', 'x'\]"):
        _table(str(tmp_path / "*.csv"))


def test_a_column_empty_in_the_first_file_takes_values_from_later_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,note\n1,\n2,\n")
    (tmp_path / "b.csv").write_text("id,note\n3,late\n")
    table = _snapshot(str(tmp_path / "*.csv"), tmp_path)
    assert table.column("note").type == pa.string()
    assert table.column("note").to_pylist() == [None, None, "late"]


def test_header_only_first_file_then_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n")
    (tmp_path / "b.csv").write_text("id,name\n5,eve\n")
    table = _snapshot(str(tmp_path / "*.csv"), tmp_path)
    assert table.num_rows == 1
    assert table.column("id").type == pa.int64()
    assert table.column("name").to_pylist() == ["eve"]


def test_folder_of_mixed_formats_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    pq.write_table(pa.table({"id": [2]}), tmp_path / "b.parquet")
    with pytest.raises(InvalidInput, match=r"mixes formats \(csv, parquet\)"):
        _table(tmp_path)


def test_empty_folder_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("nothing\n")
    with pytest.raises(NotFound, match=r"holds no data file"):
        _table(tmp_path)


# -- empty and malformed files -------------------------------------------------------------------


def test_header_only_csv_gives_zero_rows_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id,name,score\n")
    table = _table(path)
    assert table.num_rows == 0
    assert table.schema.names == ["id", "name", "score"]


def test_malformed_row_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(InvalidInput, match=r"bad\.csv: line 4 has 3 fields where 2") as info:
        _table(path)
    assert "'5,6,7'" in str(info.value)


def test_malformed_row_deep_in_a_large_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 300_000  # several parse blocks: the line number must be the file's, not the block's
    with path.open("w") as out:
        out.write("a,b,c\n")
        out.writelines(f"{i},{i % 7},{i * 2}\n" for i in range(rows))
        out.write("1,2\n")
    with pytest.raises(InvalidInput, match=rf"big\.csv: line {rows + 2} has 2 fields where 3"):
        _table(path)


def test_conversion_error_names_the_column_and_suggests_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 600_000  # more than one parse block, so the type comes from the first block only
    with path.open("w") as out:
        out.write("id,qty\n")
        out.writelines(f"{i},{i % 10}\n" for i in range(rows))
        out.write(f"{rows},lots\n")
    with pytest.raises(
        InvalidInput,
        match=rf"big\.csv: line {rows + 2}: column 'qty' holds 'lots', which is not int64.*"
        r"dtypes=\{'qty': 'string'\}",
    ):
        _table(path)


def test_values_after_a_long_empty_stretch_ask_for_a_dtype(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = 600_000  # the column is empty in the whole first parse block
    with path.open("w") as out:
        out.write("id,late\n")
        out.writelines(f"{i},\n" for i in range(rows))
        out.write(f"{rows},7\n")
    with pytest.raises(
        InvalidInput,
        match=rf"late\.csv: line {rows + 2}: column 'late' holds '7', but it was empty.*"
        r"dtypes=\{'late': 'string'\}",
    ):
        _table(path)
    table = _table(path, dtypes={"late": "int"})
    assert table.column("late").null_count == rows
    assert table.column("late")[rows].as_py() == 7


def test_unknown_extension_asks_for_format(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InvalidInput, match=r"cannot tell the format of .*data\.xlsx.*format="):
        _table(path)


def test_format_option_reads_an_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.out"
    path.write_text("a|b\n1|2\n")
    assert _table(path, format="csv", delimiter="|").to_pylist() == [{"a": 1, "b": 2}]


def test_unknown_format_option_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"format 'xls' is not one of csv, tsv, jsonl, parquet"):
        SourceOptions(format="xls")


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no file at .*missing\.csv"):
        open_source(tmp_path / "missing.csv")


def test_glob_matching_nothing_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no file matches .*\*\.parquet"):
        open_source(str(tmp_path / "*.parquet"))


def test_corrupt_parquet_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"data\.parquet is not readable Parquet"):
        _table(path)


def test_query_on_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(InvalidInput, match=r"query and table apply to a database URL"):
        open_source(path, SourceOptions(query="select 1"))


# -- in-memory frames ----------------------------------------------------------------------------


def test_pandas_frame_keeps_a_named_index() -> None:
    frame = pd.DataFrame(
        {"x": [1.5, 2.5], "s": ["a", "b"]}, index=pd.Index(["k1", "k2"], name="key")
    )
    table, stream = _read(frame)
    assert stream.description == {"kind": "frame", "type": "pandas.DataFrame"}
    assert set(table.schema.names) == {"x", "s", "key"}
    assert table.column("key").to_pylist() == ["k1", "k2"]
    assert table.column("x").to_pylist() == [1.5, 2.5]


def test_pandas_default_index_is_not_a_column() -> None:
    table = _table(pd.DataFrame({"x": [1, 2, 3]}))
    assert table.schema.names == ["x"]


def test_pandas_with_non_string_column_names_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"every column name of the DataFrame must be a string"):
        open_source(pd.DataFrame({0: [1], 1: [2]}))


def test_polars_frame() -> None:
    frame = pl.DataFrame({"x": [1, 2], "s": ["a", None]})
    table, stream = _read(frame)
    assert stream.description["type"] == "polars.DataFrame"
    assert table.column("x").to_pylist() == [1, 2]
    assert table.column("s").to_pylist() == ["a", None]


def test_polars_lazy_frame() -> None:
    lazy = pl.DataFrame({"x": [1, 2, 3]}).lazy().filter(pl.col("x") > 1)
    assert _table(lazy).column("x").to_pylist() == [2, 3]


def test_arrow_table_and_record_batch() -> None:
    data = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert _table(data).equals(data)
    batch = data.to_batches()[0]
    assert _table(batch).equals(data)
    reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
    assert _table(reader).equals(data)


def test_unknown_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"cannot read a dict as data"):
        open_source({"a": [1]})


# -- SQL on a SQLite file ------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table orders (id integer, customer text, amount real, note text)")
        conn.executemany(
            "insert into orders values (?, ?, ?, ?)",
            [(i, f"c{i % 5}", i * 1.5, None if i < 50 else f"note {i}") for i in range(1, 1_001)],
        )
    return f"sqlite:///{path}"


def test_sqlite_query(sqlite_db: str) -> None:
    table, stream = _read(sqlite_db, query="select id, amount from orders where id <= 3")
    assert table.to_pylist() == [
        {"id": 1, "amount": 1.5},
        {"id": 2, "amount": 3.0},
        {"id": 3, "amount": 4.5},
    ]
    assert stream.description["kind"] == "sql"
    assert stream.description["query"] == "select id, amount from orders where id <= 3"


def test_sqlite_table(sqlite_db: str) -> None:
    table, stream = _read(sqlite_db, table="orders")
    assert table.num_rows == 1_000
    assert table.schema.names == ["id", "customer", "amount", "note"]
    assert stream.description["table"] == "orders"


def test_sqlite_wrong_query_carries_the_drivers_message(sqlite_db: str) -> None:
    with pytest.raises(InvalidInput, match=r"refused the read: no such column: nope"):
        _table(sqlite_db, query="select nope from orders")


def test_sqlite_missing_table(sqlite_db: str) -> None:
    with pytest.raises(InvalidInput, match=r"no such table: orderz"):
        _table(sqlite_db, table="orderz")


def test_sql_needs_exactly_one_of_query_and_table(sqlite_db: str) -> None:
    with pytest.raises(InvalidInput, match=r"exactly one of query .* or table"):
        open_source(sqlite_db)
    with pytest.raises(InvalidInput, match=r"exactly one of query .* or table"):
        open_source(sqlite_db, SourceOptions(query="select 1", table="orders"))


def test_sql_column_null_in_the_first_rows_is_typed_later(sqlite_db: str) -> None:
    table = _table(sqlite_db, table="orders", batch_rows=10)  # note is NULL in 5 batches
    note = table.column("note")
    assert note.type == pa.string()
    assert note.null_count == 49
    assert note[999].as_py() == "note 1000"


def test_sql_all_null_column_stays_null(sqlite_db: str) -> None:
    table = _table(sqlite_db, query="select id, null as empty from orders where id < 5")
    assert table.column("empty").null_count == 4


def test_sql_is_streamed_in_batches(sqlite_db: str) -> None:
    stream = open_source(sqlite_db, SourceOptions(table="orders", batch_rows=10))
    sizes = [batch.num_rows for batch in stream.batches]
    assert len(sizes) > 1
    assert max(sizes) <= 10
    assert sum(sizes) == 1_000
    assert stream.progress() == 1_000


def test_sql_empty_result_keeps_columns(sqlite_db: str) -> None:
    table = _table(sqlite_db, query="select id, customer from orders where id < 0")
    assert table.num_rows == 0
    assert table.schema.names == ["id", "customer"]


def test_sql_dtypes_override(sqlite_db: str) -> None:
    table = _table(sqlite_db, query="select id from orders where id < 3", dtypes={"id": "string"})
    assert table.column("id").to_pylist() == ["1", "2"]


def test_sql_duplicate_column_names_are_refused(sqlite_db: str) -> None:
    with pytest.raises(InvalidInput, match=r"column name\(s\) 'id' more than once"):
        _table(sqlite_db, query="select id, id from orders")


def test_sql_bad_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"cannot use database URL"):
        open_source("postgresql+nodriver://u:secret@host/db", SourceOptions(query="select 1"))


def test_sql_description_hides_the_password() -> None:
    stream = open_source(
        "postgresql+psycopg://alice:s3cret@127.0.0.1:1/db", SourceOptions(query="select 1")
    )
    assert "s3cret" not in repr(stream.description)
    assert "***" in stream.description["location"]


def test_sql_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match=r"the database at .*127\.0\.0\.1:1.* refused the read"):
        _table("postgresql+psycopg://alice:s3cret@127.0.0.1:1/db", query="select 1")


# -- SQL on PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_query_types_and_nulls(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    meta = sa.MetaData()
    items = sa.Table(
        "items",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("seen", sa.DateTime),
        sa.Column("label", sa.Text),
    )
    meta.create_all(engine)
    when = dt.datetime(2026, 3, 4, 5, 6, 7)  # noqa: DTZ001 - a column without time zone
    with engine.begin() as conn:
        conn.execute(
            items.insert(),
            [
                {"id": 1, "price": decimal.Decimal("9.99"), "seen": when, "label": "a"},
                {"id": 2, "price": None, "seen": None, "label": None},
                {"id": 3, "price": decimal.Decimal("0.50"), "seen": when, "label": "c"},
            ],
        )
    engine.dispose()
    table, stream = _read(postgres_url, query="select * from items order by id", batch_rows=2)
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert pa.types.is_decimal(table.column("price").type)
    assert table.column("price").to_pylist() == [
        decimal.Decimal("9.99"),
        None,
        decimal.Decimal("0.50"),
    ]
    assert pa.types.is_timestamp(table.column("seen").type)
    assert table.column("seen").to_pylist() == [when, None, when]
    assert table.column("label").type == pa.string()
    assert table.column("label").to_pylist() == ["a", None, "c"]
    assert stream.description["kind"] == "sql"


@pytest.mark.postgres
def test_postgres_wrong_query(postgres_url: str) -> None:
    with pytest.raises(InvalidInput, match=r'relation "missing" does not exist'):
        _table(postgres_url, query="select * from missing")


# -- S3 through fsspec ---------------------------------------------------------------------------


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


@pytest.mark.s3
def test_s3_csv_and_partitioned_parquet(s3_url: str, s3_server: str) -> None:
    bucket = s3_url.removeprefix("s3://").split("/", 1)[0]
    client = _s3_client(s3_server)
    client.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,x\n2,y\n")
    for year, amounts in ((2025, [1, 2]), (2026, [3])):
        buffer = io.BytesIO()
        pq.write_table(pa.table({"amount": amounts}), buffer)
        client.put_object(
            Bucket=bucket, Key=f"lake/sales/year={year}/part-0.parquet", Body=buffer.getvalue()
        )

    table, stream = _read(f"s3://{bucket}/raw/data.csv")
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert stream.description["location"] == f"s3://{bucket}/raw/data.csv"

    table, stream = _read(f"s3://{bucket}/lake/sales")
    assert stream.description["partitions"] == ["year"]
    assert sorted((r["year"], r["amount"]) for r in table.to_pylist()) == [
        (2025, 1),
        (2025, 2),
        (2026, 3),
    ]


@pytest.mark.s3
def test_s3_missing_bucket_is_a_clear_error(s3_url: str) -> None:
    with pytest.raises((NotFound, InvalidInput), match=r"s3://mc-no-such-bucket-here/data\.csv"):
        _table("s3://mc-no-such-bucket-here/data.csv")


@pytest.mark.s3
def test_s3_missing_key_is_not_found(s3_url: str) -> None:
    bucket = s3_url.removeprefix("s3://").split("/", 1)[0]
    with pytest.raises(NotFound, match=rf"no file at s3://{bucket}/nothing\.csv"):
        _table(f"s3://{bucket}/nothing.csv")


def test_unreachable_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match=r"cannot reach http://127\.0\.0\.1:1/data\.csv"):
        _table("http://127.0.0.1:1/data.csv")
