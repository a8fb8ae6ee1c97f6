"""``mc.feedback``: the true label of a logged prediction, one at a time or in bulk.

``mc.feedback(prediction_id, label)`` stores one label; ``mc.feedback(path_or_frame)`` stores
the labels of a CSV/TSV/Parquet/JSON-lines file or a DataFrame/Arrow table with
``prediction_id`` and ``label`` columns. The ids are those the endpoint (``ids`` in its answer,
``X-Prediction-Id`` header) or ``mc.predict_batch`` (``prediction_id`` column) returned.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, overload

from modelcycle.core.errors import InvalidInput
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    from modelcycle.services.monitor.feedback import FeedbackSummary
    from modelcycle.store.metadata import Feedback

__all__ = ["feedback"]


class _NoLabel:
    """The default of ``label``: none given (None is refused as a label)."""

    def __repr__(self) -> str:
        return "<no label>"


_NO_LABEL: Any = _NoLabel()


@overload
def feedback(prediction_id: str, label: Any, *, actor: str | None = None) -> Feedback: ...


@overload
def feedback(
    prediction_id: str | os.PathLike[str] | object, *, actor: str | None = None
) -> FeedbackSummary: ...


def feedback(
    prediction_id: object, label: Any = _NO_LABEL, *, actor: str | None = None
) -> Feedback | FeedbackSummary:
    """Store the truth for logged predictions, so that monitoring can score the model.

    Args:
        prediction_id: The id of one logged prediction; or, with no ``label``, a path to a
            ``.csv``/``.tsv``/``.parquet``/``.jsonl`` file or a DataFrame or Arrow table with
            ``prediction_id`` and ``label`` columns.
        label: The true value of that prediction (a class, a number, a string, a bool...).
        actor: Who sends it (default: ``MODELCYCLE_USER`` or the OS user).

    Returns:
        For one label, the stored ``Feedback`` (``.label``, ``.revision`` > 1 when it replaced
        an earlier label, which is kept in the history). In bulk, a ``FeedbackSummary``:
        ``recorded``, ``relabelled``, and the ``unknown`` ids and ``invalid`` rows that were
        not stored, each counted and sampled.

    Raises:
        NotFound: one label was given for an id that no logged prediction has (predictions
            reach the log within seconds of being made), or the file does not exist.
        InvalidInput: a malformed id or label, or data without the two columns.
    """
    from modelcycle.services.monitor.feedback import record_feedback, record_feedback_bulk

    session = get_session()
    if label is not _NO_LABEL:
        if not isinstance(prediction_id, str):
            raise InvalidInput(
                f"prediction_id must be a str when a label is given, got "
                f"{type(prediction_id).__name__}"
            )
        return record_feedback(
            session.metadata, session.artifacts, prediction_id, label, actor=actor, source="sdk"
        )
    if isinstance(prediction_id, str) and _looks_like_an_id(prediction_id):
        raise InvalidInput(
            f"no label given for prediction {prediction_id!r}: call "
            "mc.feedback(prediction_id, label), or pass a file or frame of labels"
        )
    source = "file" if isinstance(prediction_id, str | os.PathLike) else "sdk"
    return record_feedback_bulk(
        session.metadata, session.artifacts, prediction_id, actor=actor, source=source
    )


def _looks_like_an_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
