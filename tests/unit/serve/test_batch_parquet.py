"""Batch scoring from a Parquet file: the input's column chunks spliced into the output as bytes.

The spliced file must read back (with pyarrow and with polars, whose reader shares no code with
pyarrow's) exactly as the scores and input rows would if they were encoded afresh.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.unit.serve.apps import cancer_rows, estimator

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.packaging.flavors import get_flavor
from modelcycle.services.packaging.loaded import LoadedModel
from modelcycle.services.packaging.package import load_packaged, package_model
from modelcycle.services.serve._batch_ids import IdSequence
from modelcycle.services.serve._batch_output import SplicedParquet, _read_footer, splice_footer
from modelcycle.services.serve._thrift_compact import read_struct, write_struct
from modelcycle.services.serve.batch import score_batch

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame: pd.DataFrame = cancer_rows(11, 6_000)
    return frame


def _with_extras(frame: pd.DataFrame) -> pa.Table:
    """The features plus columns of other kinds, all carried through to the output."""
    count = len(frame)
    extras = {
        "customer": pa.array([f"c{i % 97}" for i in range(count)]),
        "maybe": pa.array([None if i % 3 else i for i in range(count)], pa.int64()),
        "tags": pa.array([[i, i + 1] for i in range(count)], pa.list_(pa.int32())),
        "place": pa.array([{"x": i, "y": "n"} for i in range(count)]),
        "kind": pa.array(["a", "b", "c"] * (count // 3)).dictionary_encode(),
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, column in extras.items():
        table = table.append_column(name, column)
    return table


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns as plain ones (dictionaries differ by chunking)."""
    columns = [
        column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "zstd", "use_dictionary": False, "write_page_index": True},
        {"compression": "snappy", "write_statistics": False},
        {"compression": "none", "data_page_version": "2.0"},
    ],
)
def test_a_parquet_input_gives_the_rows_a_table_gives(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path, options: dict[str, Any]
) -> None:
    table = _with_extras(rows)
    source = tmp_path / "rows.parquet"
    pq.write_table(table, source, row_group_size=1_300, **options)
    from_table = score_batch(gbm, table, tmp_path / "a.parquet", chunk_rows=1_000)
    from_file = score_batch(gbm, source, tmp_path / "b.parquet", chunk_rows=1_000)
    assert from_file.rows == from_table.rows == len(rows)
    expected = pq.read_table(tmp_path / "a.parquet").drop(["prediction_id"])
    spliced = pq.read_table(tmp_path / "b.parquet")
    assert _decoded(spliced.drop(["prediction_id"])).equals(_decoded(expected))
    assert spliced.schema.equals(pq.read_table(tmp_path / "a.parquet").schema)
    ids = spliced.column("prediction_id").to_pylist()
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert (ids[0], ids[-1]) == (from_file.first_id, from_file.last_id)
    # An independent reader agrees, and the input's row groups (and statistics) are kept.
    assert (
        pl.read_parquet(tmp_path / "b.parquet")
        .drop("prediction_id")
        .equals(pl.read_parquet(tmp_path / "a.parquet").drop("prediction_id"))
    )
    metadata = pq.ParquetFile(tmp_path / "b.parquet").metadata
    assert metadata.num_row_groups == 5
    assert metadata.row_group(4).num_rows == len(rows) - 4 * 1_300
    kept = pq.read_table(tmp_path / "b.parquet", filters=[("mean area", ">", 1_500.0)])
    assert kept.num_rows == int((rows["mean area"] > 1_500.0).sum())
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "a.parquet",
        "b.parquet",
        "rows.parquet",
    ]


def test_a_large_row_group_is_scored_in_chunks(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), source)  # one row group
    seen: list[tuple[int, pa.Table, pa.Table]] = []
    reports: list[tuple[int, int | None]] = []
    result = score_batch(
        gbm,
        source,
        tmp_path / "out.parquet",
        chunk_rows=2_500,
        on_chunk=lambda ids, inputs, scores: seen.append((len(ids), inputs, scores)),
        progress=lambda done, total: reports.append((done, total)),
    )
    assert [count for count, _, _ in seen] == [2_000, 2_000, 2_000]
    assert reports == [(2_000, 6_000), (4_000, 6_000), (6_000, 6_000)]
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.num_rows == result.rows == 6_000
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 1
    np.testing.assert_array_equal(
        written.column("prediction").to_numpy(), estimator(gbm).predict(rows)
    )
    for count, inputs, scores in seen:
        assert inputs.num_rows == scores.num_rows == count
        expected = estimator(gbm).predict(inputs.to_pandas())
        np.testing.assert_array_equal(scores.column("prediction").to_numpy(), expected)
    ids = [i for _, _, scores in seen for i in scores.column("prediction_id").to_pylist()]
    assert ids == written.column("prediction_id").to_pylist()


def test_a_parquet_input_without_output_returns_the_table(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), source, row_group_size=999)
    returned = score_batch(gbm, str(source), chunk_rows=500).table
    assert returned is not None
    expected = score_batch(gbm, pa.Table.from_pandas(rows, preserve_index=False)).table
    assert expected is not None
    assert returned.drop(["prediction_id"]).equals(expected.drop(["prediction_id"]))


