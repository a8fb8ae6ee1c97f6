"""Batch scoring on an executor: workers read a Parquet input, encode scores, or get rows."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.unit.serve.apps import cancer_rows, estimator

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging.loaded import LoadedModel
from modelcycle.services.serve._batch_frames import make_plan
from modelcycle.services.serve._batch_ids import IdSequence
from modelcycle.services.serve._batch_output import SplicedParquet, encode_scores
from modelcycle.services.serve._batch_worker import (
    ParquetPart,
    encode_part,
    fingerprint,
    plan_parts,
    score_part,
    ship,
)
from modelcycle.services.serve.batch import score_batch

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame: pd.DataFrame = cancer_rows(5, 6_000)
    return frame


def _uneven_file(rows: pd.DataFrame, path: Path) -> None:
    """Row groups of 2,500, 500, 1,500 and 1,500 rows, with a text column carried through."""
    table = pa.Table.from_pandas(rows, preserve_index=False).append_column(
        "customer", pa.array([f"c{i % 13}" for i in range(len(rows))])
    )
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for start, stop in [(0, 2_500), (2_500, 3_000), (3_000, 4_500), (4_500, 6_000)]:
            writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)


class _Elsewhere(ThreadPoolExecutor):
    """Workers on a machine without the job's files: every Parquet part names a path they lack."""

    def __init__(self, missing: str) -> None:
        super().__init__(max_workers=2)
        self.parts_sent = 0
        self._missing = missing

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        moved = [
            dataclasses.replace(arg, path=self._missing) if isinstance(arg, ParquetPart) else arg
            for arg in args
        ]
        self.parts_sent += len(moved) - sum(moved[i] is args[i] for i in range(len(args)))
        return super().submit(fn, *moved, **kwargs)


class _SlowFirst(ThreadPoolExecutor):
    """Two workers; the first chunk's worker stalls until two more chunks have been sent.

    ``at_once``: every later chunk is scored as it is sent, so it has finished before the
    dispatcher next looks at what is running.
    """

    def __init__(self, *, at_once: bool = False) -> None:
        super().__init__(max_workers=2)
        self.sent = 0
        self._later = threading.Event()
        self._at_once = at_once

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.sent += 1
        if self.sent == 3:
            self._later.set()
        if self.sent > 1 and self._at_once:
            done: Future[Any] = Future()
            done.set_result(fn(*args, **kwargs))
            return done
        if self.sent > 1:
            return super().submit(fn, *args, **kwargs)

        def stalled(*inner: Any, **named: Any) -> Any:
            if not self._later.wait(timeout=10):
                raise TimeoutError("no chunk went out while the first one was unfinished")
            return fn(*inner, **named)

        return super().submit(stalled, *args, **kwargs)


@pytest.mark.parametrize("at_once", [False, True])
def test_a_quicker_worker_gets_new_chunks_while_an_older_one_is_unfinished(
    gbm: LoadedModel, rows: pd.DataFrame, at_once: bool
) -> None:
    """``at_once`` is the race where a chunk finishes before the dispatcher waits: it must
    send the next chunk, not wait for the stalled oldest one."""
    table = pa.Table.from_pandas(rows, preserve_index=False)
    expected = score_batch(gbm, table, chunk_rows=1_000).table
    with _SlowFirst(at_once=at_once) as executor:
        result = score_batch(gbm, table, executor=executor, chunk_rows=1_000, max_in_flight=2)
    assert result.table is not None
    assert expected is not None
    assert result.table.drop(["prediction_id"]).equals(expected.drop(["prediction_id"]))
    assert executor.sent == 6


@pytest.mark.parametrize("with_proba", [True, False])
def test_workers_give_the_local_file_whole_and_split_row_groups_alike(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path, with_proba: bool
) -> None:
    source = tmp_path / "rows.parquet"
    _uneven_file(rows, source)
    # chunk_rows=1_000: the 2,500-row group is cut into parts (predictions come back), the
    # 500-row group is one part (its scores come back encoded by the worker), and the last two
    # groups are halved (the job's tail, shared between workers).
    options: dict[str, Any] = {"chunk_rows": 1_000, "with_proba": with_proba}
    local = score_batch(gbm, source, tmp_path / "local.parquet", **options)
    with ThreadPoolExecutor(max_workers=2) as executor:
        remote = score_batch(gbm, source, tmp_path / "remote.parquet", executor=executor, **options)
    expected = pq.read_table(tmp_path / "local.parquet")
    written = pq.read_table(tmp_path / "remote.parquet")
    assert written.schema.equals(expected.schema)
    assert written.drop(["prediction_id"]).equals(expected.drop(["prediction_id"]))
    np.testing.assert_array_equal(
        written.column("prediction").to_numpy(), estimator(gbm).predict(rows)
    )
    ids = written.column("prediction_id").to_pylist()
    assert [int(i[-8:], 16) for i in ids] == list(range(len(rows)))
    assert ids == sorted(ids)
    assert (remote.first_id, remote.last_id, remote.rows) == (ids[0], ids[-1], local.rows)
    assert [g.num_rows for g in _groups(tmp_path / "remote.parquet")] == [2_500, 500, 1_500, 1_500]


