"""The scored rows: streamed into a temporary Parquet file beside the target, renamed at the end.

Nothing appears at the target path until every chunk is written and the file is closed and
synced; a failure removes the temporary file, and an earlier file at the target stays intact.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa


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

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (every chunk must have the first chunk's schema)."""
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._temp, table.schema)
        self._writer.write_table(table)

    def commit(self, empty: pa.Schema) -> Path:
        """Close, sync and move the file into place; ``empty`` is the schema if nothing came."""
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._temp, empty)
        self._writer.close()
        with self._temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        self._temp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written."""
        if self._writer is not None:
            self._writer.close()
        self._temp.unlink(missing_ok=True)
