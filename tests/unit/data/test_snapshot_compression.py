"""Which codec a snapshot writes each column with: zstd, or snappy where zstd does not pay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.services.data.snapshots import ROW_GROUP_ROWS, write_snapshot

if TYPE_CHECKING:
    from pathlib import Path


def _codecs(path: Path) -> dict[str, set[str]]:
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.names
    return {
        name: {meta.row_group(g).column(i).compression for g in range(meta.num_row_groups)}
        for i, name in enumerate(names)
    }


def _table(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    noisy = rng.normal(10.0, 2.0, rows)
    return pa.table(
        {
            "noisy": noisy,
            "prices": np.round(rng.choice([9.99, 19.99, 4.5, 100.0], rows), 2),
            "counter": np.arange(rows, dtype=np.int64),
            "small_ints": rng.integers(0, 4, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows).tolist(),
            "flag": (noisy > 10).tolist(),
        }
    )


def test_noisy_floats_get_snappy_and_compressible_columns_keep_zstd(tmp_path: Path) -> None:
    path = tmp_path / "snap.parquet"
    table = _table(ROW_GROUP_ROWS + 1_000)
    write_snapshot(table.to_batches(max_chunksize=10_000), path)
    codecs = _codecs(path)
    assert codecs["noisy"] == {"SNAPPY"}
    for name in ("prices", "counter", "small_ints", "city", "flag"):
        assert codecs[name] == {"ZSTD"}, name
    assert pq.read_table(path).equals(table.cast(pq.read_table(path).schema))


def test_codec_choice_does_not_change_the_digest(tmp_path: Path) -> None:
    table = _table(5_000)
    first = write_snapshot(table.to_batches(), tmp_path / "a.parquet")
    shuffled = pa.table({"noisy": pa.array(np.zeros(5_000))}).to_batches()
    other = write_snapshot(shuffled, tmp_path / "b.parquet")
    again = write_snapshot(table.to_batches(max_chunksize=333), tmp_path / "c.parquet")
    assert first.digest == again.digest
    assert first.digest != other.digest


def test_a_numeric_column_with_too_few_values_to_tell_keeps_zstd(tmp_path: Path) -> None:
    rows = 3_000
    values: list[float | None] = [None] * rows
    values[-1] = 1.5
    path = tmp_path / "nulls.parquet"
    write_snapshot(pa.table({"x": pa.array(values, pa.float64())}).to_batches(), path)
    assert _codecs(path)["x"] == {"ZSTD"}
    assert pq.read_table(path).column("x").to_pylist() == values
