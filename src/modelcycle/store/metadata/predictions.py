"""The index of the prediction log: one row per Parquet segment, never one per prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from modelcycle.store.metadata._tables import prediction_segments

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.sql import Select

    from modelcycle.store.metadata._unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class PredictionSegment:
    """Where one segment of the prediction log is and what it holds.

    ``min_at``/``max_at`` are epoch milliseconds (both inclusive); ``min_id``/``max_id`` bound
    the prediction ids in the segment (both inclusive). ``digest`` names the Parquet blob in the
    artifact store.
    """

    id: str
    model_version_id: str
    min_at: int
    max_at: int
    min_id: str
    max_id: str
    rows: int
    digest: str
    size_bytes: int
    created_at: int


class PredictionRepository:
    """Add and find prediction-log segments.

    Thread safety: every call is its own transaction; calls from many threads are safe.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add_segment(self, segment: PredictionSegment) -> None:
        """Index ``segment`` (its blob must already be in the artifact store).

        Raises:
            Conflict: a segment with this id is indexed already.
            StoreError: the database failed.
        """
        with self._uow.write() as conn:
            conn.execute(
                insert(prediction_segments).values(
                    id=segment.id,
                    model_version_id=segment.model_version_id,
                    min_at=segment.min_at,
                    max_at=segment.max_at,
                    min_id=segment.min_id,
                    max_id=segment.max_id,
                    rows=segment.rows,
                    digest=segment.digest,
                    size_bytes=segment.size_bytes,
                    created_at=segment.created_at,
                )
            )

    def find_segments(
        self,
        *,
        model_version_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        min_id: str | None = None,
        max_id: str | None = None,
    ) -> list[PredictionSegment]:
        """The segments that may hold predictions matching every given bound.

        Args:
            model_version_id: Only segments of this model version.
            since_ms: Only segments with a prediction at or after this time (epoch ms).
            until_ms: Only segments with a prediction before this time (epoch ms).
            min_id: Only segments whose id range reaches this id or beyond.
            max_id: Only segments whose id range starts at or before this id.

        Returns:
            The segments, oldest first (by ``min_at``, then ``min_id``).
        """
        table = prediction_segments
        query: Select[Any] = select(table)
        if model_version_id is not None:
            query = query.where(table.c.model_version_id == model_version_id)
        if since_ms is not None:
            query = query.where(table.c.max_at >= since_ms)
        if until_ms is not None:
            query = query.where(table.c.min_at < until_ms)
        if min_id is not None:
            query = query.where(table.c.max_id >= min_id)
        if max_id is not None:
            query = query.where(table.c.min_id <= max_id)
        query = query.order_by(table.c.min_at, table.c.min_id)
        with self._uow.read() as conn:
            return [_to_segment(row) for row in conn.execute(query)]

    def segments_containing(self, prediction_id: str) -> list[PredictionSegment]:
        """The segments whose id range contains ``prediction_id`` (an index range scan)."""
        return self.find_segments(min_id=prediction_id, max_id=prediction_id)


def _to_segment(row: Row[Any]) -> PredictionSegment:
    return PredictionSegment(
        id=row.id,
        model_version_id=row.model_version_id,
        min_at=row.min_at,
        max_at=row.max_at,
        min_id=row.min_id,
        max_id=row.max_id,
        rows=row.rows,
        digest=row.digest,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
    )
