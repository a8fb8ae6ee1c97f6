"""The prediction log: a bounded queue drained into Parquet segments, indexed per segment.

Every test writes through a real SQLite file and a real artifact folder (one through
PostgreSQL and S3), and reads back through the index as monitoring would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput, StoreError
from modelcycle.core.ids import new_id
from modelcycle.store.artifacts import ArtifactStore, open_artifact_store
from modelcycle.store.metadata import SqlMetadataStore, open_metadata_store
from modelcycle.store.predictions import PredictionLogWriter, find_prediction, read_predictions
from modelcycle.store.predictions._segments import SEGMENT_SCHEMA, read_segment, to_records

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

BASE_MS = 1_800_000_000_000


class Stores:
    """A metadata store and an artifact store, and a way to open fresh copies of both."""

    def __init__(self, metadata_url: str, artifacts_url: str) -> None:
        self.metadata_url = metadata_url
        self.artifacts_url = artifacts_url
        self.metadata = open_metadata_store(metadata_url)
        self.artifacts: ArtifactStore = open_artifact_store(artifacts_url)
        self.writers: list[PredictionLogWriter] = []

    def writer(self, **limits: Any) -> PredictionLogWriter:
        writer = PredictionLogWriter(self.metadata, self.artifacts, **limits)
        self.writers.append(writer)
        return writer

    def fresh(self) -> tuple[SqlMetadataStore, ArtifactStore]:
        return open_metadata_store(self.metadata_url), open_artifact_store(self.artifacts_url)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    s = Stores(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    yield s
    for writer in s.writers:
        writer.close()
    s.metadata.close()


def _record(
    i: int, version: str = "v1", *, at: int | None = None, source: str = "http"
) -> PredictionRecord:
    return PredictionRecord(
        id=new_id(),
        at=BASE_MS + i if at is None else at,
        model_version_id=version,
        latency_ms=0.25 + i / 1000,
        inputs={"x": i, "name": f"é-{i}", "tags": ["a", None], "nested": {"f": i / 3}},
        outputs={"label": i % 2, "proba": [0.125, 0.875]},
        source=source,  # type: ignore[arg-type]
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.01)


def _ids(table: pa.Table) -> list[str]:
    return [str(i) for i in table["id"].to_pylist()]


def test_records_round_trip_exactly(stores: Stores) -> None:
    records = [_record(i, source="batch" if i % 2 else "http") for i in range(50)]
    writer = stores.writer()
    assert writer.submit_many(records) == 50
    writer.flush()
    table = read_predictions(stores.metadata, stores.artifacts)
    assert table.schema == SEGMENT_SCHEMA
    assert to_records(table) == sorted(records, key=lambda r: (r.at, r.id))
    assert json.loads(table["inputs"][3].as_py()) == records[3].inputs
    assert table["at"].type == pa.timestamp("ms", tz="UTC")
    assert (writer.written, writer.depth, writer.dropped) == (50, 0, 0)


def test_segments_roll_by_size_with_exact_index_ranges(stores: Stores) -> None:
    writer = stores.writer(max_rows=100, max_seconds=3600)
    records = [_record(i) for i in range(250)]
    writer.submit_many(records)
    _wait_for(lambda: writer.written >= 200)  # two full segments, written by the thread alone
    writer.flush()
    segments = stores.metadata.predictions.find_segments()
    assert sorted(s.rows for s in segments) == [50, 100, 100]
    seen: list[str] = []
    for segment in segments:
        table = read_segment(stores.artifacts, segment)
        ats = table["at"].cast(pa.int64()).to_pylist()
        ids = _ids(table)
        assert (segment.min_at, segment.max_at) == (min(ats), max(ats))
        assert (segment.min_id, segment.max_id) == (min(ids), max(ids))
        assert segment.rows == table.num_rows
        assert stores.artifacts.size(segment.digest) == segment.size_bytes  # type: ignore[arg-type]
        seen += ids
    assert sorted(seen) == sorted(r.id for r in records)


def test_segments_roll_by_time(stores: Stores) -> None:
    writer = stores.writer(max_rows=100_000, max_seconds=0.1)
    writer.submit_many([_record(i) for i in range(10)])
    _wait_for(lambda: writer.written == 10)
    writer.submit_many([_record(i) for i in range(10, 15)])
    _wait_for(lambda: writer.written == 15)
    segments = stores.metadata.predictions.find_segments()
    assert [s.rows for s in segments] == [10, 5]
    assert segments[0].max_at < segments[1].min_at


def test_a_model_swap_writes_one_segment_per_version(stores: Stores) -> None:
    writer = stores.writer()
    records = [_record(i, version=("v1", "v2", "v3")[i % 3]) for i in range(30)]
    writer.submit_many(records)
    writer.flush()
    segments = stores.metadata.predictions.find_segments()
    assert sorted(s.model_version_id for s in segments) == ["v1", "v2", "v3"]
    for segment in segments:
        table = read_segment(stores.artifacts, segment)
        assert set(table["model_version_id"].to_pylist()) == {segment.model_version_id}
        assert segment.rows == 10


def test_a_full_queue_drops_counts_and_never_blocks(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread is held inside a segment write until the test releases it.
    release, entered = threading.Event(), threading.Event()
    put_bytes = stores.artifacts.put_bytes

    def held_put_bytes(data: bytes) -> Any:
        entered.set()
        if not release.wait(timeout=30):
            raise AssertionError("never released")
        return put_bytes(data)

    monkeypatch.setattr(stores.artifacts, "put_bytes", held_put_bytes)
    writer = stores.writer(max_rows=2, max_seconds=3600, queue_size=4)
    first = [_record(i) for i in range(2)]
    assert all(writer.submit(r) for r in first)
    assert entered.wait(timeout=20)
    more = [_record(i) for i in range(2, 6)]
    accepted = [writer.submit(r) for r in more]  # the thread is stuck; these must not wait
    assert accepted == [True, True, False, False]
    assert writer.submit_many([_record(9), _record(10)]) == 0
    assert (writer.dropped, writer.depth) == (4, 4)
    release.set()
    writer.flush()
    assert writer.written == 4
    assert sorted(_ids(read_predictions(stores.metadata, stores.artifacts))) == sorted(
        r.id for r in first + more[:2]
    )


def test_flush_is_durable_for_a_fresh_reader(stores: Stores) -> None:
    writer = stores.writer(max_rows=1_000_000, max_seconds=3600)
    records = [_record(i) for i in range(500)]
    writer.submit_many(records)
    writer.flush()
    metadata, artifacts = stores.fresh()
    try:
        table = read_predictions(metadata, artifacts)
    finally:
        metadata.close()
    assert sorted(_ids(table)) == sorted(r.id for r in records)


def test_close_is_idempotent_and_later_submits_are_dropped(stores: Stores) -> None:
    writer = stores.writer(max_rows=1_000_000, max_seconds=3600)
    writer.submit_many([_record(i) for i in range(7)])
    writer.close()
    writer.close()
    assert writer.written == 7
    assert writer.submit(_record(8)) is False
    assert writer.dropped == 1
    assert len(stores.metadata.predictions.find_segments()) == 1


def test_a_failed_write_is_kept_and_retried(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_bytes = stores.artifacts.put_bytes
    calls = {"n": 0}

    def failing_once(data: bytes) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("disk full")
        return put_bytes(data)

    monkeypatch.setattr(stores.artifacts, "put_bytes", failing_once)
    writer = stores.writer(max_rows=1_000_000, max_seconds=3600)
    records = [_record(i) for i in range(20)]
    writer.submit_many(records)
    with pytest.raises(StoreError, match="could not write a segment: disk full"):
        writer.flush()
    assert (writer.failures, writer.written, writer.depth) == (1, 0, 20)
    assert isinstance(writer.last_error, StoreError)
    writer.flush()
    assert (writer.written, writer.depth) == (20, 0)
    assert sorted(_ids(read_predictions(stores.metadata, stores.artifacts))) == sorted(
        r.id for r in records
    )


def test_the_thread_retries_a_failed_write_by_itself(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_segment = stores.metadata.predictions.add_segment
    calls = {"n": 0}

    def failing_twice(segment: Any) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise StoreError("database is locked")
        add_segment(segment)

    monkeypatch.setattr(stores.metadata.predictions, "add_segment", failing_twice)
    # Fewer rows than max_rows: the retries are driven by the time limit and the backoff.
    writer = stores.writer(max_rows=1_000, max_seconds=0.05)
    writer.submit_many([_record(i) for i in range(5)])
    _wait_for(lambda: writer.written == 5)
    assert writer.failures == 2
    assert len(stores.metadata.predictions.find_segments()) == 1  # no duplicate index row


def test_malformed_records_are_left_out_and_counted(stores: Stores) -> None:
    writer = stores.writer()
    good = _record(1)
    bad_source = _record(2, source="grpc")
    not_json = PredictionRecord(new_id(), BASE_MS, "v1", 1.0, {"x": object()}, {}, "http")
    assert writer.submit_many([good, bad_source, not_json]) == 1
    assert writer.rejected == 2  # refused at submit, before anything is queued
    assert not writer.submit(_record(3, at=2**63))
    writer.flush()
    assert (writer.written, writer.rejected, writer.dropped) == (1, 3, 0)
    assert "at=9223372036854775808 is not epoch milliseconds" in str(writer.last_error)
    assert _ids(read_predictions(stores.metadata, stores.artifacts)) == [good.id]


def test_a_string_column_past_int32_offsets_is_split_into_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelcycle.store.predictions import _rows, _segments

    monkeypatch.setattr(_segments, "_OFFSETS_LIMIT", 1_000)  # stands for 2 GiB
    records = [_record(i) for i in range(40)]  # about 100 bytes of inputs each
    table = _segments.table_from_rows([_rows.encode_row(r) for r in records])
    assert table["inputs"].num_chunks > 1
    table.validate(full=True)
    assert to_records(table) == [
        PredictionRecord(
            r.id, r.at, r.model_version_id, r.latency_ms, dict(r.inputs), dict(r.outputs), r.source
        )
        for r in records
    ]


def test_writing_segments_imports_no_pandas(tmp_path: Path) -> None:
    # pa.array() imports pandas to probe its input: about 60 MiB in every serving process.
    script = textwrap.dedent(
        """
        import sys
        from modelcycle.core.entities.prediction import PredictionRecord
        from modelcycle.core.ids import new_id
        from modelcycle.store.artifacts import open_artifact_store
        from modelcycle.store.metadata import open_metadata_store
        from modelcycle.store.predictions import PredictionLogWriter

        metadata = open_metadata_store(sys.argv[1])
        writer = PredictionLogWriter(metadata, open_artifact_store(sys.argv[2]), max_rows=3)
        for version in ("v1", "v2"):
            writer.submit_many(
                PredictionRecord(new_id(), 1, version, 0.5, {"x": i}, {"y": i}) for i in range(5)
            )
        writer.close()
        assert writer.written == 10, writer.last_error
        print("pandas" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("limit", "value"), [("max_rows", 0), ("max_seconds", -1.0), ("queue_size", True)]
)
def test_limits_must_be_positive(stores: Stores, limit: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"{limit}=.* must be a positive number"):
        PredictionLogWriter(stores.metadata, stores.artifacts, **{limit: value})  # type: ignore[arg-type]


