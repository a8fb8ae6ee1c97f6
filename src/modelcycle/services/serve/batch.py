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

A Parquet file given by path is scored where it lies: the chunks are its row groups, workers
that see the same file (same size and modification time) read their own chunks, only the
columns the model takes, and send back only the predictions; the driver reads rows only for
``on_chunk`` or a returned table. The output file is then spliced: the scores' columns, encoded
here, beside the input's column chunks copied as bytes (``_batch_output.SplicedParquet``), so
the input columns are never decoded or encoded again. Workers that do not see the file get
each chunk's rows from the driver instead.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.serve._batch_frames import ScoringPlan, make_plan, score_table
from modelcycle.services.serve._batch_ids import IdSequence
from modelcycle.services.serve._batch_output import AtomicParquet, SplicedParquet, splice_footer
from modelcycle.services.serve._batch_worker import (
    ParquetPart,
    fingerprint,
    pack,
    plan_parts,
    read_part,
    score_packed,
    score_part,
    sees,
    ship,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Executor, Future

    import numpy as np

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve._thrift_compact import Fields

    Scored = tuple[pa.Table | ParquetPart, np.ndarray[Any, Any], np.ndarray[Any, Any] | None]

__all__ = ["BatchResult", "score_batch"]

ID_COLUMN = "prediction_id"
PREDICTION_COLUMN = "prediction"
PROBA_PREFIX = "proba_"
DEFAULT_CHUNK_ROWS = 100_000
_SAMPLE_ROWS = 1_000


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
    batches: Iterable[pa.RecordBatch] | pa.Table | str | os.PathLike[str],
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
        batches: Arrow record batches (any sizes), a table, or the path of a Parquet file;
            columns the signature does not name are carried through to the output. A Parquet
            file is scored one row group per chunk (a row group of more than twice
            ``chunk_rows`` rows is cut into chunks of ``chunk_rows``); workers that see the
            file read their chunks themselves, and its column chunks are copied into
            ``output`` as they are.
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
            column problem named), an input column named like an output column, a chunk
            the model refused, or a Parquet input that changed while it was scored. No output
            file is left behind.
        NotFound: no file at the Parquet input's path.
    """
    started = time.perf_counter()
    if chunk_rows < 1 or max_in_flight < 1:
        raise InvalidInput(
            f"chunk_rows and max_in_flight must be at least 1, got {chunk_rows} and {max_in_flight}"
        )
    if isinstance(batches, str | os.PathLike):
        path = str(Path(batches).absolute())  # workers may not share this working folder
        if not Path(path).is_file():
            raise NotFound(f"no Parquet file at {path}; check the path")
        stamp = fingerprint(path)
        footer = splice_footer(path)
        if footer is not None:
            job = _file_job(model, path, stamp, chunk_rows, with_proba=with_proba)
            job.footer = footer
            return _run(job, model, output, executor, max_in_flight, on_chunk, progress, started)
        parquet = pq.ParquetFile(path)
        total_rows = parquet.metadata.num_rows
        batches = parquet.iter_batches(batch_size=chunk_rows)
    elif isinstance(batches, pa.Table):
        total_rows = batches.num_rows
        batches = batches.to_batches()
    job = _stream_job(model, iter(batches), chunk_rows, total_rows, with_proba=with_proba)
    return _run(job, model, output, executor, max_in_flight, on_chunk, progress, started)


@dataclass(slots=True)
class _Job:
    """The input of one run: how chunks are fed, which columns come out, how many rows."""

    plan: ScoringPlan
    proba_names: list[str]
    total: int | None
    first: pa.Table | None = None
    rest: Iterator[pa.Table] | None = None
    source: str | None = None
    stamp: tuple[int, int] | None = None
    footer: Fields | None = None
    parts: list[ParquetPart] | None = None


def _stream_job(
    model: LoadedModel,
    batches: Iterator[pa.RecordBatch],
    chunk_rows: int,
    total: int | None,
    *,
    with_proba: bool,
) -> _Job:
    chunks = _rechunk(batches, chunk_rows)
    first = next(chunks, None)
    if first is None:
        raise InvalidInput("the input has no rows to score")
    plan = make_plan(model, first, with_proba=with_proba)
    names = _output_names(model, plan, first.column_names)
    return _Job(plan, names, total, first=first, rest=chunks)


def _file_job(
    model: LoadedModel, path: str, stamp: tuple[int, int], chunk_rows: int, *, with_proba: bool
) -> _Job:
    parquet = pq.ParquetFile(path, memory_map=True)
    parts = plan_parts(path, parquet.metadata, stamp, chunk_rows)
    if not parts:
        raise InvalidInput(f"{path} has no rows to score")
    present = set(parquet.schema_arrow.names)
    taken = [name for name in model.signature.input_names if name in present]
    sample = pa.Table.from_batches(
        [next(parquet.iter_batches(batch_size=_SAMPLE_ROWS, columns=taken))]
    )
    plan = make_plan(model, sample, with_proba=with_proba)
    names = _output_names(model, plan, parquet.schema_arrow.names)
    return _Job(plan, names, parquet.metadata.num_rows, source=path, stamp=stamp, parts=parts)


def _run(
    job: _Job,
    model: LoadedModel,
    output: str | os.PathLike[str] | None,
    executor: Executor | None,
    max_in_flight: int,
    on_chunk: Callable[[pa.StringArray, pa.Table, pa.Table], None] | None,
    progress: Callable[[int, int | None], None] | None,
    started: float,
) -> BatchResult:
    sink = _Sink(output, job)
    ids = IdSequence()
    done = 0
    first_id = last_id = ""
    try:
        for held, predictions, proba in _scored(model, job, executor, max_in_flight):
            rows = held.num_rows if isinstance(held, pa.Table) else held.rows
            chunk_ids = ids.take(rows)
            scored = _prediction_columns(chunk_ids, predictions, proba, job.proba_names)
            inputs = held if isinstance(held, pa.Table) else None
            if inputs is None and (on_chunk is not None or output is None):
                inputs = read_part(
                    held
                )  # the driver reads a part's rows only when they are asked for
            if on_chunk is not None and inputs is not None:
                on_chunk(chunk_ids, inputs, scored)
            sink.add(scored, held, inputs)
            first_id = first_id or chunk_ids[0].as_py()
            last_id = chunk_ids[-1].as_py()
            done += rows
            if progress is not None:
                progress(done, job.total)
        path, table = sink.commit()
    except BaseException:
        sink.abort()
        raise
    return BatchResult(
        rows=done,
        seconds=time.perf_counter() - started,
        output=path,
        first_id=first_id,
        last_id=last_id,
        table=table,
    )


class _Sink:
    """Where scored chunks go: a Parquet file (spliced beside a Parquet input), or a table."""

    def __init__(self, output: str | os.PathLike[str] | None, job: _Job) -> None:
        source = job.source
        self._atomic = AtomicParquet(output) if output is not None and source is None else None
        self._splice = (
            SplicedParquet(output, source, footer=job.footer, stamp=job.stamp, plain=(ID_COLUMN,))
            if output is not None and source is not None
            else None
        )
        self._group: list[pa.Table] = []
        self._kept: list[pa.Table] = []

    def add(self, scored: pa.Table, held: pa.Table | ParquetPart, inputs: pa.Table | None) -> None:
        if self._splice is not None and isinstance(held, ParquetPart):
            self._group.append(scored)
            if held.stop == held.group_rows:
                self._splice.write(held.group, pa.concat_tables(self._group))
                self._group = []
            return
        if inputs is None:
            raise InvalidInput("a scored chunk came without its input rows")
        whole = _with_inputs(scored, inputs)
        if self._atomic is not None:
            self._atomic.write(whole, plain=(ID_COLUMN,))
        else:
            self._kept.append(whole)

    def commit(self) -> tuple[Path | None, pa.Table | None]:
        if self._atomic is not None:
            return self._atomic.commit(), None
        if self._splice is not None:
            return self._splice.commit(), None
        return None, pa.concat_tables(self._kept)

    def abort(self) -> None:
        for writer in (self._atomic, self._splice):
            if writer is not None:
                writer.abort()


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
    model: LoadedModel, job: _Job, executor: Executor | None, max_in_flight: int
) -> Iterator[Scored]:
    plan = job.plan
    held: Iterator[pa.Table | ParquetPart] = (
        iter(job.parts) if job.parts is not None else _prepend(job.first, job.rest)
    )
    if executor is None and job.parts is not None:
        yield from _scored_here(model, plan, job.parts)
        return
    if executor is None:
        for table in held:
            yield (table, *score_table(model, plan, table))
        return
    shipped = ship(model)
    remote = (
        job.source is not None
        and executor.submit(sees, job.source, fingerprint(job.source)).result()
    )

    def submit(chunk: pa.Table | ParquetPart) -> Future[Any]:
        if isinstance(chunk, ParquetPart):
            if remote:
                return executor.submit(score_part, shipped, plan, chunk)
            chunk = read_part(chunk, plan.columns)
        return executor.submit(score_packed, shipped, plan, pack(chunk))

    in_flight: deque[tuple[pa.Table | ParquetPart, Future[Any]]] = deque()
    try:
        for chunk in held:
            in_flight.append((chunk, submit(chunk)))
            if len(in_flight) >= max_in_flight:
                first, future = in_flight.popleft()
                yield (first, *future.result())
        while in_flight:
            first, future = in_flight.popleft()
            yield (first, *future.result())
    finally:
        for _chunk, future in in_flight:
            future.cancel()


def _scored_here(
    model: LoadedModel, plan: ScoringPlan, parts: list[ParquetPart]
) -> Iterator[Scored]:
    """Parts scored in this process, the next one read on a thread while this one is scored."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-reader") as reader:
        upcoming = reader.submit(read_part, parts[0], plan.columns)
        for index, part in enumerate(parts):
            table = upcoming.result()
            if index + 1 < len(parts):
                upcoming = reader.submit(read_part, parts[index + 1], plan.columns)
            yield (part, *score_table(model, plan, table))


def _prepend(first: pa.Table | None, rest: Iterator[pa.Table] | None) -> Iterator[pa.Table]:
    if first is not None:
        yield first
    if rest is not None:
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