def test_the_last_row_groups_are_halved_when_asked(rows: pd.DataFrame, tmp_path: Path) -> None:
    path = str(tmp_path / "rows.parquet")
    _uneven_file(rows, tmp_path / "rows.parquet")
    metadata, stamp = pq.ParquetFile(path).metadata, fingerprint(path)
    spans = [(p.group, p.start, p.stop) for p in plan_parts(path, metadata, stamp, 1_000)]
    assert spans == [
        (0, 0, 833),
        (0, 833, 1_666),
        (0, 1_666, 2_500),
        (1, 0, 500),
        (2, 0, 1_500),
        (3, 0, 1_500),
    ]
    halved = plan_parts(path, metadata, stamp, 1_000, halved_tail=2)
    assert [(p.group, p.start, p.stop) for p in halved] == [
        *spans[:4],
        (2, 0, 750),
        (2, 750, 1_500),
        (3, 0, 750),
        (3, 750, 1_500),
    ]
    whole = plan_parts(path, metadata, stamp, 10_000, halved_tail=9)
    assert [(p.group, p.start, p.stop) for p in whole] == [
        (0, 0, 1_250),
        (0, 1_250, 2_500),
        (1, 0, 250),
        (1, 250, 500),
        (2, 0, 750),
        (2, 750, 1_500),
        (3, 0, 750),
        (3, 750, 1_500),
    ]


def _groups(path: Path) -> list[Any]:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(i) for i in range(metadata.num_row_groups)]


def test_workers_that_do_not_see_the_file_are_sent_its_rows(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    _uneven_file(rows, source)
    score_batch(gbm, source, tmp_path / "local.parquet")
    with _Elsewhere(str(tmp_path / "not-on-this-machine.parquet")) as executor:
        result = score_batch(
            gbm, source, tmp_path / "remote.parquet", executor=executor, max_in_flight=1
        )
    expected = pq.read_table(tmp_path / "local.parquet").drop(["prediction_id"])
    assert pq.read_table(tmp_path / "remote.parquet").drop(["prediction_id"]).equals(expected)
    assert result.rows == len(rows)
    # Of the row groups, the first went as a part, and perhaps the second (if it was sent
    # when the first finished, before its answer was read); once that answer was None, rows went.
    assert executor.parts_sent in {1, 2}


def test_a_worker_answers_none_for_a_file_it_does_not_see(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    _uneven_file(rows, source)
    path = str(source)
    part = plan_parts(path, pq.ParquetFile(path).metadata, fingerprint(path), 1_000)[3]
    assert (part.group, part.rows, part.group_rows) == (1, 500, 500)
    plan = make_plan(gbm, pa.Table.from_pandas(rows.head(50)), with_proba=False)
    shipped = ship(gbm)
    block = IdSequence().reserve(part.rows)
    encoded = encode_part(shipped, plan, part, block, [])
    assert encoded is not None
    scores = pq.read_table(pa.py_buffer(encoded))
    assert scores.column("prediction_id").to_pylist() == block.ids().to_pylist()
    expected = estimator(gbm).predict(rows.iloc[2_500:3_000])
    np.testing.assert_array_equal(scores.column("prediction").to_numpy(), expected)
    stale = dataclasses.replace(part, fingerprint=(part.fingerprint[0], 1))
    assert score_part(shipped, plan, stale) is None
    assert encode_part(shipped, plan, stale, block, []) is None


def test_encoded_scores_are_checked_against_their_row_group(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), source, row_group_size=4_000)
    writer = SplicedParquet(tmp_path / "out.parquet", source)
    with pytest.raises(InvalidInput, match="row group 0 has 4000 rows, not 10"):
        writer.write_encoded(0, encode_scores(pa.table({"prediction": np.zeros(10)}), ()))
    two = pa.BufferOutputStream()
    pq.write_table(pa.table({"prediction": np.zeros(4_000)}), two, row_group_size=2_000)
    with pytest.raises(InvalidInput, match="come in 2 row groups"):
        writer.write_encoded(0, two.getvalue().to_pybytes())
    with pytest.raises(InvalidInput, match="not a Parquet file"):
        writer.write_encoded(0, b"no footer here")
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_an_id_block_spells_the_ids_take_would() -> None:
    ids = IdSequence()
    ids.take(70_000)
    block = ids.reserve(3)
    spelled = block.ids().to_pylist()
    assert [block.id_at(i) for i in range(3)] == spelled
    assert [int(i[-8:], 16) for i in spelled] == [70_000, 70_001, 70_002]
    assert int(ids.take(1)[0].as_py()[-8:], 16) == 70_003
