"""What runs on an executor's worker: a chunk scored by a model shipped as its packaged bytes.

The model travels as its flavor's bytes, digest and signature (never as a ``LoadedModel``), is
verified and loaded once per worker process, and kept by digest for the job's later chunks.

A chunk travels either as its rows (``pack``, one Arrow IPC buffer) or, when the input is a
Parquet file the workers can read themselves, as a ``ParquetPart``: the file, its size and
modification time, and a row range of one row group. The worker reads only the columns the
model takes and sends back only the predictions, so the rows never cross the network; for a
part that is a whole row group it can send back the score columns encoded as Parquet instead
(``encode_part``), ids included, ready to be spliced into the output file.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging.flavors import get_flavor
from modelcycle.services.packaging.load import digest_of
from modelcycle.services.packaging.package import load_packaged
from modelcycle.services.serve._batch_frames import score_table
from modelcycle.services.serve._batch_scores import encoded_scores

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve._batch_frames import ScoringPlan
    from modelcycle.services.serve._batch_ids import IdBlock

_CACHED = 4
_lock = threading.Lock()
_models: dict[str, LoadedModel] = {}


@dataclass(frozen=True, slots=True)
class ShippedModel:
    """A model as it travels to workers: flavor, bytes, their sha256 and the signature."""

    flavor: str
    data: bytes
    digest: str
    signature: dict[str, Any]


def ship(model: LoadedModel) -> ShippedModel:
    """The model in the form workers load."""
    data = get_flavor(model.flavor).save(model.raw)
    return ShippedModel(model.flavor, data, digest_of(data), model.signature.to_dict())


def pack(table: pa.Table) -> pa.Buffer:
    """The rows of ``table`` as one Arrow IPC buffer.

    A sliced table pickles with the whole of its parent's buffers; the IPC form holds only the
    slice's rows, so a chunk costs its own size to send.
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue()


def score_packed(
    shipped: ShippedModel, plan: ScoringPlan, packed: pa.Buffer
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Score the packed rows with the shipped model, loading it on first use in this process."""
    table = pa.ipc.open_stream(packed).read_all()
    return score_table(_loaded(shipped), plan, table)


def _loaded(shipped: ShippedModel) -> LoadedModel:
    with _lock:
        model = _models.get(shipped.digest)
        if model is None:
            model = load_packaged(
                shipped.data,
                flavor=shipped.flavor,
                digest=shipped.digest,
                signature=shipped.signature,
            )
            while len(_models) >= _CACHED:
                _models.pop(next(iter(_models)))
            _models[shipped.digest] = model
        return model


@dataclass(frozen=True, slots=True)
class ParquetPart:
    """Rows ``start`` to ``stop`` of row group ``group`` of the Parquet file at ``path``.

    ``fingerprint`` is the file's size and modification time when the job planned the part; a
    worker that sees another file there refuses the part.
    """

    path: str
    fingerprint: tuple[int, int]
    group: int
    start: int
    stop: int
    group_rows: int

    @property
    def rows(self) -> int:
        """Rows in the part."""
        return self.stop - self.start


def fingerprint(path: str) -> tuple[int, int]:
    """Size and modification time (ns) of ``path``."""
    stat = Path(path).stat()
    return stat.st_size, stat.st_mtime_ns


def sees(path: str, expected: tuple[int, int]) -> bool:
    """Whether this process sees the file the job planned (same size and modification time)."""
    try:
        return fingerprint(path) == expected
    except OSError:
        return False


def plan_parts(
    path: str,
    metadata: pq.FileMetaData,
    stamp: tuple[int, int],
    chunk_rows: int,
    *,
    halved_tail: int = 0,
) -> list[ParquetPart]:
    """The parts of a Parquet file, in row order: one per non-empty row group.

    A row group of more than ``2 * chunk_rows`` rows is cut into equal parts of at most
    ``chunk_rows`` rows (each part's worker reads the whole group and keeps its rows). So are
    the last ``halved_tail`` row groups, in two: on an executor, workers then share the end
    of the job rather than one of them scoring a last whole group while the others wait.
    ``stamp`` is the file's ``fingerprint`` when ``metadata`` was read.
    """
    parts: list[ParquetPart] = []
    sizes = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
    filled = [group for group, rows in enumerate(sizes) if rows]
    halved = set(filled[len(filled) - halved_tail :]) if halved_tail > 0 else set()
    for group, rows in enumerate(sizes):
        pieces = math.ceil(rows / chunk_rows) if rows > 2 * chunk_rows else 1
        if group in halved and pieces == 1 and rows > 1:
            pieces = 2
        bounds = [rows * piece // pieces for piece in range(pieces + 1)]
        parts.extend(
            ParquetPart(path, stamp, group, start, stop, rows)
            for start, stop in itertools.pairwise(bounds)
            if stop > start
        )
    return parts


def read_part(part: ParquetPart, columns: Sequence[str] | None = None) -> pa.Table:
    """The part's rows (only ``columns`` when given).

    Raises:
        InvalidInput: the file changed since the job planned its parts.
    """
    if not sees(part.path, part.fingerprint):
        raise InvalidInput(
            f"{part.path} changed (or vanished) while it was being scored; score it again"
        )
    table = pq.ParquetFile(part.path, memory_map=True).read_row_group(
        part.group, columns=None if columns is None else list(columns)
    )
    return table if part.rows == part.group_rows else table.slice(part.start, part.rows)


def score_part(
    shipped: ShippedModel, plan: ScoringPlan, part: ParquetPart
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None] | None:
    """Score the part's rows, read here from the file, with the shipped model.

    None when this process does not see the file the job planned (another machine, or the
    file changed): the caller then sends the rows instead.
    """
    if not sees(part.path, part.fingerprint):
        return None
    return score_table(_loaded(shipped), plan, read_part(part, plan.columns))


def encode_part(
    shipped: ShippedModel,
    plan: ScoringPlan,
    part: ParquetPart,
    ids: IdBlock,
    proba_names: Sequence[str],
) -> bytes | None:
    """``score_part``, with the part's score columns (``ids`` spelled out) encoded as Parquet.

    The caller splices the bytes into the output as they are (``encoded_scores``), so the
    job's process only moves bytes. None when this process does not see the file.
    """
    scored = score_part(shipped, plan, part)
    if scored is None:
        return None
    return encoded_scores(ids.ids(), *scored, proba_names)
