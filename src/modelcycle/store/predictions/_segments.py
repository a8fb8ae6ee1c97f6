"""Segments of the prediction log: rows to Arrow, Arrow to Parquet blobs and index rows.

Imported only when the log first writes or reads, so that pyarrow stays off
``import modelcycle``.
"""

from __future__ import annotations

import io
import time
from array import array
from itertools import accumulate
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import Digest, new_id
from modelcycle.store.metadata.predictions import PredictionSegment
from modelcycle.store.predictions._rows import SOURCES

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore
    from modelcycle.store.predictions._rows import Row

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

_OFFSETS_LIMIT = 2**31 - 1  # a string column's int32 offsets


def table_from_rows(rows: Sequence[Row]) -> pa.Table:
    """Rows (from ``_rows.encode_row``) as one table in ``SEGMENT_SCHEMA``.

    The columns are assembled from buffers (joined bytes and packed numbers) rather than from
    Python lists through ``pa.array``: a few C-level passes per column instead of one object
    conversion per value, and no pandas import (``pa.array`` probes for pandas).
    """
    if not rows:
        return SEGMENT_SCHEMA.empty_table()
    ids, ats, versions, latencies, sources, inputs, outputs = zip(*rows, strict=True)
    n = len(rows)
    columns = [
        _utf8(list(map(str.encode, ids))),
        pa.Array.from_buffers(SEGMENT_SCHEMA.field("at").type, n, [None, _packed("q", ats)]),
        _utf8(list(map(str.encode, versions))),
        pa.Array.from_buffers(pa.float64(), n, [None, _packed("d", latencies)]),
        _utf8(list(map(str.encode, sources))),
        _utf8(inputs),
        _utf8(outputs),
    ]
    return pa.Table.from_arrays(columns, schema=SEGMENT_SCHEMA)


def _packed(code: str, values: Iterable[float]) -> pa.Buffer:
    return pa.py_buffer(array(code, values))


def _utf8(values: Sequence[bytes]) -> pa.ChunkedArray:
    """UTF-8 byte strings as one string column, chunked where the bytes pass int32 offsets."""
    return pa.chunked_array(_utf8_chunks(values), pa.string())


def _utf8_chunks(values: Sequence[bytes]) -> list[pa.Array]:
    offsets = array("q", [0])
    offsets.extend(accumulate(map(len, values)))
    if offsets[-1] <= _OFFSETS_LIMIT:
        data = pa.py_buffer(b"".join(values))
        return [pa.StringArray.from_buffers(len(values), pa.py_buffer(array("i", offsets)), data)]
    if len(values) == 1:
        raise InvalidInput(f"a logged value of {offsets[-1]:,} bytes is over the 2 GiB limit")
    half = len(values) // 2
    return _utf8_chunks(values[:half]) + _utf8_chunks(values[half:])


def checked_table(table: pa.Table) -> pa.Table:
    """``table`` cast to ``SEGMENT_SCHEMA``, its ids and sources checked (vectorised).

    Raises:
        InvalidInput: a column is missing or of the wrong type, an id is not 32 hex characters,
            or a source is not one of ``SOURCES``.
    """
    if not isinstance(table, pa.Table):
        raise InvalidInput(f"{type(table).__name__} is not a pyarrow Table")
    missing = [name for name in SEGMENT_SCHEMA.names if name not in table.column_names]
    if missing:
        raise InvalidInput(f"the table has no {', '.join(missing)} column(s) of SEGMENT_SCHEMA")
    try:
        table = table.select(SEGMENT_SCHEMA.names).cast(SEGMENT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
        raise InvalidInput(
            f"the table does not fit the prediction log's schema: {error}"
        ) from error
    checks = (
        ("id", pc.match_substring_regex(table["id"], "^[0-9a-f]{32}$"), "32-character hex ids"),
        ("source", pc.is_in(table["source"], pa.array(sorted(SOURCES))), str(sorted(SOURCES))),
    )
    for name, ok, wanted in checks:
        bad = pc.invert(ok)
        if pc.any(bad).as_py():
            first = table[name].filter(bad)[0].as_py()
            raise InvalidInput(f"{name} {first!r} is not one of {wanted}")
    return table


def split(table: pa.Table, max_rows: int) -> list[pa.Table]:
    """Cut ``table`` into segments: one model version each, sorted by id, ``max_rows`` at most."""
    ordered = table.sort_by([("model_version_id", "ascending"), ("id", "ascending")])
    counts = pc.value_counts(ordered["model_version_id"]).field("counts").to_pylist()
    pieces: list[pa.Table] = []
    begin = 0
    for count in counts:  # one run of rows per version, in sorted order
        pieces.extend(
            ordered.slice(start, min(max_rows, begin + count - start))
            for start in range(begin, begin + count, max_rows)
        )
        begin += count
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
