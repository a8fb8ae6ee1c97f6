"""Feedback: ground truth for logged predictions, joined to them by prediction id.

``record_feedback`` stores the label of one prediction; ``record_feedback_bulk`` stores the
labels of a CSV, Parquet or JSON-lines file or of a frame with ``prediction_id`` and ``label``
columns, in one transaction, after one vectorised lookup of the ids in the prediction log
(only the segments whose id ranges can hold them are read). Ids with no logged prediction are
counted and sampled in the ``FeedbackSummary``, never stored; a label given again for the same
id replaces the stored one, which is kept in the feedback history.
``labelled_predictions`` joins the labels to a window of the prediction log.

A prediction reaches the log when the endpoint's log writer flushes (within seconds), so
feedback sent at once for a prediction just made may find no prediction yet: retry it then.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelcycle.core.errors import InvalidInput, NotFound, StoreError
from modelcycle.core.ids import check_id
from modelcycle.services.registry.versions import current_actor

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import polars as pl

    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import Feedback, SqlMetadataStore

SAMPLE_SIZE = 10
"""How many unknown ids and invalid rows a summary names."""

LABEL_COLUMN = "label"
LABEL_AT_COLUMN = "label_at"
_ID_PATTERN = r"^[0-9a-f]{32}$"
_READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
}


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """What a bulk feedback call did with its rows.

    Attributes:
        received: Rows given.
        recorded: Labels stored (new ones plus replaced ones).
        relabelled: Stored labels that replaced an earlier label of the same prediction.
        unknown: Well-formed ids with no logged prediction (not stored).
        unknown_ids: The first of those ids.
        invalid: Rows with a malformed id or no label (not stored).
        invalid_rows: The first of those, each saying what is wrong.
        duplicates: Rows whose id appears again later in the input (the last label wins).
    """

    received: int
    recorded: int
    relabelled: int
    unknown: int
    unknown_ids: tuple[str, ...] = ()
    invalid: int = 0
    invalid_rows: tuple[str, ...] = ()
    duplicates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``POST /feedback`` answers)."""
        return {
            "received": self.received,
            "recorded": self.recorded,
            "relabelled": self.relabelled,
            "unknown": self.unknown,
            "unknown_ids": list(self.unknown_ids),
            "invalid": self.invalid,
            "invalid_rows": list(self.invalid_rows),
            "duplicates": self.duplicates,
        }


def record_feedback(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    prediction_id: str,
    label: Any,
    *,
    actor: str | None = None,
    source: str = "sdk",
) -> Feedback:
    """Store the true label of one logged prediction.

    Args:
        metadata: The store holding the prediction log's index and the feedback.
        artifacts: The store holding the prediction log's segments.
        prediction_id: The id the endpoint or batch job returned with the prediction.
        label: The truth: a class, a number, a string, a bool, or a JSON list/object.
        actor: Who sends it (default: ``MODELCYCLE_USER`` or the OS user).
        source: ``"sdk"``, ``"file"`` or ``"http"``.

    Returns:
        The stored feedback (its ``revision`` is above 1 when it replaced a label).

    Raises:
        InvalidInput: the id is malformed, or the label is None, NaN or not JSON-encodable.
        NotFound: no logged prediction has this id.
    """
    from modelcycle.store.predictions import find_prediction

    check_id(prediction_id, "prediction id")
    label_json = _label_json(label)
    with _segments_present():
        prediction = find_prediction(metadata, artifacts, prediction_id)
    if prediction is None:
        raise NotFound(
            f"no logged prediction has id {prediction_id!r}; feedback is joined by the id the "
            "endpoint or batch job returned (a prediction made seconds ago may not be in the "
            "log yet: retry shortly)"
        )
    metadata.feedback.record(
        [prediction_id],
        [prediction.model_version_id],
        [label_json],
        source=source,
        actor=actor or current_actor(),
    )
    return metadata.feedback.get(prediction_id)


def record_feedback_bulk(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    data: object,
    *,
    actor: str | None = None,
    source: str = "file",
) -> FeedbackSummary:
    """Store the labels of many logged predictions in one transaction.

    Args:
        metadata: The store holding the prediction log's index and the feedback.
        artifacts: The store holding the prediction log's segments.
        data: A path to a ``.csv``, ``.tsv``, ``.parquet`` or ``.jsonl`` file, or a polars or
            pandas DataFrame or Arrow table, with ``prediction_id`` and ``label`` columns.
        actor: Who sends them (default: ``MODELCYCLE_USER`` or the OS user).
        source: ``"sdk"``, ``"file"`` or ``"http"``.

    Returns:
        The counts; unknown ids and invalid rows are counted and sampled, not stored.

    Raises:
        InvalidInput: the data is not a table or file of a known kind, or lacks a column.
        NotFound: the file does not exist.
    """
    return record_frame(
        metadata, artifacts, _as_frame(data), labels_are_json=False, actor=actor, source=source
    )


