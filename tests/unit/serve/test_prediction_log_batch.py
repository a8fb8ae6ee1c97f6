"""A batch job's chunks reach the prediction log whole: one table of JSON rows per chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import pyarrow as pa
import pytest

from modelcycle.core.errors import InvalidInput, StoreError
from modelcycle.core.ids import new_id
from modelcycle.services.serve.prediction_log import batch_logger
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store
from modelcycle.store.predictions import PredictionLogWriter, read_predictions

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

AT_MS = 1_800_000_000_000


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqlMetadataStore, ArtifactStore]]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'mc.db'}")
    yield metadata, open_artifact_store(str(tmp_path / "artifacts"))
    metadata.close()


def _chunk(rows: int) -> tuple[pa.StringArray, pa.Table, pa.Table]:
    ids = pa.array([new_id() for _ in range(rows)], pa.string())
    inputs = pa.table(
        {
            "x": [float(i) if i % 5 else float("nan") for i in range(rows)],
            "city": [f'Zürich "{i}"' for i in range(rows)],
        }
    )
    outputs = pa.table({"prediction": [i % 2 for i in range(rows)], "proba_1": [0.25] * rows})
    return ids, inputs, outputs


def test_every_row_of_a_chunk_is_logged_as_json(
    stores: tuple[SqlMetadataStore, ArtifactStore],
) -> None:
    with PredictionLogWriter(*stores) as writer:
        ids, inputs, outputs = _chunk(12)
        batch_logger(writer, "v1", lambda: AT_MS)(ids, inputs, outputs)
    table = read_predictions(*stores)
    assert table["id"].to_pylist() == sorted(ids.to_pylist())  # the log is in id order
    table = table.take(pa.array([table["id"].to_pylist().index(i) for i in ids.to_pylist()]))
    assert set(table["source"].to_pylist()) == {"batch"}
    assert set(table["at"].cast(pa.int64()).to_pylist()) == {AT_MS}
    logged_inputs = [orjson.loads(text) for text in table["inputs"].to_pylist()]
    assert logged_inputs[0] == {"x": None, "city": 'Zürich "0"'}  # NaN is null, as over HTTP
    assert logged_inputs[3] == {"x": 3.0, "city": 'Zürich "3"'}
    assert orjson.loads(table["outputs"][1].as_py()) == {"prediction": 1, "proba_1": 0.25}


def test_a_chunk_bigger_than_the_queue_waits_for_room_and_loses_nothing(
    stores: tuple[SqlMetadataStore, ArtifactStore],
) -> None:
    writer = PredictionLogWriter(*stores, max_rows=50, queue_size=120, max_seconds=30.0)
    log = batch_logger(writer, "v1", lambda: AT_MS)
    chunks = [_chunk(200) for _ in range(3)]
    for chunk in chunks:
        log(*chunk)  # 600 rows through a queue of 120: each call waits for segments
    writer.close()
    assert (writer.written, writer.dropped) == (600, 0)
    assert read_predictions(*stores).num_rows == 600


def test_a_closed_writer_or_a_malformed_table_is_refused(
    stores: tuple[SqlMetadataStore, ArtifactStore],
) -> None:
    writer = PredictionLogWriter(*stores)
    log = batch_logger(writer, "v1", lambda: AT_MS)
    ids, inputs, outputs = _chunk(3)
    bad_ids = pa.array(["x", *ids.to_pylist()[1:]], pa.string())
    with pytest.raises(InvalidInput, match="id 'x' is not one of 32-character hex ids"):
        log(bad_ids, inputs, outputs)
    with pytest.raises(InvalidInput, match=r"has no at, model_version_id, .*, outputs column"):
        writer.submit_table(pa.table({"id": ids}))
    writer.close()
    with pytest.raises(StoreError, match="closed"):
        log(ids, inputs, outputs)


def test_a_waiting_chunk_fails_once_the_log_cannot_be_written(
    stores: tuple[SqlMetadataStore, ArtifactStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata, _ = stores

    def down(segment: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(metadata.predictions, "add_segment", down)
    writer = PredictionLogWriter(*stores, max_rows=10, queue_size=20, max_seconds=0.05)
    tables: list[pa.Table] = []
    monkeypatch.setattr(writer, "submit_table", tables.append)
    batch_logger(writer, "v1", lambda: AT_MS)(*_chunk(15))  # captures the chunk's table
    monkeypatch.undo()
    monkeypatch.setattr(metadata.predictions, "add_segment", down)
    writer.submit_table(tables[0])  # fits: queued, then held after failed writes
    with pytest.raises(StoreError, match=r"no room for 10 rows in time \(last error: .*locked"):
        writer.submit_table(tables[0], timeout=0.5)
    assert writer.depth == 15
    monkeypatch.undo()
    writer.close()  # the store is back: the held rows are written, the refused ones never were
    assert (writer.written, writer.dropped) == (15, 0)
