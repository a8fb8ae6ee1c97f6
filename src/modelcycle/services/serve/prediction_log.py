"""Hands predictions from the endpoint and from batch jobs to the prediction log.

The endpoint builds a ``PredictionRecord`` per answered row and submits it to the
``PredictionLogWriter``, whose queue is bounded, never blocks and counts what it drops. A
one-row request (the usual one) goes through ``submit``, which wakes the writer's thread only
when a write falls due, not on every request. A batch job hands over each scored chunk as one
table of log rows (``submit_table``), which waits for room rather than dropping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.prediction import PredictionRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pyarrow as pa

    from modelcycle.store.predictions import PredictionLogWriter


def http_logger(
    writer: PredictionLogWriter,
) -> Callable[[Sequence[str], int, str, float, dict[str, list[Any]], list[dict[str, Any]]], None]:
    """The ``log_predictions`` callback of ``build_app``: one record per answered row."""

    def log(
        ids: Sequence[str],
        at: int,
        version_id: str,
        latency_ms: float,
        columns: dict[str, list[Any]],
        outputs: list[dict[str, Any]],
    ) -> None:
        names = list(columns)
        if len(ids) == 1:  # one row: submit wakes the writer only when a write falls due
            inputs = {name: values[0] for name, values in columns.items()}
            writer.submit(_http_record(ids[0], at, version_id, latency_ms, inputs, outputs[0]))
            return
        rows = zip(*columns.values(), strict=True)  # transposed in C
        writer.submit_many(
            _http_record(
                prediction_id, at, version_id, latency_ms, dict(zip(names, row, strict=True)), out
            )
            for prediction_id, row, out in zip(ids, rows, outputs, strict=True)
        )

    return log


def _http_record(
    prediction_id: str,
    at: int,
    version_id: str,
    latency_ms: float,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
) -> PredictionRecord:
    return PredictionRecord(
        id=prediction_id,
        at=at,
        model_version_id=version_id,
        latency_ms=latency_ms,
        inputs=inputs,
        outputs=outputs,
        source="http",
    )


def batch_logger(
    writer: PredictionLogWriter, version_id: str, now_ms: Callable[[], int]
) -> Callable[[pa.StringArray, pa.Table, pa.Table], None]:
    """The ``on_chunk`` callback of ``score_batch``: one logged row per scored row.

    A chunk becomes one table of log rows at once: inputs and outputs are JSON-encoded row by
    row in polars (NaN and the infinities become ``null``, as in the endpoint's log), and the
    writer takes it with back-pressure: a job that scores faster than the log is written waits
    for it instead of dropping rows, and fails with ``StoreError`` if the log cannot be
    written for a minute.
    """

    def log(ids: pa.StringArray, inputs: pa.Table, predictions: pa.Table) -> None:
        import pyarrow as pa

        rows = len(ids)
        at = pa.scalar(now_ms(), pa.timestamp("ms", "UTC"))
        table = pa.table(
            {
                "id": ids,
                "at": pa.repeat(at, rows),
                "model_version_id": pa.repeat(pa.scalar(version_id), rows),
                "latency_ms": pa.repeat(pa.scalar(0.0), rows),
                "source": pa.repeat(pa.scalar("batch"), rows),
                "inputs": _json_rows(inputs),
                "outputs": _json_rows(predictions),
            }
        )
        writer.submit_table(table)

    return log


def _json_rows(table: pa.Table) -> pa.Array:
    """Each row of ``table`` as one JSON object (text), encoded column-wise by polars."""
    import polars as pl

    return (
        pl.DataFrame(table).select(pl.struct(pl.all()).struct.json_encode()).to_series().to_arrow()
    )
