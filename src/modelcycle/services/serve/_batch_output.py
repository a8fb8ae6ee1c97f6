"""The scores of a Parquet input beside its row groups, copied as bytes, as one Parquet file.

Like ``_batch_atomic.AtomicParquet`` (which encodes whole tables), ``SplicedParquet`` writes
beside the target and renames into place at the end: nothing appears at the target path until
every row group is written and the file is synced; a failure removes the temporary file, and an
earlier file at the target stays intact.

The input's columns are not encoded again: each output row group is the scores' column chunks
followed by the input row group's column chunks copied byte for byte (by the kernel where it
can), and the footer is rebuilt from both with the offsets moved. The input's pages,
encodings, compression and statistics are kept; its page indexes and bloom filters are left
behind. The scores are encoded here (``write``) or come already encoded (``write_encoded``, by
the worker that computed them), which leaves this process only bytes to move.

The footer is Thrift's compact protocol, read and written by ``_thrift_compact`` as plain
``(field id, type, value)`` lists that keep every field they are not told to change.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve import _thrift_compact as thrift
from modelcycle.services.serve._batch_atomic import (
    WriteBehind,
    dictionary_columns,
    target_and_temporary,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_MAGIC = b"PAR1"
_COPY_PIECE = 16 << 20
# FileMetaData, RowGroup, ColumnChunk and ColumnMetaData field ids (parquet.thrift).
_META_SCHEMA, _META_ROWS, _META_GROUPS, _META_KEY_VALUES, _META_ORDERS = 2, 3, 4, 5, 7
_META_ENCRYPTED = frozenset({8, 9})
_GROUP_COLUMNS, _GROUP_BYTES, _GROUP_ROWS, _GROUP_COMPRESSED = 1, 2, 3, 6
_CHUNK_FILE_PATH, _CHUNK_OFFSET, _CHUNK_META = 1, 2, 3
_CHUNK_PAGE_INDEX = frozenset({4, 5, 6, 7})
_CHUNK_ENCRYPTED = frozenset({8, 9})
_COLUMN_COMPRESSED, _COLUMN_DATA_PAGE, _COLUMN_INDEX_PAGE, _COLUMN_DICTIONARY = 7, 9, 10, 11
_COLUMN_BLOOM = frozenset({14, 15})
_SCHEMA_CHILDREN = 5


def splice_footer(source: str | os.PathLike[str]) -> thrift.Fields | None:
    """The footer of the Parquet file ``source``, or None when its chunks cannot be spliced.

    They cannot when the file is encrypted or keeps column data in other files.

    Raises:
        InvalidInput: ``source`` is not a Parquet file.
    """
    with Path(source).open("rb") as handle:
        meta = _read_footer(handle.fileno(), os.fstat(handle.fileno()).st_size)
    if any(fid in _META_ENCRYPTED for fid, _, _ in meta):
        return None
    external = any(
        fid == _CHUNK_FILE_PATH or fid in _CHUNK_ENCRYPTED
        for group in thrift.field(meta, _META_GROUPS)[1]
        for column in thrift.field(group, _GROUP_COLUMNS)[1]
        for fid, _, _ in column
    )
    return None if external else meta


class SplicedParquet:
    """Scores beside the row groups of a Parquet input, copied as bytes; appears on ``commit``.

    ``write(group, scores)`` is called once per non-empty input row group, in order, with that
    group's score columns; every call has the first call's schema. Each group is encoded,
    copied and flushed to disk on a background thread, at most one behind the caller, so the
    final sync only waits for the last group.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: str | os.PathLike[str],
        *,
        footer: thrift.Fields | None = None,
        stamp: tuple[int, int] | None = None,
        plain: Sequence[str] = (),
    ) -> None:
        """Start the output at ``path`` for the input ``source``.

        ``footer`` is the input's, when already read (``splice_footer``); ``stamp`` the input's
        size and modification time (ns) when it was, which the open input must still have.
        """
        self.path, self._temp = target_and_temporary(path)
        self._plain = tuple(plain)
        self._writes = WriteBehind("parquet-splice")
        self._out = -1
        self._source = os.open(source, os.O_RDONLY)
        try:
            stat = os.fstat(self._source)
            if stamp is not None and (stat.st_size, stat.st_mtime_ns) != stamp:
                raise InvalidInput(f"{source} changed while it was being scored; score it again")
            self._meta = footer if footer is not None else _read_footer(self._source, stat.st_size)
            self._source_schema = pq.ParquetFile(source).schema_arrow.remove_metadata()
            self._out = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except BaseException:
            self.abort()
            raise
        self._groups: list[thrift.Fields] = []
        self._size = 0
        self._rows = 0
        self._scores: thrift.Fields | None = None
        self._scores_schema: pa.Schema | None = None
        self._append(_MAGIC)

    def write(self, group: int, scores: pa.Table) -> None:
        """Append input row group ``group`` with ``scores`` (one row per row of the group).

        The previous group's write is finished first, and its error, if any, raised here.
        """
        self._check_rows(group, scores.num_rows)
        self._writes.submit(self._write, group, scores)

    def write_encoded(self, group: int, encoded: bytes) -> None:
        """Like ``write``, with the scores already encoded (``encode_scores``, one row group).

        Raises:
            InvalidInput: ``encoded`` is not a Parquet file of one row group with as many rows
                as the input row group.
        """
        meta = _read_footer(encoded, len(encoded))
        groups = thrift.field(meta, _META_GROUPS)[1]
        if len(groups) != 1:
            raise InvalidInput(f"the scores of row group {group} come in {len(groups)} row groups")
        self._check_rows(group, thrift.field(groups[0], _GROUP_ROWS))
        self._writes.submit(self._splice, group, encoded, meta)

    def _check_rows(self, group: int, count: int) -> None:
        rows = thrift.field(thrift.field(self._meta, _META_GROUPS)[1][group], _GROUP_ROWS)
        if count != rows:
            raise InvalidInput(f"row group {group} has {rows} rows, not {count}")

    def _write(self, group: int, scores: pa.Table) -> None:
        encoded = encode_scores(scores, self._plain)
        self._splice(group, encoded, _read_footer(encoded, len(encoded)))

    def _splice(self, group: int, encoded: bytes, meta: thrift.Fields) -> None:
        source_group = thrift.field(self._meta, _META_GROUPS)[1][group]
        if self._scores is None:
            self._scores, self._scores_schema = meta, _schema_of(meta)
        ours = thrift.field(meta, _META_GROUPS)[1][0]
        rows = thrift.field(ours, _GROUP_ROWS)
        start, end = _extent(ours)
        ours_at = self._size
        self._append(memoryview(encoded)[start:end])
        start_in, end_in = _extent(source_group)
        theirs_at = self._size
        self._copy(start_in, end_in - start_in)
        columns = [
            *(_moved(c, ours_at - start) for c in thrift.field(ours, _GROUP_COLUMNS)[1]),
            *(
                _moved(c, theirs_at - start_in)
                for c in thrift.field(source_group, _GROUP_COLUMNS)[1]
            ),
        ]
        unpacked = thrift.field(ours, _GROUP_BYTES) + thrift.field(source_group, _GROUP_BYTES)
        self._groups.append(
            [
                (_GROUP_COLUMNS, thrift.LIST, (thrift.STRUCT, columns)),
                (_GROUP_BYTES, thrift.I64, unpacked),
                (_GROUP_ROWS, thrift.I64, rows),
                (5, thrift.I64, ours_at),
                (_GROUP_COMPRESSED, thrift.I64, self._size - ours_at),
                (7, thrift.I16, len(self._groups)),
            ]
        )
        self._rows += rows
        os.fdatasync(self._out)

    def commit(self) -> Path:
        """Write the footer, sync and move the file into place."""
        self._writes.finish()
        if self._scores is None or self._scores_schema is None:
            raise InvalidInput("nothing was written")
        if self._rows != thrift.field(self._meta, _META_ROWS):
            raise InvalidInput(
                f"{self._rows} of {thrift.field(self._meta, _META_ROWS)} rows written"
            )
        footer = bytearray()
        thrift.write_struct(self._footer(self._scores, self._scores_schema), footer)
        self._append(bytes(footer) + struct.pack("<I", len(footer)) + _MAGIC)
        os.fsync(self._out)
        os.close(self._out)
        self._out = -1
        os.close(self._source)
        self._source = -1
        self._temp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written."""
        self._writes.cancel()  # the write is over (whatever its outcome) before closing
        for fd in (self._out, self._source):
            if fd >= 0:
                os.close(fd)
        self._out = self._source = -1
        self._temp.unlink(missing_ok=True)

    def _footer(self, scores: thrift.Fields, scores_schema: pa.Schema) -> thrift.Fields:
        ours, theirs = (
            thrift.field(scores, _META_SCHEMA)[1],
            thrift.field(self._meta, _META_SCHEMA)[1],
        )
        children = thrift.field(ours[0], _SCHEMA_CHILDREN) + thrift.field(
            theirs[0], _SCHEMA_CHILDREN
        )
        root = thrift.replaced(theirs[0], _SCHEMA_CHILDREN, thrift.I32, children)
        arrow = pa.schema([*scores_schema, *self._source_schema])
        pair = [(1, thrift.BINARY, b"ARROW:schema"), (2, thrift.BINARY, _arrow_schema(arrow))]
        meta: thrift.Fields = [
            (1, thrift.I32, max(thrift.field(scores, 1), thrift.field(self._meta, 1))),
            (_META_SCHEMA, thrift.LIST, (thrift.STRUCT, [root, *ours[1:], *theirs[1:]])),
            (_META_ROWS, thrift.I64, self._rows),
            (_META_GROUPS, thrift.LIST, (thrift.STRUCT, self._groups)),
            (_META_KEY_VALUES, thrift.LIST, (thrift.STRUCT, [pair])),
            (6, thrift.BINARY, thrift.field(scores, 6)),
        ]
        orders = [thrift.field(m, _META_ORDERS, None) for m in (scores, self._meta)]
        if orders[0] is not None and orders[1] is not None:
            meta.append(
                (_META_ORDERS, thrift.LIST, (thrift.STRUCT, [*orders[0][1], *orders[1][1]]))
            )
        return meta

    def _append(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._out, view, self._size)
            self._size += written
            view = view[written:]

    def _copy(self, offset: int, count: int) -> None:
        while count:
            try:
                copied = os.copy_file_range(self._source, self._out, count, offset, self._size)
            except OSError:  # another file system, or no kernel copy: through memory
                copied = len(piece := os.pread(self._source, min(count, _COPY_PIECE), offset))
                self._append(piece)
                self._size -= copied
            if copied == 0:
                raise InvalidInput("the input Parquet file is shorter than its footer says")
            self._size += copied
            offset += copied
            count -= copied


def encode_scores(scores: pa.Table, plain: Sequence[str]) -> bytes:
    """``scores`` as the bytes of a Parquet file of one row group.

    ``plain`` names columns to write without dictionary encoding; floats never use one.
    """
    sink = pa.BufferOutputStream()
    pq.write_table(
        scores,
        sink,
        row_group_size=max(scores.num_rows, 1),
        use_dictionary=dictionary_columns(scores.schema, plain),
    )
    encoded: bytes = sink.getvalue().to_pybytes()
    return encoded


def _arrow_schema(schema: pa.Schema) -> bytes:
    return base64.b64encode(schema.serialize().to_pybytes())


def _schema_of(meta: thrift.Fields) -> pa.Schema:
    """The Arrow schema Arrow's writer keeps in a footer's key-value metadata."""
    pairs = thrift.field(meta, _META_KEY_VALUES, (thrift.STRUCT, []))[1]
    for pair in pairs:
        if thrift.field(pair, 1) == b"ARROW:schema":
            data = base64.b64decode(thrift.field(pair, 2))
            return pa.ipc.read_schema(pa.py_buffer(data)).remove_metadata()
    raise InvalidInput("the encoded scores carry no Arrow schema")


def _read_footer(source: int | bytes, size: int) -> thrift.Fields:
    tail = source[size - 8 :] if isinstance(source, bytes) else os.pread(source, 8, size - 8)
    length = struct.unpack("<I", tail[:4])[0]
    if tail[4:] != _MAGIC or length + 12 > size:
        raise InvalidInput("the input is not a Parquet file (no Parquet footer at its end)")
    start = size - 8 - length
    if isinstance(source, bytes):
        return thrift.read_struct(source[start : size - 8])
    data = os.pread(source, length, start)
    return thrift.read_struct(data)


def _extent(group: thrift.Fields) -> tuple[int, int]:
    """The bytes holding a row group's column chunks: first offset and end."""
    starts, ends = [], []
    for column in thrift.field(group, _GROUP_COLUMNS)[1]:
        meta = thrift.field(column, _CHUNK_META)
        start = thrift.field(meta, _COLUMN_DATA_PAGE)
        dictionary = thrift.field(meta, _COLUMN_DICTIONARY, 0)
        if 0 < dictionary < start:
            start = dictionary
        starts.append(start)
        ends.append(start + thrift.field(meta, _COLUMN_COMPRESSED))
    return min(starts), max(ends)


def _moved(column: thrift.Fields, delta: int) -> thrift.Fields:
    """A column chunk's metadata with its offsets moved by ``delta`` and page indexes dropped."""
    moved: thrift.Fields = []
    for fid, kind, value in column:
        if fid in _CHUNK_PAGE_INDEX:
            continue
        if fid == _CHUNK_OFFSET:
            moved.append((fid, kind, value + delta if value > 0 else value))
        elif fid == _CHUNK_META:
            moved.append((fid, kind, _moved_meta(value, delta)))
        else:
            moved.append((fid, kind, value))
    return moved


def _moved_meta(meta: thrift.Fields, delta: int) -> thrift.Fields:
    offsets = (_COLUMN_DATA_PAGE, _COLUMN_INDEX_PAGE, _COLUMN_DICTIONARY)
    return [
        (fid, kind, value + delta if fid in offsets and value > 0 else value)
        for fid, kind, value in meta
        if fid not in _COLUMN_BLOOM
    ]
