"""The scored rows: streamed into a temporary Parquet file beside the target, renamed at the end.

Nothing appears at the target path until every chunk is written and the file is closed and
synced; a failure removes the temporary file, and an earlier file at the target stays intact.

Chunks are encoded on one background thread (Arrow's writer releases the GIL), at most one
behind the caller, so writing overlaps the scoring of the next chunk. Float columns are written
without dictionary encoding: scores and measurements rarely repeat, and trying a dictionary
on them costs more than writing them plainly.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Sequence


class AtomicParquet:
    """A Parquet file written chunk by chunk, which appears at ``path`` only on ``commit``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        if self.path.is_dir():
            raise InvalidInput(
                f"output {str(path)!r} is a folder; give a file name ending .parquet"
            )
        if not self.path.parent.is_dir():
            raise InvalidInput(
                f"the folder of output {str(path)!r} does not exist; create it first"
            )
        self._temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: Future[None] | None = None

    def write(self, table: pa.Table, *, plain: Sequence[str] = ()) -> None:
        """Append ``table`` in the background (every chunk has the first chunk's schema).

        ``plain`` names further columns to write without dictionary encoding (unique ids).
        The previous chunk's write is finished first, and its error, if any, raised here.
        """
        self._wait()
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._temp, table.schema, use_dictionary=_dictionary_columns(table.schema, plain)
            )
        self._pending = self._thread.submit(self._writer.write_table, table)

    def commit(self) -> Path:
        """Finish, close, sync and move the file into place."""
        self._wait()
        self._thread.shutdown()
        if self._writer is None:
            raise InvalidInput("nothing was written")
        self._writer.close()
        with self._temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        self._temp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.exception()  # the write is over (whatever its outcome) before closing
        self._thread.shutdown()
        if self._writer is not None:
            self._writer.close()
        self._temp.unlink(missing_ok=True)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


def _dictionary_columns(schema: pa.Schema, plain: Sequence[str]) -> list[str]:
    return [
        field.name
        for field in schema
        if field.name not in plain and not pa.types.is_floating(field.type)
    ]
