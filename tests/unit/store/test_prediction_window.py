"""Windows of the prediction log as flat frames, read from real segments.

Predictions are written with ``PredictionLogWriter`` into a real SQLite file (and once into
PostgreSQL) and an artifact folder, then read back through ``read_window``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import new_id
from modelcycle.store.artifacts import ArtifactStore, open_artifact_store
from modelcycle.store.metadata import SqlMetadataStore, open_metadata_store
from modelcycle.store.predictions import PredictionLogWriter
from modelcycle.store.predictions.window import BASE_COLUMNS, find_logged, read_window

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

BASE_MS = 1_800_000_000_000
V1, V2 = "1" * 32, "2" * 32


class Log:
    """A metadata store and an artifact folder, written to through the log writer."""

    def __init__(self, metadata_url: str, artifacts_url: str) -> None:
        self.metadata: SqlMetadataStore = open_metadata_store(metadata_url)
        self.artifacts: ArtifactStore = open_artifact_store(artifacts_url)

    def write(self, records: Sequence[PredictionRecord], max_rows: int = 20_000) -> None:
        with PredictionLogWriter(
            self.metadata, self.artifacts, max_rows=max_rows, max_seconds=3600
        ) as writer:
            assert writer.submit_many(records) == len(records)

    def window(self, **options: Any) -> pl.DataFrame:
        return read_window(self.metadata, self.artifacts, **options)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    s = Log(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    yield s
    s.metadata.close()


def _id_at(at: int) -> str:
    """A prediction id made at ``at``, as ``new_id()`` makes them (time first, then random)."""
    return f"{at:012x}{os.urandom(10).hex()}"


def _record(
    i: int,
    version: str = V1,
    *,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> PredictionRecord:
    at = BASE_MS + i * 10
    return PredictionRecord(
        id=_id_at(at),
        at=at,
        model_version_id=version,
        latency_ms=1.0 + i,
        inputs={"age": 20 + i, "city": f"c{i % 3}", "score": i / 4} if inputs is None else inputs,
        outputs={"prediction": i % 2, "proba_0": 0.25, "proba_1": 0.75}
        if outputs is None
        else outputs,
        source="http",
    )


def test_a_window_is_flat_with_one_column_per_feature_and_output(log: Log) -> None:
    records = [_record(i) for i in range(50)]
    log.write(records)
    frame = log.window(model_version_ids=V1)
    assert frame.columns == [
        *BASE_COLUMNS,
        "age",
        "city",
        "score",
        "output.prediction",
        "output.proba_0",
        "output.proba_1",
    ]
    assert frame["id"].to_list() == [r.id for r in records]
    assert frame["age"].to_list() == list(range(20, 70))
    assert frame["age"].dtype == pl.Int64
    assert frame["city"].to_list()[:4] == ["c0", "c1", "c2", "c0"]
    assert frame["score"].to_list()[3] == 0.75
    assert frame["output.prediction"].to_list()[:3] == [0, 1, 0]
    assert frame["latency_ms"].to_list()[2] == 3.0
    assert frame["at"].dtype == pl.Datetime("ms", "UTC")
    assert frame["at"].dt.epoch("ms").to_list() == [r.at for r in records]
    assert set(frame["source"].to_list()) == {"http"}


def test_versions_and_time_bounds_select_rows(log: Log) -> None:
    records = [_record(i, V1 if i % 3 else V2) for i in range(60)]
    log.write(records, max_rows=7)
    both = log.window(model_version_ids=[V1, V2])
    assert both["id"].to_list() == [r.id for r in records]
    only_v2 = log.window(model_version_ids=[V2])
    assert only_v2["id"].to_list() == [r.id for r in records if r.model_version_id == V2]
    bounded = log.window(model_version_ids=[V1, V2], since_ms=BASE_MS + 100, until_ms=BASE_MS + 200)
    assert bounded["id"].to_list() == [r.id for r in records[10:20]]
    assert log.window(model_version_ids=[V1], until_ms=BASE_MS + 40)["id"].to_list() == [
        r.id for r in records[1:4] if r.model_version_id == V1
    ]


def test_last_reads_only_the_newest_segments(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [_record(i, V1 if i % 2 else V2) for i in range(200)]
    log.write(records, max_rows=10)  # 20 segments, 10 per version
    reads = {"n": 0}
    read_bytes = log.artifacts.read_bytes

    def counted(digest: Any) -> bytes:
        reads["n"] += 1
        return read_bytes(digest)

    monkeypatch.setattr(log.artifacts, "read_bytes", counted)
    newest = log.window(model_version_ids=[V1, V2], last=25)
    assert newest["id"].to_list() == [r.id for r in records[-25:]]
    assert reads["n"] <= 4  # 25 rows span three or four of the 20 segments
    reads["n"] = 0
    assert (
        log.window(model_version_ids=V1, last=3)["id"].to_list()
        == [r.id for r in records if r.model_version_id == V1][-3:]
    )
    assert reads["n"] == 1
    in_range = log.window(model_version_ids=[V1, V2], last=5, until_ms=BASE_MS + 500)
    assert in_range["id"].to_list() == [r.id for r in records[45:50]]
    everything = log.window(model_version_ids=[V1, V2], last=10_000)
    assert everything.height == 200
    for n in (1, 9, 10, 11, 99, 101, 199):
        assert log.window(model_version_ids=[V1, V2], last=n).equals(everything.tail(n))


def test_last_keeps_ties_on_time_in_id_order(log: Log) -> None:
    same_time = [
        PredictionRecord(new_id(), BASE_MS, V1, 1.0, {"x": i}, {"prediction": i}, "batch")
        for i in range(30)
    ]
    log.write(same_time, max_rows=4)
    frame = log.window(model_version_ids=V1, last=6)
    assert frame["id"].to_list() == sorted(r.id for r in same_time)[-6:]


def test_features_absent_from_some_rows_are_null_and_clashing_names_are_prefixed(
    log: Log,
) -> None:
    records = [
        _record(0, inputs={"age": 30, "source": "web", "output.x": 1}, outputs={"p": 1}),
        _record(1, inputs={"age": 31.5, "plan": "pro"}, outputs={"p": 0, "extra": [1, 2]}),
        _record(2, inputs={"plan": None}, outputs={}),
    ]
    log.write(records)
    frame = log.window(model_version_ids=V1)
    assert frame.columns == [
        *BASE_COLUMNS,
        "age",
        "input.source",
        "input.output.x",
        "plan",
        "output.p",
        "output.extra",
    ]
    assert frame["age"].to_list() == [30.0, 31.5, None]
    assert frame["input.source"].to_list() == ["web", None, None]
    assert frame["source"].to_list() == ["http"] * 3
    assert frame["plan"].to_list() == [None, "pro", None]
    assert frame["output.extra"].to_list() == [None, [1, 2], None]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([12345, "AB-1", None], ["12345", "AB-1", None]),  # numbers and text: text
        (["2024-01-31", "2024-02-01", None], ["2024-01-31", "2024-02-01", None]),  # dates stay text
        ([1, 2.5, 3], [1.0, 2.5, 3.0]),
    ],
)
def test_a_feature_keeps_its_common_type(log: Log, values: list[Any], expected: list[Any]) -> None:
    records = [_record(i, inputs={"zip": v}, outputs={"p": i}) for i, v in enumerate(values)]
    log.write(records)
    frame = log.window(model_version_ids=V1)
    assert frame["zip"].to_list() == expected
    assert frame["output.p"].to_list() == [0, 1, 2]


def test_an_empty_window_is_a_clear_error_or_an_empty_frame(log: Log) -> None:
    log.write([_record(i) for i in range(5)])
    with pytest.raises(
        InvalidInput,
        match=rf"the window holds no predictions: model version {V2}, the last 10\. Check",
    ):
        log.window(model_version_ids=V2, last=10)
    with pytest.raises(InvalidInput, match=r"no predictions: model version 1{32}, since \d+ ms"):
        log.window(model_version_ids=V1, since_ms=BASE_MS + 1_000)
    empty = log.window(model_version_ids=V1, since_ms=BASE_MS + 1_000, allow_empty=True)
    assert (empty.height, empty.columns) == (0, list(BASE_COLUMNS))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model_version_ids": []}, r"model_version_ids=\[\] must name at least one"),
        ({"model_version_ids": [""]}, "must name at least one model version id"),
        ({"model_version_ids": V1, "last": 0}, "last=0 must be a positive number"),
        ({"model_version_ids": V1, "last": 2.5}, r"last=2\.5 must be an int or None"),
        ({"model_version_ids": V1, "since_ms": "1"}, "since_ms='1' must be an int or None"),
        (
            {"model_version_ids": V1, "since_ms": 5, "until_ms": 5},
            "since_ms=5 must be before until_ms=5",
        ),
    ],
)
def test_malformed_windows_are_refused(log: Log, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        log.window(**options)


def test_find_logged_reads_only_segments_holding_the_ids(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [_record(i, V1 if i < 100 else V2) for i in range(200)]
    log.write(records, max_rows=10)  # 20 segments
    reads = {"n": 0}
    read_bytes = log.artifacts.read_bytes

    def counted(digest: Any) -> bytes:
        reads["n"] += 1
        return read_bytes(digest)

    monkeypatch.setattr(log.artifacts, "read_bytes", counted)
    # Ids in segments 2 and 15, an unknown id between them (its range holds no segment read
    # more), a repeat, and an id older than the whole log.
    picked = [records[25], records[152], records[25]]
    unknown = [_id_at(BASE_MS + 1_005), _id_at(BASE_MS - 50)]
    found = find_logged(log.metadata, log.artifacts, pl.Series([r.id for r in picked] + unknown))
    assert found.rows() == sorted({(r.id, r.model_version_id) for r in picked})
    assert reads["n"] == 3  # segments 2 and 15, and the one whose range holds unknown[0]
    empty = find_logged(log.metadata, log.artifacts, pl.Series([], dtype=pl.String))
    assert (empty.height, empty.columns) == (0, ["id", "model_version_id"])


@pytest.mark.postgres
def test_a_window_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    log = Log(postgres_url, str(tmp_path / "artifacts"))
    try:
        records = [_record(i, V1 if i % 4 else V2) for i in range(80)]
        log.write(records, max_rows=9)
        frame = log.window(model_version_ids=[V2], last=5)
        assert frame["id"].to_list() == [r.id for r in records if r.model_version_id == V2][-5:]
        assert frame["age"].to_list() == [20 + i for i in range(80) if i % 4 == 0][-5:]
    finally:
        log.metadata.close()
