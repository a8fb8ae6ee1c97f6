"""Feedback joined to logged predictions: one label, bulk files and frames, the labelled window.

Predictions are written with ``PredictionLogWriter`` into a real SQLite file (once into
PostgreSQL) and an artifact folder; feedback is read back through the store.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.monitor.feedback import (
    SAMPLE_SIZE,
    labelled_predictions,
    record_feedback,
    record_feedback_bulk,
)
from modelcycle.store.artifacts import ArtifactStore, open_artifact_store
from modelcycle.store.metadata import SqlMetadataStore, open_metadata_store
from modelcycle.store.predictions import PredictionLogWriter

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

BASE_MS = 1_800_000_000_000
V1, V2 = "1" * 32, "2" * 32


class Log:
    """Stores with logged predictions."""

    def __init__(self, metadata_url: str, artifacts_url: str) -> None:
        self.metadata: SqlMetadataStore = open_metadata_store(metadata_url)
        self.artifacts: ArtifactStore = open_artifact_store(artifacts_url)

    def write(self, records: Sequence[PredictionRecord], max_rows: int = 20_000) -> None:
        with PredictionLogWriter(
            self.metadata, self.artifacts, max_rows=max_rows, max_seconds=3600
        ) as writer:
            assert writer.submit_many(records) == len(records)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Log]:
    monkeypatch.setenv("MODELCYCLE_USER", "tester")
    s = Log(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    yield s
    s.metadata.close()


def _id_at(at: int) -> str:
    return f"{at:012x}{os.urandom(10).hex()}"


def _records(n: int, version: str = V1, start: int = 0) -> list[PredictionRecord]:
    return [
        PredictionRecord(
            id=_id_at(BASE_MS + (start + i) * 10),
            at=BASE_MS + (start + i) * 10,
            model_version_id=version,
            latency_ms=1.0,
            inputs={"age": start + i, "label": "a feature"},
            outputs={"prediction": (start + i) % 2},
            source="http",
        )
        for i in range(n)
    ]


# -- one label ------------------------------------------------------------------------------


def test_one_label_is_stored_and_relabelling_keeps_the_old_one(log: Log) -> None:
    records = _records(10)
    log.write(records)
    target = records[4].id
    first = record_feedback(log.metadata, log.artifacts, target, 1)
    assert (first.label, first.model_version_id, first.actor, first.source) == (
        1,
        V1,
        "tester",
        "sdk",
    )
    again = record_feedback(
        log.metadata, log.artifacts, target, "churned", actor="ana", source="http"
    )
    assert (again.label, again.revision, again.actor, again.source) == (
        "churned",
        2,
        "ana",
        "http",
    )
    assert [f.label for f in log.metadata.feedback.history(target)] == [1, "churned"]
    assert log.metadata.feedback.count() == 1


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (None, "label is None"),
        (math.nan, "label nan is not a finite number"),
        (object(), "is not JSON-encodable"),
    ],
)
def test_a_label_that_cannot_be_stored_is_refused(log: Log, label: Any, message: str) -> None:
    records = _records(1)
    log.write(records)
    with pytest.raises(InvalidInput, match=message):
        record_feedback(log.metadata, log.artifacts, records[0].id, label)
    assert log.metadata.feedback.count() == 0


def test_an_unknown_or_malformed_id_is_refused_by_name(log: Log) -> None:
    log.write(_records(5))
    unknown = _id_at(BASE_MS + 20)  # inside the logged id range, but never logged
    with pytest.raises(NotFound, match=f"no logged prediction has id '{unknown}'"):
        record_feedback(log.metadata, log.artifacts, unknown, 1)
    with pytest.raises(InvalidInput, match="prediction id 'p-17' is not a 32-character hex id"):
        record_feedback(log.metadata, log.artifacts, "p-17", 1)
    assert log.metadata.feedback.count() == 0


# -- bulk -----------------------------------------------------------------------------------


def test_a_csv_file_stores_known_ids_and_reports_the_rest(log: Log, tmp_path: Path) -> None:
    records = _records(40)
    digits_only = PredictionRecord("1" * 32, BASE_MS, V2, 1.0, {"age": 1}, {"prediction": 1})
    log.write([*records, digits_only])
    unknown = [_id_at(BASE_MS + 5 + i) for i in range(12)]
    rows = [
        *[(r.id, i % 2) for i, r in enumerate(records[:20])],
        (digits_only.id, 1),  # read as text, not as a number
        *[(u, 0) for u in unknown],
        ("not-an-id", 1),
        (records[30].id, None),  # no label
        (records[0].id, 7),  # again: the last label wins
    ]
    path = tmp_path / "labels.csv"
    path.write_text(
        "prediction_id,label\n"
        + "".join(f"{pid},{'' if label is None else label}\n" for pid, label in rows)
    )
    summary = record_feedback_bulk(log.metadata, log.artifacts, path)
    assert (summary.received, summary.recorded, summary.relabelled) == (36, 21, 0)
    assert (summary.unknown, summary.invalid, summary.duplicates) == (12, 2, 1)
    assert summary.unknown_ids == tuple(unknown[:SAMPLE_SIZE])
    assert summary.invalid_rows == (
        "row 33: prediction id not-an-id is not a 32-character hex id",
        "row 34: the label is missing or not a finite number",
    )
    assert log.metadata.feedback.get(records[0].id).label == 7
    assert log.metadata.feedback.get(records[3].id).label == 1
    stored = log.metadata.feedback.get(digits_only.id)
    assert (stored.model_version_id, stored.source, stored.actor) == (V2, "file", "tester")
    assert log.metadata.feedback.count() == 21
    assert json.loads(json.dumps(summary.to_dict()))["unknown"] == 12


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "tsv", "polars", "pandas", "arrow"])
def test_every_kind_of_bulk_input(log: Log, tmp_path: Path, kind: str) -> None:
    records = _records(6)
    log.write(records)
    frame = pl.DataFrame({"prediction_id": [r.id for r in records], "label": list("abcabc")})
    data: object = frame
    if kind == "parquet":
        frame.write_parquet(data := tmp_path / "labels.parquet")
    elif kind == "jsonl":
        frame.write_ndjson(data := tmp_path / "labels.jsonl")
    elif kind == "tsv":
        frame.write_csv(data := tmp_path / "labels.tsv", separator="\t")
    elif kind == "pandas":
        data = frame.to_pandas()
    elif kind == "arrow":
        data = frame.to_arrow()
    summary = record_feedback_bulk(log.metadata, log.artifacts, data, actor="ana")
    assert (summary.recorded, summary.unknown, summary.invalid) == (6, 0, 0)
    assert [f.label for f in log.metadata.feedback.labels()] == list("abcabc")


def test_labels_of_every_json_kind_round_trip(log: Log) -> None:
    records = _records(4)
    log.write(records)
    relabelled = []
    for labels in ([1.5, 2.0, -0.25, 1e300], [True, False, True, True], [[1, 2], [], [3], [4]]):
        frame = pl.DataFrame({"prediction_id": [r.id for r in records], "label": labels})
        summary = record_feedback_bulk(log.metadata, log.artifacts, frame)
        assert summary.recorded == 4
        relabelled.append(summary.relabelled)
        assert [f.label for f in log.metadata.feedback.labels()] == labels
    assert relabelled == [0, 4, 4]


def test_bulk_lookup_reads_only_segments_in_the_id_range(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(200)
    log.write(records, max_rows=20)  # ten segments, in time (and id) order
    reads = {"n": 0}
    read_bytes = log.artifacts.read_bytes

    def counted(digest: Any) -> bytes:
        reads["n"] += 1
        return read_bytes(digest)

    monkeypatch.setattr(log.artifacts, "read_bytes", counted)
    picked = records[45:75]  # segments 3 and 4 of 10
    frame = pl.DataFrame({"prediction_id": [r.id for r in picked], "label": [1] * len(picked)})
    summary = record_feedback_bulk(log.metadata, log.artifacts, frame)
    assert summary.recorded == 30
    assert reads["n"] == 2


def test_a_bulk_of_unknown_ids_only_stores_nothing(log: Log) -> None:
    log.write(_records(3))
    frame = pl.DataFrame({"prediction_id": [_id_at(BASE_MS + 1)], "label": [1]})
    summary = record_feedback_bulk(log.metadata, log.artifacts, frame)
    assert (summary.recorded, summary.unknown) == (0, 1)
    empty = pl.DataFrame(
        {"prediction_id": [], "label": []}, schema={"prediction_id": pl.String, "label": pl.Int64}
    )
    assert record_feedback_bulk(log.metadata, log.artifacts, empty).received == 0
    assert log.metadata.feedback.count() == 0


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            pl.DataFrame({"id": ["a"], "label": [1]}),
            InvalidInput,
            r"lacks the column\(s\) \['prediction_id'\]",
        ),
        (pd.DataFrame({"prediction_id": ["a"]}), InvalidInput, r"\['label'\]"),
        (pa.array([1, 2]), InvalidInput, "is not a table"),
        ([("a", 1)], InvalidInput, "takes a file path or a DataFrame/Arrow table, got list"),
        ("labels.xlsx", InvalidInput, "cannot read feedback from 'labels.xlsx': use a"),
        ("missing.csv", NotFound, "no feedback file at"),
    ],
)
def test_bulk_input_that_cannot_be_read_is_refused(
    log: Log, data: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        record_feedback_bulk(log.metadata, log.artifacts, data)


def test_a_malformed_csv_is_a_clear_error(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('prediction_id,label\n"unterminated,1\nx,2,3,4\n')
    with pytest.raises(InvalidInput, match=r"cannot read feedback from 'broken\.csv'"):
        record_feedback_bulk(log.metadata, log.artifacts, path)


# -- the labelled window -------------------------------------------------------------------


def test_labels_join_the_window_by_id(log: Log) -> None:
    records = _records(30)
    others = _records(10, version=V2, start=100)
    log.write([*records, *others])
    labelled = {r.id: i % 3 for i, r in enumerate(records) if i % 2 == 0}
    frame = pl.DataFrame({"prediction_id": list(labelled), "label": list(labelled.values())})
    frame = pl.concat([frame, pl.DataFrame({"prediction_id": [others[0].id], "label": [9]})])
    record_feedback_bulk(log.metadata, log.artifacts, frame)
    inner = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1)
    assert inner["id"].to_list() == list(labelled)
    assert inner["label"].to_list() == list(labelled.values())
    assert inner["input.label"].to_list() == ["a feature"] * len(labelled)
    assert inner["label_at"].dtype == pl.Datetime("ms", "UTC")
    assert inner["age"].to_list() == [i for i in range(30) if i % 2 == 0]
    left = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1, how="left")
    assert left["id"].to_list() == [r.id for r in records]
    assert left["label"].null_count() == 15
    newest = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1, last=5)
    assert newest["id"].to_list() == [r.id for r in records[25:30] if r.id in labelled]
    both = labelled_predictions(log.metadata, log.artifacts, model_version_ids=[V1, V2])
    assert both["label"].to_list()[-1] == 9


def test_a_window_without_labels_is_empty_not_an_error(log: Log) -> None:
    log.write(_records(5))
    frame = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1)
    assert frame.height == 0
    assert "label" in frame.columns
    left = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1, how="left")
    assert left.height == 5
    with pytest.raises(InvalidInput, match="the window holds no predictions"):
        labelled_predictions(log.metadata, log.artifacts, model_version_ids=V2)
    with pytest.raises(InvalidInput, match="how='outer' must be 'inner' or 'left'"):
        labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1, how="outer")  # type: ignore[arg-type]


@pytest.mark.postgres
def test_bulk_feedback_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    log = Log(postgres_url, str(tmp_path / "artifacts"))
    try:
        records = _records(50)
        log.write(records, max_rows=8)
        frame = pl.DataFrame({"prediction_id": [r.id for r in records], "label": [1] * 50})
        assert record_feedback_bulk(log.metadata, log.artifacts, frame, actor="a").recorded == 50
        again = record_feedback_bulk(log.metadata, log.artifacts, frame.head(10), actor="a")
        assert (again.recorded, again.relabelled) == (10, 10)
        joined = labelled_predictions(log.metadata, log.artifacts, model_version_ids=V1, last=7)
        assert joined["label"].to_list() == [1] * 7
    finally:
        log.metadata.close()
