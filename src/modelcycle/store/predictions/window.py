"""A window of the prediction log as one flat frame: one column per input feature and output.

``read_window`` picks the segments that can hold the window from the index (model version,
time range), reads them verified, and turns the JSON ``inputs``/``outputs`` of every row into
columns with polars' JSON decoding (vectorised, no Python loop over rows). The columns are:

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
    if last is None:
        table = _read_range(metadata, artifacts, versions, since_ms, until_ms)
    else:
        table = _read_newest(metadata, artifacts, versions, last, since_ms, until_ms)
    if table.num_rows == 0:
        if allow_empty:
            return _empty_frame()
        raise InvalidInput(
            f"the window holds no predictions: {_describe(versions, last, since_ms, until_ms)}. "
            "Check the model version and the window; predictions reach the log within seconds "
            "of being made (when the endpoint's log writer flushes)"
        )
    return flatten(table)


def flatten(table: pa.Table) -> pl.DataFrame:
    """Rows in the segment schema as a frame with one column per feature and per output."""
    import polars as pl

    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table gives a DataFrame
        raise TypeError("expected a table")
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
    return pl.concat([frame.select(BASE_COLUMNS), inputs, outputs], how="horizontal")


def _decoded(column: pl.Series) -> pl.DataFrame:
    """A column of JSON objects as one column per key (every row's keys; absent: null)."""
    import polars as pl

    decoded = column.str.json_decode(infer_schema_length=None)
    if not isinstance(decoded.dtype, pl.Struct) or not decoded.dtype.fields:
        return pl.DataFrame()
    return decoded.struct.unnest()


def _read_range(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    versions: list[str],
    since_ms: int | None,
    until_ms: int | None,
) -> pa.Table:
    import pyarrow as pa

    from modelcycle.store.predictions.reader import read_predictions

    tables = [
        read_predictions(
            metadata, artifacts, model_version_id=version, since_ms=since_ms, until_ms=until_ms
        )
        for version in versions
    ]
    table = pa.concat_tables(tables)
    if len(tables) > 1:
        table = table.sort_by([("at", "ascending"), ("id", "ascending")])
    return table.combine_chunks()


def _read_newest(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    versions: list[str],
    last: int,
    since_ms: int | None,
    until_ms: int | None,
) -> pa.Table:
    """The newest ``last`` rows of the versions in the time range.

    Segments are read newest first; reading stops at the first segment whose newest row is
    older than the ``last``-th newest row found so far.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from modelcycle.store.predictions._segments import SEGMENT_SCHEMA, read_segment

    segments: list[PredictionSegment] = [
        segment
        for version in versions
        for segment in metadata.predictions.find_segments(
            model_version_id=version, since_ms=since_ms, until_ms=until_ms
        )
    ]
    segments.sort(key=lambda s: (s.max_at, s.max_id), reverse=True)
    tables: list[pa.Table] = []
    rows = 0
    cutoff: int | None = None
    for segment in segments:
        if cutoff is not None and segment.max_at < cutoff:
            break
        table = _within(read_segment(artifacts, segment), since_ms, until_ms)
        tables.append(table)
        rows += table.num_rows
        if rows >= last:
            ats = pa.chunked_array([t["at"].cast(pa.int64()) for t in tables])
            newest = ats.take(pc.select_k_unstable(ats, last, [("dummy", "descending")]))
            cutoff = pc.min(newest).as_py()
    if not tables:
        return SEGMENT_SCHEMA.empty_table()
    table = pa.concat_tables(tables).sort_by([("at", "descending"), ("id", "descending")])
    table = table.slice(0, last)
    return table.sort_by([("at", "ascending"), ("id", "ascending")]).combine_chunks()


def _within(table: pa.Table, since_ms: int | None, until_ms: int | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    at_type = table.schema.field("at").type
    if since_ms is not None:
        table = table.filter(pc.greater_equal(table["at"], pa.scalar(since_ms, at_type)))
    if until_ms is not None:
        table = table.filter(pc.less(table["at"], pa.scalar(until_ms, at_type)))
    return table


def _empty_frame() -> pl.DataFrame:
    import polars as pl

    from modelcycle.store.predictions._segments import SEGMENT_SCHEMA

    frame = pl.from_arrow(SEGMENT_SCHEMA.empty_table())
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table gives a DataFrame
        raise TypeError("expected a table")
    return frame.select(BASE_COLUMNS)


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