def test_the_reader_filters_by_version_time_and_id(stores: Stores) -> None:
    writer = stores.writer(max_rows=10)
    records = [_record(i, version="v1" if i < 30 else "v2", at=BASE_MS + i * 10) for i in range(60)]
    writer.submit_many(records)
    writer.flush()
    read = stores.metadata, stores.artifacts

    def ids_of(**filters: Any) -> list[str]:
        return _ids(read_predictions(*read, **filters))

    assert ids_of(model_version_id="v2") == [r.id for r in records[30:]]
    assert ids_of(since_ms=BASE_MS + 100, until_ms=BASE_MS + 200) == [r.id for r in records[10:20]]
    assert ids_of(model_version_id="v1", since_ms=BASE_MS + 250) == [r.id for r in records[25:30]]
    picked = [records[3].id, records[41].id, records[58].id]
    assert ids_of(ids=picked) == picked
    assert ids_of(ids=picked, model_version_id="v1") == [records[3].id]
    assert ids_of(model_version_id="v9") == []
    empty = read_predictions(*read, ids=[])
    assert (empty.num_rows, empty.schema) == (0, SEGMENT_SCHEMA)
    with pytest.raises(InvalidInput, match="prediction id 'nope' is not"):
        read_predictions(*read, ids=["nope"])
    with pytest.raises(InvalidInput, match=r"since_ms='1' must be epoch milliseconds"):
        read_predictions(*read, since_ms="1")  # type: ignore[arg-type]


