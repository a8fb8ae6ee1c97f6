"""Ground truth for logged predictions: one current label per prediction id, and its history.

A label for an id that already has one replaces it (last write wins) and the replaced label is
appended to ``feedback_history`` in the same transaction, so every label ever given can be
read back with ``history``. Labels are stored as JSON text; this module never parses them.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.ids import check_id
from modelcycle.store.metadata._tables import feedback, feedback_history

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection, Row
    from sqlalchemy.sql import Select

    from modelcycle.store.metadata._unit_of_work import UnitOfWork

FEEDBACK_SOURCES = frozenset({"sdk", "file", "http"})
"""Where a label came from: the Python SDK, a bulk file, or ``POST /feedback``."""

FEEDBACK_COLUMNS = (
    "prediction_id",
    "model_version_id",
    "label",
    "at",
    "source",
    "actor",
    "revision",
)
"""The keys of ``FeedbackRepository.columns``; ``label`` is JSON text."""

# Ids per statement: well under SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class Feedback:
    """One label of a logged prediction.

    Attributes:
        prediction_id: The id the endpoint or batch job returned with the prediction.
        model_version_id: The model version that made the prediction.
        label_json: The label as JSON text (``1``, ``"churned"``, ``3.25``...).
        at: When the label arrived, in epoch milliseconds.
        source: ``"sdk"``, ``"file"`` or ``"http"``.
        actor: Who sent it.
        revision: 1 for the first label of the id, 2 for the label that replaced it, ...
    """

    prediction_id: str
    model_version_id: str
    label_json: str
    at: int
    source: str
    actor: str
    revision: int = 1

    @property
    def label(self) -> Any:
        """The label, parsed from its JSON text."""
        import orjson

        return orjson.loads(self.label_json)


@dataclass(frozen=True, slots=True)
class FeedbackWrite:
    """What one ``record`` call stored: ``added`` new labels, ``relabelled`` replaced ones."""

    added: int
    relabelled: int

    @property
    def recorded(self) -> int:
        """Labels stored by the call."""
        return self.added + self.relabelled


class FeedbackRepository:
    """Record and read labels of logged predictions.

    Thread safety: every call is its own transaction; calls from many threads are safe.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def record(
        self,
        prediction_ids: Sequence[str],
        model_version_ids: Sequence[str],
        labels_json: Sequence[str],
        *,
        source: str,
        actor: str,
        at: int | None = None,
    ) -> FeedbackWrite:
        """Store one label per prediction id, all in one transaction.

        The three sequences are aligned (the i-th label is for the i-th id, made by the i-th
        model version). An id that has a label already gets the new one; the old one moves to
        the history. The caller checks that the predictions exist (the prediction log is not
        in this database).

        Args:
            prediction_ids: 32-hex prediction ids, each at most once.
            model_version_ids: The model version of each prediction.
            labels_json: Each label as JSON text.
            source: ``"sdk"``, ``"file"`` or ``"http"``.
            actor: Who sent the labels.
            at: When they arrived (epoch ms; default now).

        Raises:
            InvalidInput: the sequences differ in length, an id is malformed or repeated, the
                source is unknown, or the actor is empty.
            StoreError: the database failed (nothing is stored).
        """
        _check_batch(prediction_ids, model_version_ids, labels_json, source, actor)
        now = time.time_ns() // 1_000_000 if at is None else at
        relabelled = 0
        with self._uow.write() as conn:
            for start in range(0, len(prediction_ids), _CHUNK):
                ids = prediction_ids[start : start + _CHUNK]
                relabelled += _keep_history(conn, ids, now)
                rows = [
                    {
                        "prediction_id": prediction_id,
                        "model_version_id": version,
                        "label": label,
                        "at": now,
                        "source": source,
                        "actor": actor,
                        "revision": 1,
                    }
                    for prediction_id, version, label in zip(
                        ids,
                        model_version_ids[start : start + _CHUNK],
                        labels_json[start : start + _CHUNK],
                        strict=True,
                    )
                ]
                conn.execute(_upsert_statement(conn.dialect.name), rows)
        return FeedbackWrite(added=len(prediction_ids) - relabelled, relabelled=relabelled)

    def find(self, prediction_id: str) -> Feedback | None:
        """The current label of a prediction, or None."""
        with self._uow.read() as conn:
            row = conn.execute(
                select(feedback).where(feedback.c.prediction_id == prediction_id)
            ).first()
        return None if row is None else _to_feedback(row)

    def get(self, prediction_id: str) -> Feedback:
        """The current label of a prediction.

        Raises:
            NotFound: the prediction has no label.
        """
        found = self.find(prediction_id)
        if found is None:
            raise NotFound(f"prediction {prediction_id!r} has no feedback")
        return found

    def history(self, prediction_id: str) -> list[Feedback]:
        """Every label the prediction was given, oldest first (the current one last)."""
        table = feedback_history
        with self._uow.read() as conn:
            rows = conn.execute(
                select(table)
                .where(table.c.prediction_id == prediction_id)
                .order_by(table.c.revision)
            ).all()
            current = conn.execute(
                select(feedback).where(feedback.c.prediction_id == prediction_id)
            ).first()
        older = [_to_feedback(row) for row in rows]
        return older if current is None else [*older, _to_feedback(current)]

    def labels(
        self,
        *,
        model_version_ids: Sequence[str] | None = None,
        min_prediction_id: str | None = None,
        max_prediction_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        """Current labels matching every given filter, by prediction id (oldest first).

        Args:
            model_version_ids: Only labels of predictions by these model versions.
            min_prediction_id: Only prediction ids at or after this one (ids sort by time).
            max_prediction_id: Only prediction ids at or before this one.
            since_ms: Only labels that arrived at or after this time (epoch ms).
            until_ms: Only labels that arrived before this time (epoch ms).
            limit: At most this many.
        """
        query = _filtered(
            select(feedback),
            model_version_ids,
            min_prediction_id,
            max_prediction_id,
            since_ms,
            until_ms,
            limit,
        )
        with self._uow.read() as conn:
            return [_to_feedback(row) for row in conn.execute(query)]

    def columns(
        self,
        *,
        model_version_ids: Sequence[str] | None = None,
        min_prediction_id: str | None = None,
        max_prediction_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
        names: Sequence[str] = FEEDBACK_COLUMNS,
    ) -> dict[str, list[Any]]:
        """Like ``labels``, as columns ready to become a frame.

        Args:
            model_version_ids: As for ``labels``.
            min_prediction_id: As for ``labels``.
            max_prediction_id: As for ``labels``.
            since_ms: As for ``labels``.
            until_ms: As for ``labels``.
            limit: As for ``labels``.
            names: The columns to read, of ``FEEDBACK_COLUMNS`` (``label`` is JSON text).

        Raises:
            InvalidInput: a name is not a feedback column.
        """
        unknown = [name for name in names if name not in FEEDBACK_COLUMNS]
        if unknown or not names:
            raise InvalidInput(f"feedback columns {unknown or []} unknown; use {FEEDBACK_COLUMNS}")
        query = _filtered(
            select(*(feedback.c[name] for name in names)),
            model_version_ids,
            min_prediction_id,
            max_prediction_id,
            since_ms,
            until_ms,
            limit,
        )
        with self._uow.read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return {name: [] for name in names}
        transposed = zip(*rows, strict=True)
        return {name: list(values) for name, values in zip(names, transposed, strict=True)}

    def count(self, *, model_version_ids: Sequence[str] | None = None) -> int:
        """How many predictions have a label."""
        query = select(func.count()).select_from(feedback)
        if model_version_ids is not None:
            query = query.where(feedback.c.model_version_id.in_(list(model_version_ids)))
        with self._uow.read() as conn:
            return int(conn.execute(query).scalar_one())


def _check_batch(
    prediction_ids: Sequence[str],
    model_version_ids: Sequence[str],
    labels_json: Sequence[str],
    source: str,
    actor: str,
) -> None:
    if not len(prediction_ids) == len(model_version_ids) == len(labels_json):
        raise InvalidInput(
            f"{len(prediction_ids)} prediction ids, {len(model_version_ids)} model versions and "
            f"{len(labels_json)} labels: give one of each per label"
        )
    if source not in FEEDBACK_SOURCES:
        raise InvalidInput(f"feedback source {source!r} is not one of {sorted(FEEDBACK_SOURCES)}")
    who: object = actor
    if not isinstance(who, str) or not who:
        raise InvalidInput(f"actor {who!r} must be a non-empty str")
    for prediction_id in prediction_ids:
        check_id(prediction_id, "prediction id")
    repeated = _first_repeat(prediction_ids)
    if repeated is not None:
        raise InvalidInput(
            f"prediction id {repeated!r} appears more than once in one batch; keep one label "
            "per id (the last one given wins when recorded in separate calls)"
        )


def _first_repeat(ids: Sequence[str]) -> str | None:
    if len(set(ids)) == len(ids):
        return None
    seen: set[str] = set()
    for prediction_id in ids:
        if prediction_id in seen:
            return prediction_id
        seen.add(prediction_id)
    return None  # pragma: no cover - a repeat exists when the set is smaller


def _keep_history(conn: Connection, ids: Sequence[str], now: int) -> int:
    """Copy the current labels of ``ids`` into the history; returns how many there were."""
    names = ("prediction_id", "revision", "model_version_id", "label", "at", "source", "actor")
    current = select(*(feedback.c[name] for name in names), literal(now)).where(
        feedback.c.prediction_id.in_(list(ids))
    )
    # RETURNING, not rowcount: psycopg reports no row count for INSERT ... SELECT here.
    statement = insert(feedback_history).from_select([*names, "replaced_at"], current)
    return len(conn.execute(statement.returning(feedback_history.c.prediction_id)).all())


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(feedback)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["prediction_id"],
        set_={
            "model_version_id": excluded.model_version_id,
            "label": excluded.label,
            "at": excluded.at,
            "source": excluded.source,
            "actor": excluded.actor,
            "revision": feedback.c.revision + 1,
        },
    )


def _filtered(
    query: Select[Any],
    model_version_ids: Sequence[str] | None,
    min_prediction_id: str | None,
    max_prediction_id: str | None,
    since_ms: int | None,
    until_ms: int | None,
    limit: int | None,
) -> Select[Any]:
    table = feedback
    if model_version_ids is not None:
        query = query.where(table.c.model_version_id.in_(list(model_version_ids)))
    if min_prediction_id is not None:
        query = query.where(table.c.prediction_id >= min_prediction_id)
    if max_prediction_id is not None:
        query = query.where(table.c.prediction_id <= max_prediction_id)
    if since_ms is not None:
        query = query.where(table.c.at >= since_ms)
    if until_ms is not None:
        query = query.where(table.c.at < until_ms)
    query = query.order_by(table.c.prediction_id)
    return query if limit is None else query.limit(limit)


def _to_feedback(row: Row[Any]) -> Feedback:
    return Feedback(
        prediction_id=row.prediction_id,
        model_version_id=row.model_version_id,
        label_json=row.label,
        at=row.at,
        source=row.source,
        actor=row.actor,
        revision=row.revision,
    )
