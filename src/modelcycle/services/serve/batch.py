"""Batch scoring: Arrow batches through a loaded model in chunks, to Parquet or to a table.

``score_batch`` cuts the input into chunks of ``chunk_rows`` rows and scores each one, in this
process or on any ``concurrent.futures.Executor`` (the model travels as its packaged bytes, a
bounded number of chunks is in flight, and results are put back in input order). Each output row
holds a prediction id, the prediction, ``proba_<class>`` columns for a classifier with
``predict_proba``, then the input columns, in input row order. Every run gives the same
predictions whatever the chunk size or executor.

The input is checked against the model signature once, before any scoring (the error names each
column); a numeric signature is then fed straight from Arrow without per-chunk re-validation
(see ``_batch_frames``). ``on_chunk`` receives each chunk's ids, inputs and predictions, which is
how a caller logs predictions; ``progress`` receives the rows done and the total when known.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._batch_frames import ScoringPlan, make_plan, score_table
from modelcycle.services.serve._batch_ids import IdSequence
from modelcycle.services.serve._batch_output import AtomicParquet
from modelcycle.services.serve._batch_worker import pack, score_packed, ship

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Executor, Future
    from pathlib import Path

    import numpy as np

    from modelcycle.services.packaging.loaded import LoadedModel

    Scored = tuple[pa.Table, np.ndarray[Any, Any], np.ndarray[Any, Any] | None]

__all__ = ["BatchResult", "score_batch"]

ID_COLUMN = "prediction_id"
PREDICTION_COLUMN = "prediction"
PROBA_PREFIX = "proba_"
DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch job did.

    Attributes:
        rows: rows scored.
        seconds: wall time of the job.
        output: the Parquet file written, or None when the rows were returned in ``table``.
        first_id: the first row's prediction id (ids increase in row order).
        last_id: the last row's prediction id.
        table: the scored rows when no output file was asked for, else None.
    """

    rows: int
    seconds: float
    output: Path | None
    first_id: str
    last_id: str
    table: pa.Table | None = None

    @property
    def rows_per_second(self) -> float:
        """Throughput of the job."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def score_batch(
    model: LoadedModel,
    batches: Iterable[pa.RecordBatch] | pa.Table,
    output: str | os.PathLike[str] | None = None,
    *,
    executor: Executor | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    with_proba: bool = True,
    on_chunk: Callable[[pa.StringArray, pa.Table, pa.Table], None] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    total_rows: int | None = None,
    max_in_flight: int = 4,
) -> BatchResult:
    """Score every row of ``batches`` with ``model``.

    Args:
        model: the loaded model.
        batches: Arrow record batches (any sizes) or a table; columns the signature does not
            name are carried through to the output.
        output: a Parquet file to write atomically; None to return the rows in
            ``BatchResult.table``.
        executor: score chunks on this executor's workers; None scores in this process.
        chunk_rows: rows per chunk.
        with_proba: add ``proba_<class>`` columns when the model has ``predict_proba``.
        on_chunk: called per chunk, in order, with its ids, input rows and prediction columns.
        progress: called after each chunk with the rows done and the total when known.
        total_rows: the number of input rows, for ``progress``, when ``batches`` is not a table.
        max_in_flight: chunks submitted to the executor and not yet collected, at most.

    Returns:
        The rows, wall time, output path and id range of the job.

    Raises:
        InvalidInput: no rows, a bad option, an input that does not fit the signature (every
            column problem named), an input column named like an output column, or a chunk
            the model refused. No output file is left behind.
    """
    started = time.perf_counter()
    if chunk_rows < 1 or max_in_flight < 1:
        raise InvalidInput(
            f"chunk_rows and max_in_flight must be at least 1, got {chunk_rows} and {max_in_flight}"
        )
    if isinstance(batches, pa.Table):
        total_rows = batches.num_rows
        batches = batches.to_batches()
    chunks = _rechunk(iter(batches), chunk_rows)
    first = next(chunks, None)
    if first is None:
        raise InvalidInput("the input has no rows to score")
    plan = make_plan(model, first, with_proba=with_proba)
    proba_names = _output_names(model, plan, first.column_names)
    writer = AtomicParquet(output) if output is not None else None
    ids = IdSequence()
    kept: list[pa.Table] = []
    done = 0
    first_id = last_id = ""
    try:
        for table, predictions, proba in _scored(
            model, plan, first, chunks, executor, max_in_flight
        ):
            chunk_ids = ids.take(table.num_rows)
            scored = _prediction_columns(chunk_ids, predictions, proba, proba_names)
            if on_chunk is not None:
                on_chunk(chunk_ids, table, scored)
            whole = _with_inputs(scored, table)
            if writer is not None:
                writer.write(whole, plain=(ID_COLUMN,))
            else:
                kept.append(whole)
            first_id = first_id or chunk_ids[0].as_py()
            last_id = chunk_ids[-1].as_py()
            done += table.num_rows
            if progress is not None:
                progress(done, total_rows)
        path = writer.commit() if writer is not None else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return BatchResult(
        rows=done,
        seconds=time.perf_counter() - started,
        output=path,
        first_id=first_id,
        last_id=last_id,
        table=None if writer is not None else pa.concat_tables(kept),
    )


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        if held < chunk_rows:
            continue
        table = pa.Table.from_batches(pending)
        start = 0
        while held - start >= chunk_rows:
            yield table.slice(start, chunk_rows)
            start += chunk_rows
        pending = table.slice(start).to_batches() if start < held else []
        held -= start
    if held:
        yield pa.Table.from_batches(pending)


def _scored(
    model: LoadedModel,
    plan: ScoringPlan,
    first: pa.Table,
    rest: Iterator[pa.Table],
    executor: Executor | None,
    max_in_flight: int,
) -> Iterator[Scored]:
    chunks = _prepend(first, rest)
    if executor is None:
        for table in chunks:
            yield (table, *score_table(model, plan, table))
        return
    shipped = ship(model)
    in_flight: deque[tuple[pa.Table, Future[Any]]] = deque()
    try:
        for table in chunks:
            in_flight.append((table, executor.submit(score_packed, shipped, plan, pack(table))))
            if len(in_flight) >= max_in_flight:
                held, future = in_flight.popleft()
                yield (held, *future.result())
        while in_flight:
            held, future = in_flight.popleft()
            yield (held, *future.result())
    finally:
        for _table, future in in_flight:
            future.cancel()


def _prepend(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def _output_names(model: LoadedModel, plan: ScoringPlan, inputs: list[str]) -> list[str]:
    classes = model.classes if plan.with_proba and model.classes is not None else ()
    proba = [f"{PROBA_PREFIX}{c}" for c in classes]
    clashes = sorted({ID_COLUMN, PREDICTION_COLUMN, *proba}.intersection(inputs))
    if clashes:
        raise InvalidInput(
            f"input column{'s' if len(clashes) > 1 else ''} {', '.join(map(repr, clashes))} "
            "would clash with the scores' columns; rename or drop "
            f"{'them' if len(clashes) > 1 else 'it'} first"
        )
    return proba


def _prediction_columns(
    ids: pa.StringArray,
    predictions: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    proba_names: list[str],
) -> pa.Table:
    columns: dict[str, Any] = {ID_COLUMN: ids, PREDICTION_COLUMN: _arrow(predictions)}
    if proba is not None:
        for index, name in enumerate(proba_names):
            columns[name] = pa.array(proba[:, index])
    return pa.table(columns)


def _arrow(values: np.ndarray[Any, Any]) -> pa.Array:
    if values.ndim != 1:
        raise InvalidInput(
            f"the model returned predictions of shape {values.shape}; batch scoring takes one "
            "prediction per row"
        )
    return pa.array(values)


def _with_inputs(scored: pa.Table, inputs: pa.Table) -> pa.Table:
    names = [*scored.column_names, *inputs.column_names]
    return pa.Table.from_arrays([*scored.columns, *inputs.columns], names=names)
