"""Scored rows as one Parquet file, written beside the target and renamed into place at the end.

Nothing appears at the target path until every chunk is written and the file is closed and
synced; a failure removes the temporary file, and an earlier file at the target stays intact.

``AtomicParquet`` encodes whole tables (scores and inputs). Chunks are encoded on one
background thread (Arrow's writer releases the GIL), at most one behind the caller, so writing
overlaps the scoring of the next chunk. Float columns are written without dictionary encoding:
scores and measurements rarely repeat, and trying a dictionary costs more than writing them
plainly. (A Parquet input's rows are written by ``_batch_output.SplicedParquet`` instead.)
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def target_and_temporary(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The absolute target and a fresh temporary name beside it.

    Raises:
        InvalidInput: the target is a folder, or its folder does not exist.
    """
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise InvalidInput(f"output {str(path)!r} is a folder; give a file name ending .parquet")
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder of output {str(path)!r} does not exist; create it first")
    return target, target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


class WriteBehind:
    """Writes run one at a time on a background thread, each after the one before it.

    The caller goes on with the next chunk while the last one is written; an error of a
    write is raised by the next ``submit`` or by ``finish``.
    """

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[None] | None = None

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        """Run ``write(*args)`` once the previous write is over (its error raised here)."""
        self._wait()
        self._pending = self._thread.submit(write, *args)

    def finish(self) -> None:
        """Wait for the last write (its error raised here) and stop the thread."""
        self._wait()
        self._thread.shutdown()

    def cancel(self) -> None:
        """Wait for the last write to be over, whatever its outcome, and stop the thread."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.exception()
        self._thread.shutdown()

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


class AtomicParquet:
    """A Parquet file written chunk by chunk, which appears at ``path`` only on ``commit``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path, self._temp = target_and_temporary(path)
        self._writer: pq.ParquetWriter | None = None
        self._writes = WriteBehind("parquet-writer")

    def write(self, table: pa.Table, *, plain: Sequence[str] = ()) -> None:
        """Append ``table`` in the background (every chunk has the first chunk's schema).

        ``plain`` names further columns to write without dictionary encoding (unique ids).
        The previous chunk's write is finished first, and its error, if any, raised here.
        """
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._temp, table.schema, use_dictionary=dictionary_columns(table.schema, plain)
            )
        self._writes.submit(self._writer.write_table, table)

    def commit(self) -> Path:
        """Finish, close, sync and move the file into place."""
        self._writes.finish()
        if self._writer is None:
            raise InvalidInput("nothing was written")
        self._writer.close()
        with self._temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        self._temp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written."""
        self._writes.cancel()  # the write is over (whatever its outcome) before closing
        if self._writer is not None:
            self._writer.close()
        self._temp.unlink(missing_ok=True)


def dictionary_columns(schema: pa.Schema, plain: Sequence[str]) -> list[str]:
    """The columns worth a dictionary: neither floats nor named in ``plain``."""
    return [
        field.name
        for field in schema
        if field.name not in plain and not pa.types.is_floating(field.type)
    ]