def test_find_prediction_uses_the_id_ranges(stores: Stores) -> None:
    writer = stores.writer(max_rows=7)
    records = [_record(i) for i in range(40)]
    writer.submit_many(records)
    writer.flush()
    assert len(stores.metadata.predictions.find_segments()) == 6
    for record in (records[0], records[22], records[-1]):
        assert find_prediction(stores.metadata, stores.artifacts, record.id) == record
    assert find_prediction(stores.metadata, stores.artifacts, new_id()) is None
    with pytest.raises(InvalidInput, match="prediction id 'x' is not a 32-character hex id"):
        find_prediction(stores.metadata, stores.artifacts, "x")


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from modelcycle.core.entities.prediction import PredictionRecord
    from modelcycle.core.ids import new_id
    from modelcycle.store.artifacts import open_artifact_store
    from modelcycle.store.metadata import open_metadata_store
    from modelcycle.store.predictions import PredictionLogWriter

    writer = PredictionLogWriter(
        open_metadata_store(sys.argv[1]), open_artifact_store(sys.argv[2]),
        max_rows=1_000_000, max_seconds=3600,
    )
    def record(i):
        return PredictionRecord(new_id(), 1_800_000_000_000 + i, "v1", 1.0, {"i": i}, {}, "http")
    flushed = [record(i) for i in range(300)]
    writer.submit_many(flushed)
    writer.flush()
    writer.submit_many(record(i) for i in range(300, 400))  # not flushed: may be lost
    print(json.dumps([r.id for r in flushed]), flush=True)
    time.sleep(60)
    """
)


def test_a_sigkill_after_flush_loses_nothing_flushed(stores: Stores) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, stores.metadata_url, stores.artifacts_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=20) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    flushed = json.loads(line)
    metadata, artifacts = stores.fresh()
    try:
        got = _ids(read_predictions(metadata, artifacts))
    finally:
        metadata.close()
    assert set(flushed) <= set(got)
    assert len(got) == len(set(got))


def test_concurrent_submitters_get_every_accepted_record_exactly_once(stores: Stores) -> None:
    writer = stores.writer(max_rows=64, max_seconds=0.02, queue_size=2_000)
    accepted: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def submit(worker: int) -> None:
        start.wait()
        for i in range(1_500):
            record = _record(i, version=f"v{worker % 3}")
            if writer.submit(record):
                accepted[worker].append(record.id)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    everything = [i for ids in accepted for i in ids]
    got = _ids(read_predictions(stores.metadata, stores.artifacts))
    assert len(got) == len(set(got)) == len(everything) == writer.written
    assert set(got) == set(everything)
    assert writer.written + writer.dropped == 8 * 1_500
    assert len(stores.metadata.predictions.find_segments()) > 8


@pytest.mark.postgres
@pytest.mark.s3
def test_the_log_on_postgresql_and_s3(postgres_url: str, s3_url: str) -> None:
    s = Stores(postgres_url, s3_url)
    try:
        writer = s.writer(max_rows=25)
        records = [_record(i, version="v1" if i % 4 else "v2") for i in range(100)]
        writer.submit_many(records)
        writer.close()
        metadata, artifacts = s.fresh()
        try:
            table = read_predictions(metadata, artifacts, model_version_id="v2")
            assert to_records(table) == [r for r in records if r.model_version_id == "v2"]
            assert find_prediction(metadata, artifacts, records[57].id) == records[57]
            assert len(metadata.predictions.find_segments()) == 4  # v1: 25+25+25, v2: 25
        finally:
            metadata.close()
    finally:
        s.metadata.close()