def record_frame(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    frame: pl.DataFrame,
    *,
    labels_are_json: bool,
    actor: str | None,
    source: str,
) -> FeedbackSummary:
    """Store the labels of a frame of ``prediction_id`` (text) and ``label`` columns.

    ``labels_are_json``: the labels are JSON text already (null where absent), as an HTTP
    body gives them; otherwise they are values, encoded here by polars.
    """
    import polars as pl

    received = frame.height
    valid, invalid = _split_invalid(frame)
    unique = valid.unique("prediction_id", keep="last", maintain_order=True)
    duplicates = valid.height - unique.height
    known, unknown = _lookup(metadata, artifacts, unique)
    write = None
    if known.height:
        labels = known[LABEL_COLUMN] if labels_are_json else _json_texts(known[LABEL_COLUMN])
        write = metadata.feedback.record(
            known["prediction_id"].to_list(),
            known["model_version_id"].to_list(),
            labels.to_list(),
            source=source,
            actor=actor or current_actor(),
        )
    return FeedbackSummary(
        received=received,
        recorded=0 if write is None else write.recorded,
        relabelled=0 if write is None else write.relabelled,
        unknown=unknown.height,
        unknown_ids=tuple(unknown["prediction_id"].head(SAMPLE_SIZE).to_list()),
        invalid=invalid.height,
        invalid_rows=tuple(invalid.head(SAMPLE_SIZE).select(pl.col("problem")).to_series()),
        duplicates=duplicates,
    )


