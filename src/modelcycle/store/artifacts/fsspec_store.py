"""``FsspecArtifactStore``: the one ``ArtifactStore``, over a local folder or any fsspec URL.

Layout under the root: ``sha256/<ab>/<cd>/<64 hex digits>``, where ``ab`` and ``cd`` are the first
two pairs of hex digits of the digest.

Two write paths, one guarantee (no partial blob is ever visible under its final name):

- **Local folder** (a plain path or ``file://``): the content is streamed into a temporary file in
  ``<root>/tmp`` while it is hashed, flushed and fsynced, then ``os.replace``-d into place. A crash
  leaves at most a ``*.part`` file in ``tmp``; concurrent writers of the same content both succeed.
  Blobs are created read-only.
- **Anything else fsspec reaches** (``s3://``, ``gs://``, ``memory://`` ...): the content is hashed
  first (a file is spooled to a local temporary copy, so what is uploaded is what was hashed),
  then written with a single PUT to the final key if that key does not exist yet. An object PUT is
  atomic.

Errors raised by fsspec or the cloud SDKs become ``StoreError`` naming the store URL. ``fsspec``
itself is imported only when a non-local store is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol, TypeVar
from urllib.parse import urlsplit

from modelcycle.core.errors import (
    IntegrityError,
    InvalidInput,
    ModelCycleError,
    NotFound,
    StoreError,
)
from modelcycle.core.ids import Digest, check_digest
from modelcycle.core.paths import check_uri
from modelcycle.store.filesystems import S3_SCHEMES, open_filesystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from _typeshed import WriteableBuffer

_CHUNK: Final = 1 << 20
# Object stores have no folders to create, and their makedirs may create a *bucket*: never call it.
_OBJECT_SCHEMES: Final = S3_SCHEMES | {"gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"}
_O_BINARY: Final[int] = getattr(os, "O_BINARY", 0)

_T = TypeVar("_T")


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a local folder (a plain path or a ``file://`` URL)."""
    return "://" not in url or urlsplit(url).scheme.lower() == "file"


def _local_root(url: str) -> Path:
    """The absolute folder a plain path or ``file://`` URL names."""
    if "://" in url:
        from urllib.request import url2pathname  # http.client and email: import only when used

        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"artifact store URL {url!r} names a remote host; use a local path")
        return Path(url2pathname(parts.path)).absolute()
    return Path(url).expanduser().absolute()


def _relative_key(digest: Digest) -> str:
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