def test_a_relative_path_is_read_from_the_working_folder(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.Table.from_pandas(rows.head(100), preserve_index=False), "in.parquet")
    result = score_batch(gbm, "in.parquet", "out.parquet")
    assert result.output == tmp_path / "out.parquet"
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 100


def test_a_failure_leaves_no_output_and_keeps_an_old_file(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    frame = rows.copy()
    frame.loc[5_500, "worst texture"] = np.nan
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source, row_group_size=1_000)
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"the previous results")
    with pytest.raises(InvalidInput, match="column 'worst texture': 1 missing value"):
        score_batch(gbm, source, target)
    assert target.read_bytes() == b"the previous results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet", "scores.parquet"]


def test_a_file_changed_while_scored_is_refused(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), source, row_group_size=1_000)

    def touch(*_: object) -> None:
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    with pytest.raises(InvalidInput, match=r"changed \(or vanished\) while it was being scored"):
        score_batch(gbm, source, tmp_path / "out.parquet", on_chunk=touch)
    assert not (tmp_path / "out.parquet").exists()


def test_input_problems_in_a_file_are_named(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows.drop(columns=["mean radius"]).head(50)), source)
    with pytest.raises(InvalidInput, match="lacks column 'mean radius'"):
        score_batch(gbm, source)
    pq.write_table(pa.Table.from_pandas(rows.head(50).assign(prediction=1)), source)
    with pytest.raises(InvalidInput, match="'prediction' would clash"):
        score_batch(gbm, source)
    pq.write_table(pa.Table.from_pandas(rows.head(0), preserve_index=False), source)
    with pytest.raises(InvalidInput, match="no rows"):
        score_batch(gbm, source)
    with pytest.raises(NotFound, match=r"no Parquet file at .*nowhere\.parquet"):
        score_batch(gbm, tmp_path / "nowhere.parquet")
    (tmp_path / "text.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match="not a Parquet file"):
        score_batch(gbm, tmp_path / "text.parquet")


def test_the_footer_codec_gives_back_the_bytes_it_read(rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "rows.parquet"
    table = _with_extras(rows)
    pq.write_table(table, source, row_group_size=700, write_page_index=True, compression="zstd")
    data = source.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length : -8]
    decoded = read_struct(footer)
    again = bytearray()
    write_struct(decoded, again)
    assert bytes(again) == footer
    assert decoded == _read_footer(data, len(data))
    assert splice_footer(source) == decoded


def test_splicing_checks_each_group_and_the_total(rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), source, row_group_size=4_000)
    writer = SplicedParquet(tmp_path / "out.parquet", source)
    writer.write(0, pa.table({"prediction": np.zeros(4_000)}))
    with pytest.raises(InvalidInput, match="row group 1 has 2000 rows, not 10"):
        writer.write(1, pa.table({"prediction": np.zeros(10)}))
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]
    writer = SplicedParquet(tmp_path / "out.parquet", source)
    writer.write(0, pa.table({"prediction": np.zeros(4_000)}))
    with pytest.raises(InvalidInput, match="4000 of 6000 rows written"):
        writer.commit()
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_ids_spell_the_row_counter_in_hex_across_16_bit_boundaries() -> None:
    ids = IdSequence()
    first = ids.take(65_530).to_pylist()
    second = ids.take(131_080).to_pylist()
    counters = [int(i[-8:], 16) for i in first + second]
    assert counters == list(range(65_530 + 131_080))
    assert all(len(i) == 32 and i == i.lower() for i in second[:5] + second[-5:])
    assert len({i[12:24] for i in first + second}) == 1  # one job, one random middle


class _CountsRows:
    """A model that records how many rows each call got, and predicts the row sum's sign."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, data: Any) -> Any:
        values = np.asarray(data, dtype=np.float64)
        self.calls.append(len(values))
        return (values.sum(axis=1) > 0).astype(np.int64)


def test_a_chunk_reaches_the_model_in_cache_sized_blocks(tmp_path: Path) -> None:
    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(100_000, 64)))
    frame.columns = [f"f{i}" for i in range(64)]
    inner = _CountsRows()
    packaged = package_model(_CountsRows(), input_example=frame.head(5), flavor="python")
    signature = load_packaged(
        packaged.data, flavor=packaged.flavor, digest=packaged.digest, signature=packaged.signature
    ).signature
    model = LoadedModel(inner, flavor=get_flavor("python"), signature=signature)
    result = score_batch(model, pa.Table.from_pandas(frame), chunk_rows=100_000).table
    assert result is not None
    block = (8 << 20) // (8 * 64)  # 8 MiB of float64 input
    assert inner.calls == [block] * (100_000 // block) + [100_000 % block]
    expected = (frame.to_numpy().sum(axis=1) > 0).astype(np.int64)
    np.testing.assert_array_equal(result.column("prediction").to_numpy(), expected)
