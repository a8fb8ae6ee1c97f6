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
``on_chunk`` or a returned table. The output file is then spliced: the scores' columns beside
the input's column chunks copied as bytes (``_batch_output.SplicedParquet``), so the input
columns are never decoded or encoded again. When nothing in the driver needs the scores (an
output file, no ``on_chunk``), the worker that scored a whole row group also spells out its
ids and encodes its score columns, and the driver only moves bytes. Workers that do not see
the file get each chunk's rows from the driver instead (``_batch_dispatch``).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.serve._batch_atomic import AtomicParquet
from modelcycle.services.serve._batch_dispatch import Chunks, scored
from modelcycle.services.serve._batch_frames import ScoringPlan, make_plan
from modelcycle.services.serve._batch_ids import IdSequence
from modelcycle.services.serve._batch_output import SplicedParquet, splice_footer
from modelcycle.services.serve._batch_scores import (
    ID_COLUMN,
    PLAIN_COLUMNS,
    PREDICTION_COLUMN,
    PROBA_PREFIX,
    score_columns,
)
from modelcycle.services.serve._batch_worker import (
    ParquetPart,
    fingerprint,
    plan_parts,
    read_part,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Executor

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve._thrift_compact import Fields

__all__ = ["BatchResult", "score_batch"]

DEFAULT_CHUNK_ROWS = 100_000
_HALVED_TAIL = 2
"""On an executor, the last row groups of a Parquet input cut in two (see ``plan_parts``)."""
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
        max_in_flight: chunks on the executor and not yet finished, at most (as many finished
            ones may wait for an earlier chunk to finish).

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
            halved = _HALVED_TAIL if executor is not None else 0
            job = _file_job(model, path, stamp, chunk_rows, halved, with_proba=with_proba)
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

    def chunks(self) -> Chunks:
        if self.parts is not None:
            return Chunks(parts=self.parts, source=self.source)
        first = [] if self.first is None else [self.first]
        return Chunks(tables=itertools.chain(first, self.rest or ()))


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
    model: LoadedModel,
    path: str,
    stamp: tuple[int, int],
    chunk_rows: int,
    halved_tail: int,
    *,
    with_proba: bool,
) -> _Job:
    parquet = pq.ParquetFile(path, memory_map=True)
    parts = plan_parts(path, parquet.metadata, stamp, chunk_rows, halved_tail=halved_tail)
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
    done = 0
    first_id = last_id = ""
    # Workers encode a whole row group's scores themselves when nothing here needs them.
    encode = job.proba_names if sink.splices and on_chunk is None else None
    try:
        for chunk in scored(
            model,
            job.plan,
            job.chunks(),
            IdSequence(),
            executor,
            max_in_flight=max_in_flight,
            encode=encode,
        ):
            held, rows = chunk.held, chunk.ids.count
            if chunk.encoded is not None and isinstance(held, ParquetPart):
                sink.add_encoded(held, chunk.encoded)
            else:
                if chunk.predictions is None:
                    raise InvalidInput("a scored chunk came back without its predictions")
                chunk_ids = chunk.ids.ids()
                scores = score_columns(chunk_ids, chunk.predictions, chunk.proba, job.proba_names)
                inputs = held if isinstance(held, pa.Table) else None
                if inputs is None and (on_chunk is not None or output is None):
                    inputs = read_part(held)  # a part's rows are read here only when asked for
                if on_chunk is not None and inputs is not None:
                    on_chunk(chunk_ids, inputs, scores)
                sink.add(scores, held, inputs)
            first_id = first_id or chunk.ids.id_at(0)
            last_id = chunk.ids.id_at(rows - 1)
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
            SplicedParquet(output, source, footer=job.footer, stamp=job.stamp, plain=PLAIN_COLUMNS)
            if output is not None and source is not None
            else None
        )
        self._group: list[pa.Table] = []
        self._kept: list[pa.Table] = []

    @property
    def splices(self) -> bool:
        """Whether the input's column chunks are spliced into an output file."""
        return self._splice is not None

    def add_encoded(self, part: ParquetPart, encoded: bytes) -> None:
        if self._splice is None or self._group or part.rows != part.group_rows:
            raise InvalidInput("encoded scores came for a part that is not a whole row group")
        self._splice.write_encoded(part.group, encoded)

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
            self._atomic.write(whole, plain=PLAIN_COLUMNS)
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


def _with_inputs(scored: pa.Table, inputs: pa.Table) -> pa.Table:
    names = [*scored.column_names, *inputs.column_names]
    return pa.Table.from_arrays([*scored.columns, *inputs.columns], names=names)