def labelled_predictions(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    *,
    model_version_ids: str | Sequence[str],
    last: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    how: Literal["inner", "left"] = "inner",
) -> pl.DataFrame:
    """A window of the prediction log joined with the labels of its predictions.

    The window is ``read_window``'s frame (see ``modelcycle.store.predictions.window``), plus
    ``label`` (decoded from JSON; labels of mixed JSON types become strings) and ``label_at``
    (when the label arrived, datetime[ms, UTC]). An input feature already named ``label`` or
    ``label_at`` is renamed ``input.label`` / ``input.label_at``. The labels are read with one
    range scan over the window's prediction ids.

    Args:
        metadata: The stores.
        artifacts: The stores.
        model_version_ids: One model version id or several.
        last: Only the newest ``last`` predictions.
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        how: ``"inner"`` keeps labelled predictions only; ``"left"`` keeps every prediction
            of the window (``label`` null where none arrived).

    Raises:
        InvalidInput: the window holds no predictions, or a bound is malformed.
    """
    import polars as pl

    from modelcycle.store.predictions.window import INPUT_PREFIX, read_window

    if how not in ("inner", "left"):
        raise InvalidInput(f"how={how!r} must be 'inner' or 'left'")
    window = read_window(
        metadata,
        artifacts,
        model_version_ids=model_version_ids,
        last=last,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    window = window.rename(
        {c: f"{INPUT_PREFIX}{c}" for c in (LABEL_COLUMN, LABEL_AT_COLUMN) if c in window.columns}
    )
    versions = window["model_version_id"].unique().to_list()
    columns = metadata.feedback.columns(
        model_version_ids=versions,
        min_prediction_id=window["id"].min(),  # type: ignore[arg-type]
        max_prediction_id=window["id"].max(),  # type: ignore[arg-type]
        names=("prediction_id", "label", "at"),
    )
    labels = pl.DataFrame(
        {
            "id": pl.Series(columns["prediction_id"], dtype=pl.String),
            LABEL_COLUMN: _decoded_labels(pl.Series(columns["label"], dtype=pl.String)),
            LABEL_AT_COLUMN: pl.Series(columns["at"], dtype=pl.Int64).cast(
                pl.Datetime("ms", "UTC")
            ),
        }
    )
    return window.join(labels, on="id", how=how, maintain_order="left")


def _label_json(label: Any) -> str:
    import orjson

    if label is None:
        raise InvalidInput("label is None; give the true value of the prediction")
    if isinstance(label, float) and not math.isfinite(label):
        raise InvalidInput(f"label {label!r} is not a finite number")
    try:
        return orjson.dumps(label, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError as error:  # orjson.JSONEncodeError is a TypeError
        raise InvalidInput(
            f"label {label!r} is not JSON-encodable ({error}); give a number, string, bool, "
            "or a list or dict of them"
        ) from None


def _as_frame(data: object) -> pl.DataFrame:
    import polars as pl

    if isinstance(data, str | os.PathLike):
        frame = _read_file(Path(data))
    elif isinstance(data, pl.DataFrame):
        frame = data
    else:
        frame = _converted(data)
    missing = [c for c in ("prediction_id", LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the feedback lacks the column(s) {missing}; it needs 'prediction_id' and 'label' "
            f"(its columns: {frame.columns[:20]})"
        )
    return frame.select(pl.col("prediction_id").cast(pl.String), pl.col(LABEL_COLUMN))


def _converted(data: object) -> pl.DataFrame:
    """A pandas DataFrame or an Arrow table as a polars frame."""
    import polars as pl

    library = type(data).__module__.split(".")[0]
    if library not in ("pandas", "pyarrow"):
        raise InvalidInput(
            f"bulk feedback takes a file path or a DataFrame/Arrow table, got {type(data).__name__}"
        )
    try:
        converted = pl.from_pandas(data) if library == "pandas" else pl.from_arrow(data)  # type: ignore[call-overload]
    except (pl.exceptions.PolarsError, TypeError, ValueError) as error:
        raise InvalidInput(f"cannot read the feedback frame: {error}") from None
    if not isinstance(converted, pl.DataFrame):
        raise InvalidInput(
            f"a {type(data).__name__} is not a table; give one with named columns "
            "'prediction_id' and 'label'"
        )
    return converted


def _read_file(path: Path) -> pl.DataFrame:
    import polars as pl

    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"cannot read feedback from {path.name!r}: use a {', '.join(sorted(_READERS))} file"
        )
    if not path.is_file():
        raise NotFound(f"no feedback file at {str(path)!r}")
    # Ids are read as text: an id of digits only must not become a number.
    ids_as_text = {"prediction_id": pl.String}
    try:
        if kind in ("csv", "tsv"):
            return pl.read_csv(
                path, separator="\t" if kind == "tsv" else ",", schema_overrides=ids_as_text
            )
        if kind == "parquet":
            return pl.read_parquet(path)
        return pl.read_ndjson(path, schema_overrides=ids_as_text)
    except pl.exceptions.PolarsError as error:
        raise InvalidInput(f"cannot read feedback from {path.name!r}: {error}") from None


def _split_invalid(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows with a well-formed id and a label, and the others with what is wrong (vectorised)."""
    import polars as pl

    ids, label = pl.col("prediction_id"), pl.col(LABEL_COLUMN)
    good_id = ids.str.contains(_ID_PATTERN).fill_null(False)
    has_label = label.is_not_null()
    if frame.schema[LABEL_COLUMN].is_float():
        has_label = has_label & label.is_finite()
    numbered = frame.with_row_index("row").with_columns(
        good_id.alias("good_id"), has_label.alias("has_label")
    )
    valid = numbered.filter(pl.col("good_id") & pl.col("has_label"))
    invalid = numbered.filter(~(pl.col("good_id") & pl.col("has_label"))).select(
        pl.when(~pl.col("good_id"))
        .then(pl.format("row {}: prediction id {} is not a 32-character hex id", "row", ids))
        .otherwise(pl.format("row {}: the label is missing or not a finite number", "row"))
        .alias("problem")
    )
    return valid.select("prediction_id", LABEL_COLUMN), invalid


def _lookup(
    metadata: SqlMetadataStore, artifacts: ArtifactStore, frame: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows whose id is a logged prediction (with its model version), and the others."""
    from modelcycle.store.predictions.window import find_logged

    with _segments_present():
        logged = find_logged(metadata, artifacts, frame["prediction_id"])
    joined = frame.join(
        logged.rename({"id": "prediction_id"}),
        on="prediction_id",
        how="left",
        maintain_order="left",
    )
    missing = joined["model_version_id"].is_null()
    return joined.filter(~missing), joined.filter(missing)


@contextmanager
def _segments_present() -> Iterator[None]:
    """A segment the index names but the artifact store lacks is a store fault, not a 404."""
    try:
        yield
    except NotFound as error:
        raise StoreError(
            f"the prediction log's index names a segment the artifact store does not hold "
            f"({error.message}); check the artifact store location"
        ) from error


def _json_texts(labels: pl.Series) -> pl.Series:
    """Each label as JSON text, encoded by polars (no Python loop over rows)."""
    import polars as pl

    prefix = f'{{"{LABEL_COLUMN}":'
    try:
        encoded = (
            pl.DataFrame({LABEL_COLUMN: labels})
            .select(pl.struct(LABEL_COLUMN).struct.json_encode())
            .to_series()
        )
    except pl.exceptions.PolarsError as error:
        raise InvalidInput(
            f"labels of type {labels.dtype} cannot be stored as JSON: {error}"
        ) from None
    return encoded.str.strip_prefix(prefix).str.strip_suffix("}")


def _decoded_labels(texts: pl.Series) -> pl.Series:
    import polars as pl

    if texts.len() == 0:
        return pl.Series(LABEL_COLUMN, [], dtype=pl.Null)
    return texts.str.json_decode(infer_schema_length=None).alias(LABEL_COLUMN)
