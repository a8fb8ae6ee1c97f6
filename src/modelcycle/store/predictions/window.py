"""A window of the prediction log as one flat frame: one column per input feature and output.

``read_window`` picks the segments that can hold the window from the index (model version,
time range), as ``read_predictions`` does, reads them verified (on a few threads), and turns
the JSON ``inputs``/``outputs`` of every row into columns with a vectorised JSON reader (no
Python loop over rows). The columns are:

- ``id``, ``at`` (datetime[ms, UTC]), ``model_version_id``, ``latency_ms``, ``source``;
- one column per input feature, under its own name; a feature named like one of the columns
  above, or starting with ``output.``, is named ``input.<name>`` instead;
- one column per output, prefixed ``output.`` (``output.prediction``, ``output.proba_1``...).

A feature missing from some rows is null there; values of mixed JSON types in one feature are
given their common type (an int and a float give a float; a number and a string give a string).
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl
    import pyarrow as pa

    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore
    from modelcycle.store.metadata.predictions import PredictionSegment

BASE_COLUMNS = ("id", "at", "model_version_id", "latency_ms", "source")
"""The columns every window has, before the features and outputs."""

OUTPUT_PREFIX = "output."
INPUT_PREFIX = "input."
_BLOCK_BYTES = 16 << 20  # Arrow infers types per block; large blocks see more rows at once
_READERS = 4  # threads reading segments


def read_window(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    *,
    model_version_ids: str | Sequence[str],
    last: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    allow_empty: bool = False,
) -> pl.DataFrame:
    """The logged predictions of some model versions in a window, as a flat frame.

    Args:
        metadata: The store holding the segment index.
        artifacts: The store holding the segments.
        model_version_ids: One model version id or several (e.g. every version an alias
            pointed at during the window).
        last: Only the newest ``last`` predictions (of those in the time range, if given).
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        allow_empty: Return an empty frame (with the base columns only) instead of raising
            when the window holds no predictions.

    Returns:
        The frame described in the module docstring, ordered by ``at`` then ``id``.

    Raises:
        InvalidInput: the window holds no predictions (unless ``allow_empty``), or an
            argument is malformed (no model version, ``last`` not a positive int, bounds not
            ints or ``since_ms >= until_ms``).
        IntegrityError: a segment's bytes do not match its digest.
        StoreError: a store could not be read.
    """
    versions = _versions(model_version_ids)
    last, since_ms, until_ms = _check_window(last, since_ms, until_ms)
    segments = [
        segment
        for version in versions
        for segment in metadata.predictions.find_segments(
            model_version_id=version, since_ms=since_ms, until_ms=until_ms
        )
    ]
    if last is None:
        rows = _read_all(artifacts, segments, since_ms, until_ms)
    else:
        rows = _read_newest(artifacts, segments, last, since_ms, until_ms)
    if rows.height == 0:
        if allow_empty:
            return rows.select(BASE_COLUMNS)
        raise InvalidInput(
            f"the window holds no predictions: {_describe(versions, last, since_ms, until_ms)}. "
            "Check the model version and the window; predictions reach the log within seconds "
            "of being made (when the endpoint's log writer flushes)"
        )
    return flatten(rows)


def find_logged(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, ids: pl.Series
) -> pl.DataFrame:
    """Which of these prediction ids are in the log, with the model version of each.

    Ids are time-ordered, so only the segments whose id range holds one of them are read (on
    a few threads); the match is one join, with no Python loop over the ids.

    Args:
        metadata: The store holding the segment index.
        artifacts: The store holding the segments.
        ids: Well-formed prediction ids (text); repeats and order do not matter.

    Returns:
        ``id`` and ``model_version_id`` of each logged one, by id.
    """
    import polars as pl

    wanted = ids.cast(pl.String).drop_nulls().unique().sort()
    if wanted.len() == 0:
        return pl.DataFrame(schema={"id": pl.String, "model_version_id": pl.String})
    candidates = metadata.predictions.find_segments(min_id=wanted[0], max_id=wanted[-1])
    starts = wanted.search_sorted(pl.Series([s.min_id for s in candidates], dtype=pl.String))
    segments = [
        segment
        for segment, start in zip(candidates, starts.to_list(), strict=True)
        if start < wanted.len() and wanted[start] <= segment.max_id
    ]
    rows = _read_all(artifacts, segments, None, None, sort=False)
    found = rows.select("id", "model_version_id").join(wanted.to_frame("id"), on="id", how="semi")
    return found.sort("id")


def flatten(rows: pl.DataFrame | pa.Table) -> pl.DataFrame:
    """Rows in the segment schema as a frame with one column per feature and per output."""
    import polars as pl

    frame = rows if isinstance(rows, pl.DataFrame) else _polars(rows)
    inputs = _decoded(frame["inputs"])
    outputs = _decoded(frame["outputs"])
    taken = set(BASE_COLUMNS)
    inputs = inputs.rename(
        {
            name: f"{INPUT_PREFIX}{name}"
            for name in inputs.columns
            if name in taken or name.startswith(OUTPUT_PREFIX)
        }
    )
    outputs = outputs.rename({name: f"{OUTPUT_PREFIX}{name}" for name in outputs.columns})
    parts = [frame.select(BASE_COLUMNS), inputs, outputs]
    return pl.concat([part for part in parts if part.width], how="horizontal")


def _decoded(column: pl.Series) -> pl.DataFrame:
    """A column of JSON objects as one column per key (every row's keys; absent: null).

    Arrow's JSON reader parses the rows as newline-delimited JSON (about four times faster
    than polars' decoder here). Where it gives up (a key whose values mix strings and
    numbers) or reads text as timestamps (it parses ISO dates), polars' decoder takes over:
    it gives a mixed key its common type (text) and keeps text as text.
    """
    import polars as pl
    import pyarrow as pa
    import pyarrow.json as pa_json

    try:
        table = pa_json.read_json(
            pa.BufferReader(_lines(column)),
            read_options=pa_json.ReadOptions(block_size=_BLOCK_BYTES),
        )
    except pa.ArrowInvalid:
        table = None
    if table is not None and "timestamp" not in str(table.schema):
        if table.num_columns == 0:
            return pl.DataFrame()
        frame = pl.from_arrow(table)
        if isinstance(frame, pl.DataFrame) and frame.height == column.len():
            return frame
    decoded = column.str.json_decode(infer_schema_length=None)
    if not isinstance(decoded.dtype, pl.Struct) or not decoded.dtype.fields:
        return pl.DataFrame()
    return decoded.struct.unnest()


def _lines(column: pl.Series) -> pa.Buffer:
    """The column's texts as one newline-delimited buffer, without a Python string of it all.

    Appending a newline to every value is one vectorised operation; the values of the result
    then lie back to back in its Arrow data buffer, which is sliced, not copied.
    """
    import numpy as np
    import pyarrow as pa

    array = (column + "\n").to_arrow()
    if isinstance(array, pa.ChunkedArray):  # pragma: no cover - one Series chunk gives an array
        array = array.combine_chunks()
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    start, end = int(offsets[array.offset]), int(offsets[array.offset + len(array)])
    data = array.buffers()[2]
    if data is None:  # pragma: no cover - every value holds at least the newline
        return pa.py_buffer(b"")
    return data.slice(start, end - start)


def _read_all(
    artifacts: ArtifactStore,
    segments: list[PredictionSegment],
    since_ms: int | None,
    until_ms: int | None,
    *,
    sort: bool = True,
) -> pl.DataFrame:
    """Every row of the segments in the time range, by ``at`` then ``id`` when ``sort``.

    Segments are read on a few threads: Parquet decoding and the digest check release the GIL.
    """
    from concurrent.futures import ThreadPoolExecutor

    if len(segments) <= 1:
        frames = [_read_one(artifacts, s, since_ms, until_ms) for s in segments]
    else:
        with ThreadPoolExecutor(min(_READERS, len(segments))) as pool:
            frames = list(pool.map(lambda s: _read_one(artifacts, s, since_ms, until_ms), segments))
    return _sorted(frames) if sort else _concat(frames)


def _read_newest(
    artifacts: ArtifactStore,
    segments: list[PredictionSegment],
    last: int,
    since_ms: int | None,
    until_ms: int | None,
) -> pl.DataFrame:
    """The newest ``last`` rows of the segments in the time range.

    Segments are read newest first; reading stops at the first segment whose newest row is
    older than the ``last``-th newest row found so far.
    """
    import polars as pl

    ordered = sorted(segments, key=lambda s: (s.max_at, s.max_id), reverse=True)
    frames: list[pl.DataFrame] = []
    rows = 0
    cutoff: int | None = None
    for segment in ordered:
        if cutoff is not None and segment.max_at < cutoff:
            break
        frame = _read_one(artifacts, segment, since_ms, until_ms)
        frames.append(frame)
        rows += frame.height
        if rows >= last:
            ats = pl.concat([f["at"].dt.epoch("ms") for f in frames])
            cutoff = int(ats.top_k(last).min())  # type: ignore[arg-type]
    return _sorted(frames).tail(last)


def _read_one(
    artifacts: ArtifactStore,
    segment: PredictionSegment,
    since_ms: int | None,
    until_ms: int | None,
) -> pl.DataFrame:
    import polars as pl

    from modelcycle.store.predictions._segments import read_segment

    frame = _polars(read_segment(artifacts, segment))
    at = pl.col("at").dt.epoch("ms")
    if since_ms is not None and segment.min_at < since_ms:
        frame = frame.filter(at >= since_ms)
    if until_ms is not None and segment.max_at >= until_ms:
        frame = frame.filter(at < until_ms)
    return frame


def _sorted(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return _concat(frames).sort(["at", "id"])


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    import polars as pl

    from modelcycle.store.predictions._segments import SEGMENT_SCHEMA

    if not frames:
        return _polars(SEGMENT_SCHEMA.empty_table())
    return pl.concat(frames, rechunk=False)


def _polars(table: pa.Table) -> pl.DataFrame:
    import polars as pl

    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table gives a DataFrame
        raise TypeError("expected a table")
    return frame


def _versions(model_version_ids: str | Sequence[str]) -> list[str]:
    given: object = model_version_ids
    listed: list[object] = [given] if isinstance(given, str) else list(model_version_ids)
    if not listed or not all(isinstance(v, str) and v for v in listed):
        raise InvalidInput(
            f"model_version_ids={model_version_ids!r} must name at least one model version id"
        )
    return sorted({str(v) for v in listed})


def _check_window(
    last: int | None, since_ms: int | None, until_ms: int | None
) -> tuple[int | None, int | None, int | None]:
    """The bounds as plain ints (numpy integers accepted), checked."""
    checked: list[int | None] = []
    values: tuple[tuple[str, object], ...] = (
        ("last", last),
        ("since_ms", since_ms),
        ("until_ms", until_ms),
    )
    for name, value in values:
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral)):
            raise InvalidInput(f"{name}={value!r} must be an int or None")
        checked.append(None if value is None else int(value))
    last, since_ms, until_ms = checked
    if last is not None and last <= 0:
        raise InvalidInput(f"last={last} must be a positive number of predictions")
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidInput(f"since_ms={since_ms} must be before until_ms={until_ms}")
    return last, since_ms, until_ms


def _describe(
    versions: list[str], last: int | None, since_ms: int | None, until_ms: int | None
) -> str:
    parts = [f"model version{'s' if len(versions) > 1 else ''} {', '.join(versions)}"]
    if last is not None:
        parts.append(f"the last {last}")
    if since_ms is not None:
        parts.append(f"since {since_ms} ms")
    if until_ms is not None:
        parts.append(f"until {until_ms} ms")
    return ", ".join(parts)
