"""Where a job's chunks are scored, in this process or on an executor, handed back in input order.

Each chunk gets its ids reserved (``IdSequence.reserve``) in input order as it is sent off, so
the ids of a job increase in row order wherever they are spelled out. On an executor at most
``max_in_flight`` chunks are unfinished at once, and a new one goes out as soon as any
finishes (a quicker worker is not held up by a slower one's older chunk). A part of a Parquet
file is sent as the part, for the worker to read itself; a worker that does not see the file
answers None, and that part and every later one go as rows read here. Asked to (``encode``),
a worker scores a whole row group and sends back its score columns encoded as Parquet, so
this process only splices bytes.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.services.serve._batch_frames import score_table
from modelcycle.services.serve._batch_worker import (
    ParquetPart,
    encode_part,
    pack,
    read_part,
    score_packed,
    score_part,
    ship,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from concurrent.futures import Executor, Future

    import numpy as np

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve._batch_frames import ScoringPlan
    from modelcycle.services.serve._batch_ids import IdBlock, IdSequence


@dataclass(frozen=True, slots=True)
class Scored:
    """One scored chunk: its rows (or part), ids, and predictions or encoded score columns.

    Attributes:
        held: the chunk's rows, or the part of the Parquet input it is.
        ids: the chunk's ids.
        predictions: one per row, unless ``encoded`` holds the scores instead.
        proba: class probabilities, one row per row, when the plan asks for them.
        encoded: the score columns as a one-row-group Parquet file, made by a worker.
    """

    held: pa.Table | ParquetPart
    ids: IdBlock
    predictions: np.ndarray[Any, Any] | None = None
    proba: np.ndarray[Any, Any] | None = None
    encoded: bytes | None = None


@dataclass(frozen=True, slots=True)
class Chunks:
    """What a job scores: tables in order, or the parts of the Parquet file at ``source``."""

    tables: Iterator[pa.Table] | None = None
    parts: list[ParquetPart] | None = None
    source: str | None = None


def scored(
    model: LoadedModel,
    plan: ScoringPlan,
    chunks: Chunks,
    ids: IdSequence,
    executor: Executor | None,
    *,
    max_in_flight: int,
    encode: Sequence[str] | None = None,
) -> Iterator[Scored]:
    """Every chunk scored, in input order.

    ``encode``, when given, names the probability columns and asks workers to send a whole
    row group's score columns encoded (``Scored.encoded``) rather than its predictions.
    """
    if executor is None and chunks.parts is not None:
        yield from _scored_here(model, plan, chunks.parts, ids)
        return
    if executor is None:
        for table in chunks.tables or ():
            block = ids.reserve(table.num_rows)
            yield Scored(table, block, *score_table(model, plan, table))
        return
    yield from _Remote(model, plan, executor, chunks.source, encode).scored(
        chunks, ids, max_in_flight
    )


def _scored_here(
    model: LoadedModel, plan: ScoringPlan, parts: list[ParquetPart], ids: IdSequence
) -> Iterator[Scored]:
    """Parts scored in this process, the next one read on a thread while this one is scored."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-reader") as reader:
        upcoming = reader.submit(read_part, parts[0], plan.columns)
        for index, part in enumerate(parts):
            table = upcoming.result()
            if index + 1 < len(parts):
                upcoming = reader.submit(read_part, parts[index + 1], plan.columns)
            yield Scored(part, ids.reserve(part.rows), *score_table(model, plan, table))


class _Remote:
    """Chunks sent to an executor's workers, with the model shipped as its packaged bytes."""

    def __init__(
        self,
        model: LoadedModel,
        plan: ScoringPlan,
        executor: Executor,
        source: str | None,
        encode: Sequence[str] | None,
    ) -> None:
        self._plan = plan
        self._executor = executor
        self._shipped = ship(model)
        self._remote = source is not None  # until a worker says it does not see the file
        self._encode = None if encode is None else tuple(encode)

    def scored(self, chunks: Chunks, ids: IdSequence, max_in_flight: int) -> Iterator[Scored]:
        """Chunks in input order; up to ``max_in_flight`` unfinished on the executor at once.

        A new chunk goes out whenever any chunk finishes, not only the oldest, so a worker that
        is quicker than the others is kept busy; at most as many finished chunks again wait
        here for an earlier one.
        """
        held: Iterator[pa.Table | ParquetPart] = (
            iter(chunks.parts) if chunks.parts is not None else iter(chunks.tables or ())
        )
        queue: deque[tuple[pa.Table | ParquetPart, IdBlock, Future[Any]]] = deque()
        more = True
        try:
            while True:
                if more:
                    more = self._fill(queue, held, ids, max_in_flight)
                if not queue:
                    return
                if not queue[0][2].done():
                    running = [future for _, _, future in queue if not future.done()]
                    if more and len(running) < max_in_flight and len(queue) < 2 * max_in_flight:
                        continue  # a chunk finished since the queue was filled: send another
                    wait(running, return_when=FIRST_COMPLETED)
                    continue
                yield self._collect(*queue.popleft())
        finally:
            for _chunk, _block, future in queue:
                future.cancel()

    def _fill(
        self,
        queue: deque[tuple[pa.Table | ParquetPart, IdBlock, Future[Any]]],
        held: Iterator[pa.Table | ParquetPart],
        ids: IdSequence,
        max_in_flight: int,
    ) -> bool:
        """Send chunks until ``max_in_flight`` are unfinished; False once none is left to send."""
        running = sum(not future.done() for _, _, future in queue)
        while running < max_in_flight and len(queue) < 2 * max_in_flight:
            chunk = next(held, None)
            if chunk is None:
                return False
            block = ids.reserve(chunk.num_rows if isinstance(chunk, pa.Table) else chunk.rows)
            queue.append((chunk, block, self._submit(chunk, block)))
            running += 1
        return True

    def _submit(self, chunk: pa.Table | ParquetPart, block: IdBlock) -> Future[Any]:
        plan, executor = self._plan, self._executor
        if isinstance(chunk, ParquetPart):
            if self._remote and self._encode is not None and chunk.rows == chunk.group_rows:
                return executor.submit(encode_part, self._shipped, plan, chunk, block, self._encode)
            if self._remote:
                return executor.submit(score_part, self._shipped, plan, chunk)
            chunk = read_part(chunk, plan.columns)
        return executor.submit(score_packed, self._shipped, plan, pack(chunk))

    def _collect(
        self, chunk: pa.Table | ParquetPart, block: IdBlock, future: Future[Any]
    ) -> Scored:
        result = future.result()
        if result is None:  # the worker does not see the file: send rows from now on
            self._remote = False
            result = self._submit(chunk, block).result()
        if isinstance(result, bytes):
            return Scored(chunk, block, encoded=result)
        predictions, proba = result
        return Scored(chunk, block, predictions, proba)