@contextlib.contextmanager
def _translated(url: str, action: str, missing: str | None = None) -> Iterator[None]:
    """Turn errors from the file system, fsspec or a cloud SDK into ModelCycle errors.

    Args:
        url: The store URL, named in every message.
        action: What was being done, e.g. ``"writing abc..."``.
        missing: When given, a ``FileNotFoundError`` becomes ``NotFound(missing)``.
    """
    try:
        yield
    except ModelCycleError:
        raise
    except FileNotFoundError as exc:
        if missing is not None:
            raise NotFound(missing) from None
        raise StoreError(f"artifact store {url}: {action} failed: {_describe(exc)}") from None
    except Exception as exc:  # fsspec and the cloud SDKs raise many unrelated types
        raise StoreError(f"artifact store {url}: {action} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({type(exc).__name__})"
    return f"{exc} ({type(exc).__name__})" if str(exc) else type(exc).__name__


def _create_temp(folder: Path, prefix: str, mode: int) -> tuple[int, Path]:
    """Create a new empty file with a random name in ``folder``; ``mode`` is masked by umask."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(8)}.part"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, mode)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        return fd, path


def _discard(path: Path) -> None:
    """Remove a temporary file, also when it is read-only (Windows refuses that)."""
    try:
        path.unlink(missing_ok=True)
    except PermissionError:
        with contextlib.suppress(OSError):
            path.chmod(0o600)
            path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it (POSIX)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_hashing(source: BinaryIO, target: BinaryIO) -> tuple[Digest, int]:
    sha = hashlib.sha256()
    size = 0
    while chunk := source.read(_CHUNK):
        sha.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return Digest(sha.hexdigest()), size


def _open_source(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {os.fspath(path)!r}: {_describe(exc)}") from None


class _VerifyingRaw(io.RawIOBase):
    """A raw reader that hashes everything it passes on and checks the digest at EOF."""

    def __init__(self, inner: BinaryIO, digest: Digest, url: str) -> None:
        super().__init__()
        self._inner = inner
        self._digest = digest
        self._url = url
        self._sha = hashlib.sha256()
        self._actual: str | None = None

    def readable(self) -> bool:
        return True

    def _read_chunk(self, size: int) -> bytes:
        with _translated(self._url, f"reading {self._digest}"):
            chunk = self._inner.read(size)
        if chunk:
            self._sha.update(chunk)
        else:
            self._verify()
        return chunk

    def _verify(self) -> None:
        if self._actual is None:
            self._actual = self._sha.hexdigest()
        if self._actual != self._digest:
            raise IntegrityError(
                f"artifact {self._digest} in {self._url} is corrupt: "
                f"its stored content hashes to {self._actual}"
            )

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self._read_chunk(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while chunk := self._read_chunk(_CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


class _Blobs(Protocol):
    """What differs between the local and the fsspec write paths."""

    def open_raw(self, digest: Digest) -> BinaryIO: ...

    def exists(self, digest: Digest) -> bool: ...

    def size(self, digest: Digest) -> int: ...

    def put_stream(self, source: BinaryIO) -> tuple[Digest, int]: ...

    def put_bytes(self, data: bytes, digest: Digest) -> None: ...


class _LocalBlobs:
    """Blobs in a local folder, written through a temp file and ``os.replace``."""

    def __init__(self, root: Path, url: str) -> None:
        self._root = root
        self._url = url

    def _path(self, digest: Digest) -> Path:
        return self._root / _relative_key(digest)

    def open_raw(self, digest: Digest) -> BinaryIO:
        missing = f"artifact {digest} not found in {self._url}"
        with _translated(self._url, f"opening {digest}", missing=missing):
            return self._path(digest).open("rb")

    def exists(self, digest: Digest) -> bool:
        with _translated(self._url, f"checking {digest}"):
            return self._path(digest).is_file()

    def size(self, digest: Digest) -> int:
        missing = f"artifact {digest} not found in {self._url}"
        with _translated(self._url, f"checking {digest}", missing=missing):
            return self._path(digest).stat().st_size

    def _staging(self) -> Path:
        folder = self._root / "tmp"
        with _translated(self._url, "creating its tmp folder"):
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _write_temp(self, fill: Callable[[BinaryIO], _T]) -> tuple[Path, _T]:
        """Create a read-only temp blob, fill it, fsync it; remove it on any failure."""
        fd, temp = _create_temp(self._staging(), "blob-", 0o444)
        try:
            with os.fdopen(fd, "wb") as out:
                result = fill(out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            _discard(temp)
            raise
        return temp, result

    def _commit(self, temp: Path, digest: Digest) -> None:
        """Rename ``temp`` to the blob's final name, or drop it if the blob already exists."""
        final = self._path(digest)
        try:
            if final.is_file():
                return
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                temp.replace(final)
            except OSError:
                if not final.is_file():  # another writer won the race on Windows: that is fine
                    raise
            _fsync_folder(final.parent)
        finally:
            _discard(temp)

    def put_stream(self, source: BinaryIO) -> tuple[Digest, int]:
        with _translated(self._url, "writing a blob"):
            temp, (digest, size) = self._write_temp(lambda out: _copy_hashing(source, out))
            self._commit(temp, digest)
        return digest, size

    def put_bytes(self, data: bytes, digest: Digest) -> None:
        with _translated(self._url, f"writing {digest}"):
            if self._path(digest).is_file():
                return
            temp, _ = self._write_temp(lambda out: out.write(data))
            self._commit(temp, digest)


class _FsspecBlobs:
    """Blobs on any fsspec file system, written with one PUT to the final key."""

    def __init__(self, fs: Any, root: str, url: str) -> None:
        self._fs = fs
        self._root = root.rstrip("/")
        self._url = url
        self._has_folders = urlsplit(url).scheme.lower() not in _OBJECT_SCHEMES

    def _key(self, digest: Digest) -> str:
        return f"{self._root}/{_relative_key(digest)}"

    def open_raw(self, digest: Digest) -> BinaryIO:
        missing = f"artifact {digest} not found in {self._url}"
        with _translated(self._url, f"opening {digest}", missing=missing):
            reader: BinaryIO = self._fs.open(self._key(digest), "rb")
        return reader

    def exists(self, digest: Digest) -> bool:
        with _translated(self._url, f"checking {digest}"):
            return bool(self._fs.exists(self._key(digest)))

    def size(self, digest: Digest) -> int:
        missing = f"artifact {digest} not found in {self._url}"
        with _translated(self._url, f"checking {digest}", missing=missing):
            return int(self._fs.size(self._key(digest)))

    def _put(self, key: str, write: Callable[[str], object]) -> None:
        """Write one object; create parent folders on file systems that need them."""
        try:
            write(key)
        except FileNotFoundError:
            if not self._has_folders:
                raise
            self._fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
            write(key)

    def put_stream(self, source: BinaryIO) -> tuple[Digest, int]:
        fd, name = tempfile.mkstemp(prefix="modelcycle-", suffix=".part")
        spool = Path(name)
        try:
            with (
                _translated(self._url, "spooling a blob to a local temp file"),
                os.fdopen(fd, "wb") as out,
            ):
                digest, size = _copy_hashing(source, out)
            with _translated(self._url, f"writing {digest}"):
                if not self._fs.exists(self._key(digest)):
                    self._put(self._key(digest), lambda key: self._fs.put_file(name, key))
        finally:
            _discard(spool)
        return digest, size

    def put_bytes(self, data: bytes, digest: Digest) -> None:
        with _translated(self._url, f"writing {digest}"):
            if not self._fs.exists(self._key(digest)):
                self._put(self._key(digest), lambda key: self._fs.pipe_file(key, data))


def _open_fsspec(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    """The fsspec file system and root path for ``url``."""
    try:
        fs, root = open_filesystem(url, storage_options)
    except InvalidInput as exc:
        raise InvalidInput(f"cannot open artifact store: {exc.message}") from None
    except StoreError as exc:
        raise StoreError(f"cannot open artifact store: {exc.message}") from None
    if not str(root).strip("/"):
        raise InvalidInput(f"artifact store URL {url!r} names no bucket or folder")
    return fs, str(root)


class FsspecArtifactStore:
    """Content-addressed blobs in a local folder or anywhere fsspec reaches.

    Args:
        url: The root: a local path, a ``file://`` URL, or any fsspec URL such as
            ``s3://bucket/prefix``. For ``s3://`` the endpoint comes from
            ``MODELCYCLE_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``
            (first set wins), credentials from the usual AWS chain.
        storage_options: Extra keyword arguments for the fsspec file system (ignored for a local
            folder).

    Raises:
        InvalidInput: ``url`` is empty, contains NUL or ``..``, or fsspec does not know its scheme.
        MissingDependency: ``s3://`` without s3fs installed.
        StoreError: fsspec could not load the file system for the scheme.
    """

    def __init__(self, url: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
        self._url = check_uri(url)
        self._blobs: _Blobs
        if is_local_url(url):
            self._blobs = _LocalBlobs(_local_root(url), url)
        else:
            fs, root = _open_fsspec(url, storage_options)
            self._blobs = _FsspecBlobs(fs, root, url)

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self._url!r})"

    @property
    def url(self) -> str:  # noqa: D102  (documented once, on the protocol)
        return self._url

    def put_file(self, path: str | os.PathLike[str]) -> tuple[Digest, int]:  # noqa: D102
        with _open_source(path) as source:
            return self._blobs.put_stream(source)

    def put_bytes(self, data: bytes) -> tuple[Digest, int]:  # noqa: D102
        digest = Digest(hashlib.sha256(data).hexdigest())
        self._blobs.put_bytes(data, digest)
        return digest, len(data)

    def open(self, digest: Digest) -> BinaryIO:  # noqa: D102
        checked = check_digest(digest)
        raw = _VerifyingRaw(self._blobs.open_raw(checked), checked, self._url)
        return io.BufferedReader(raw, buffer_size=_CHUNK)

    def read_bytes(self, digest: Digest) -> bytes:  # noqa: D102
        with self.open(digest) as reader:
            return reader.read()

    def get_file(self, digest: Digest, dest: str | os.PathLike[str]) -> None:  # noqa: D102
        target = Path(dest)
        with self.open(digest) as reader:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, temp = _create_temp(target.parent, f".{target.name}.", 0o666)
            except OSError as exc:
                raise StoreError(f"cannot write {os.fspath(dest)!r}: {_describe(exc)}") from None
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(reader, out, _CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                temp.replace(target)
            except OSError as exc:
                _discard(temp)
                raise StoreError(f"cannot write {os.fspath(dest)!r}: {_describe(exc)}") from None
            except BaseException:
                _discard(temp)
                raise

    def exists(self, digest: Digest) -> bool:  # noqa: D102
        return self._blobs.exists(check_digest(digest))

    def size(self, digest: Digest) -> int:  # noqa: D102
        return self._blobs.size(check_digest(digest))
