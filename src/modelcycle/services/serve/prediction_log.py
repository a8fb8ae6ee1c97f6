"""Hands predictions from the endpoint and from batch jobs to the prediction log.

Both build ``PredictionRecord``s (inputs and outputs per row) and submit them to a
``PredictionLogWriter``: the writer's queue is bounded, never blocks, and counts what it drops.
A one-row request (the usual one) goes through ``submit``, which wakes the writer's thread only
when a write falls due, not on every request.
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
    """The ``on_chunk`` callback of ``score_batch``: one record per scored row."""

    def log(ids: pa.StringArray, inputs: pa.Table, predictions: pa.Table) -> None:
        at = now_ms()
        rows_in = inputs.to_pylist()
        rows_out = predictions.to_pylist()
        writer.submit_many(
            PredictionRecord(
                id=prediction_id,
                at=at,
                model_version_id=version_id,
                latency_ms=0.0,
                inputs=row_in,
                outputs=row_out,
                source="batch",
            )
            for prediction_id, row_in, row_out in zip(
                ids.to_pylist(), rows_in, rows_out, strict=True
            )
        )

    return log
