"""Reading the prediction log: pick segments from the index, read them verified, filter rows."""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import check_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pyarrow as pa

    from modelcycle.core.entities.prediction import PredictionRecord
    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore
    from modelcycle.store.metadata.predictions import PredictionSegment


def read_predictions(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    *,
    model_version_id: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    ids: Iterable[str] | None = None,
) -> pa.Table:
    """The logged predictions matching every given filter, as one Arrow table.

    Only segments whose index row can match are read; each is verified against its digest.

    Args:
        metadata: The store holding the segment index.
        artifacts: The store holding the segments.
        model_version_id: Only predictions of this model version.
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        ids: Only these prediction ids.

    Returns:
        A table in the segment schema (``id``, ``at`` as timestamp[ms, UTC],
        ``model_version_id``, ``latency_ms``, ``source``, ``inputs`` and ``outputs`` as JSON
        text), ordered by ``at`` then ``id``; empty, with that schema, when nothing matches.

    Raises:
        InvalidInput: a bound is not an int, or an id is not a 32-character hex id.
        IntegrityError: a segment's bytes do not match its digest.
        StoreError: a store could not be read.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from modelcycle.store.predictions._segments import SEGMENT_SCHEMA, read_segment

    _check_ms("since_ms", since_ms)
    _check_ms("until_ms", until_ms)
    wanted = None if ids is None else sorted({check_id(i, "prediction id") for i in ids})
    if wanted == []:
        return SEGMENT_SCHEMA.empty_table()
    segments = metadata.predictions.find_segments(
        model_version_id=model_version_id,
        since_ms=since_ms,
        until_ms=until_ms,
        min_id=wanted[0] if wanted else None,
        max_id=wanted[-1] if wanted else None,
    )
    if wanted:
        segments = [s for s in segments if _holds_any(s, wanted)]
    if not segments:
        return SEGMENT_SCHEMA.empty_table()
    table = pa.concat_tables([read_segment(artifacts, s) for s in segments])
    at_type = SEGMENT_SCHEMA.field("at").type
    masks = []
    if model_version_id is not None:
        masks.append(pc.equal(table["model_version_id"], model_version_id))
    if since_ms is not None:
        masks.append(pc.greater_equal(table["at"], pa.scalar(since_ms, at_type)))
    if until_ms is not None:
        masks.append(pc.less(table["at"], pa.scalar(until_ms, at_type)))
    if wanted:
        masks.append(pc.is_in(table["id"], value_set=pa.array(wanted, pa.string())))
    if masks:
        keep = masks[0]
        for mask in masks[1:]:
            keep = pc.and_(keep, mask)
        table = table.filter(keep)
    return table.sort_by([("at", "ascending"), ("id", "ascending")]).combine_chunks()


def find_prediction(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, prediction_id: str
) -> PredictionRecord | None:
    """The logged prediction with this id, or None when it is not (yet) in the log.

    Ids are time-ordered, so the index's id ranges narrow the search to the few segments
    written around the prediction's time.

    Raises:
        InvalidInput: ``prediction_id`` is not a 32-character hex id.
        IntegrityError: a segment's bytes do not match its digest.
        StoreError: a store could not be read.
    """
    import pyarrow.compute as pc

    from modelcycle.store.predictions._segments import read_segment, to_records

    check_id(prediction_id, "prediction id")
    for segment in metadata.predictions.segments_containing(prediction_id):
        table = read_segment(artifacts, segment)
        found = table.filter(pc.equal(table["id"], prediction_id))
        if found.num_rows:
            return to_records(found.slice(0, 1))[0]
    return None


def _check_ms(name: str, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidInput(f"{name}={value!r} must be epoch milliseconds (an int) or None")


def _holds_any(segment: PredictionSegment, wanted: list[str]) -> bool:
    """Whether some id of the sorted list ``wanted`` lies in the segment's id range."""
    position = bisect_left(wanted, segment.min_id)
    return position < len(wanted) and wanted[position] <= segment.max_id
