"""Segments of the prediction log: records to Arrow, Arrow to Parquet blobs and index rows.

Imported only when the log first writes or reads, so that pyarrow and orjson stay off
``import modelcycle``.
"""

from __future__ import annotations

import io
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import Digest, new_id
from modelcycle.store.metadata.predictions import PredictionSegment

if TYPE_CHECKING:
    from collections.abc import Iterable

    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

SEGMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("model_version_id", pa.string(), nullable=False),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("inputs", pa.string(), nullable=False),
        pa.field("outputs", pa.string(), nullable=False),
    ]
)
"""The columns of every segment; ``inputs`` and ``outputs`` hold one JSON object per row."""

SOURCES = frozenset({"http", "batch"})
_ID_RE = re.compile(r"[0-9a-f]{32}")
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class Encoded:
    """Records turned into a table, and the ones that could not be."""

    table: pa.Table
    rejected: list[str] = field(default_factory=list)


def encode(records: Iterable[PredictionRecord]) -> Encoded:
    """The records as one table in ``SEGMENT_SCHEMA``, skipping (and naming) malformed ones."""
    columns: dict[str, list[Any]] = {name: [] for name in SEGMENT_SCHEMA.names}
    rejected: list[str] = []
    for record in records:
        try:
            row = _encode_one(record)
        except (InvalidInput, TypeError, orjson.JSONEncodeError) as error:
            rejected.append(f"prediction {getattr(record, 'id', record)!r}: {error}")
            continue
        for name, value in zip(SEGMENT_SCHEMA.names, row, strict=True):
            columns[name].append(value)
    table = pa.table(
        {f.name: pa.array(columns[f.name], f.type) for f in SEGMENT_SCHEMA}, schema=SEGMENT_SCHEMA
    )
    return Encoded(table, rejected)


def _encode_one(record: object) -> tuple[Any, ...]:
    # Fields are checked as plain objects: records come from callers' code, not a type checker.
    if not isinstance(record, PredictionRecord):
        raise InvalidInput(f"{type(record).__name__} is not a PredictionRecord")
    record_id: object = record.id
    at: object = record.at
    version: object = record.model_version_id
    latency: object = record.latency_ms
    if not isinstance(record_id, str) or not _ID_RE.fullmatch(record_id):
        raise InvalidInput("the id is not a 32-character hex id (use core.ids.new_id())")
    if not isinstance(at, int) or isinstance(at, bool):
        raise InvalidInput(f"at={at!r} is not epoch milliseconds (an int)")
    if not isinstance(version, str) or not version:
        raise InvalidInput(f"model_version_id={version!r} is not a non-empty str")
    if not isinstance(latency, int | float) or isinstance(latency, bool) or math.isnan(latency):
        raise InvalidInput(f"latency_ms={latency!r} is not a number")
    if record.source not in SOURCES:
        raise InvalidInput(f"source={record.source!r} is not one of {sorted(SOURCES)}")
    return (
        record_id,
        at,
        version,
        float(latency),
        record.source,
        orjson.dumps(record.inputs, option=_JSON_OPTIONS).decode(),
        orjson.dumps(record.outputs, option=_JSON_OPTIONS).decode(),
    )


def split(table: pa.Table, max_rows: int) -> list[pa.Table]:
    """Cut ``table`` into segments: one model version each, sorted by id, ``max_rows`` at most."""
    versions = table["model_version_id"]
    pieces: list[pa.Table] = []
    for version in pc.unique(versions).to_pylist():
        part = table.filter(pc.equal(versions, version)).sort_by("id")
        pieces.extend(part.slice(start, max_rows) for start in range(0, part.num_rows, max_rows))
    return pieces


def write_segment(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, table: pa.Table
) -> PredictionSegment:
    """Store ``table`` (one model version) as a Parquet blob, then index it in one row.

    The blob is content-addressed and written atomically; if indexing fails, writing the same
    table again stores no second blob.
    """
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    digest, size = artifacts.put_bytes(buffer.getvalue())
    ats = pc.min_max(table["at"].cast(pa.int64()))
    ids = pc.min_max(table["id"])
    segment = PredictionSegment(
        id=new_id(),
        model_version_id=table["model_version_id"][0].as_py(),
        min_at=ats["min"].as_py(),
        max_at=ats["max"].as_py(),
        min_id=ids["min"].as_py(),
        max_id=ids["max"].as_py(),
        rows=table.num_rows,
        digest=digest,
        size_bytes=size,
        created_at=time.time_ns() // 1_000_000,
    )
    metadata.predictions.add_segment(segment)
    return segment


def read_segment(artifacts: ArtifactStore, segment: PredictionSegment) -> pa.Table:
    """The rows of ``segment``, verified against its digest."""
    data = artifacts.read_bytes(Digest(segment.digest))
    return pq.read_table(pa.BufferReader(data)).cast(SEGMENT_SCHEMA)


def to_records(table: pa.Table) -> list[PredictionRecord]:
    """The rows of a table in ``SEGMENT_SCHEMA`` as records (JSON columns parsed)."""
    columns = table.select(SEGMENT_SCHEMA.names).to_pydict()
    ats = table["at"].cast(pa.int64()).to_pylist()
    return [
        PredictionRecord(
            id=record_id,
            at=at,
            model_version_id=version,
            latency_ms=latency,
            inputs=orjson.loads(inputs),
            outputs=orjson.loads(outputs),
            source=source,
        )
        for record_id, at, version, latency, source, inputs, outputs in zip(
            columns["id"],
            ats,
            columns["model_version_id"],
            columns["latency_ms"],
            columns["source"],
            columns["inputs"],
            columns["outputs"],
            strict=True,
        )
    ]
