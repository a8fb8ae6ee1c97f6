from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import modelcycle.store.artifacts
from modelcycle.core.errors import (
    IntegrityError,
    InvalidInput,
    MissingDependency,
    NotFound,
    StoreError,
)
from modelcycle.core.ids import Digest, digest_bytes
from modelcycle.store.artifacts import ArtifactStore, FsspecArtifactStore, open_artifact_store

if TYPE_CHECKING:
    from collections.abc import Callable

MiB = 1 << 20


@dataclass(frozen=True)
class Backend:
    """A store plus the back doors a test needs: tamper with a blob, count the blobs."""

    name: str
    store: ArtifactStore
    tamper: Callable[[Digest, bytes], None]
    blob_count: Callable[[], int]


def _layout_key(digest: str) -> str:
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def _local_backend(root: Path) -> Backend:
    def tamper(digest: Digest, data: bytes) -> None:
        path = root / _layout_key(digest)
        path.chmod(0o644)
        path.write_bytes(data)

    def blob_count() -> int:
        return sum(1 for p in (root / "sha256").rglob("*") if p.is_file())

    return Backend("local", open_artifact_store(str(root)), tamper, blob_count)


def _s3_backend(url: str, endpoint: str) -> Backend:
    import boto3

    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    client = boto3.client("s3", endpoint_url=endpoint)

    def tamper(digest: Digest, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{_layout_key(digest)}", Body=data)

    def blob_count() -> int:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/sha256/")
        return int(listing["KeyCount"])

    return Backend("s3", open_artifact_store(url), tamper, blob_count)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path / "store")
    s3_url: str = request.getfixturevalue("s3_url")
    s3_server: str = request.getfixturevalue("s3_server")
    return _s3_backend(s3_url, s3_server)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _subprocess_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout's modelcycle."""
    src = Path(modelcycle.store.artifacts.__file__).parents[3]
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _write_random(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


# --- round trips ---------------------------------------------------------------------------------


def test_store_satisfies_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.store, ArtifactStore)
    assert isinstance(backend.store, FsspecArtifactStore)


@pytest.mark.parametrize("data", [b"", b"hello", bytes(range(256)) * 100])
def test_put_bytes_round_trip(backend: Backend, data: bytes) -> None:
    digest, size = backend.store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert backend.store.exists(digest)
    assert backend.store.size(digest) == len(data)
    assert backend.store.read_bytes(digest) == data
    with backend.store.open(digest) as reader:
        assert reader.read() == data


def test_put_file_and_get_file_round_trip(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    data = _write_random(source, 70_000)
    digest, size = backend.store.put_file(source)
    assert (digest, size) == (digest_bytes(data), len(data))
    dest = tmp_path / "out" / "nested" / "model.bin"  # parents are created
    backend.store.get_file(digest, dest)
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]


def test_get_file_replaces_an_existing_file(backend: Backend, tmp_path: Path) -> None:
    digest, _ = backend.store.put_bytes(b"new content")
    dest = tmp_path / "file.txt"
    dest.write_bytes(b"old content that is longer")
    backend.store.get_file(digest, dest)
    assert dest.read_bytes() == b"new content"


def test_same_content_twice_is_one_object(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"same bytes")
    first = backend.store.put_bytes(b"same bytes")
    second = backend.store.put_bytes(b"same bytes")
    third = backend.store.put_file(source)
    assert first == second == third
    assert backend.blob_count() == 1


def test_existing_local_blob_is_not_written_again(tmp_path: Path) -> None:
    backend = _local_backend(tmp_path / "store")
    digest, _ = backend.store.put_bytes(b"x" * 1000)
    blob = tmp_path / "store" / _layout_key(digest)
    before = blob.stat()
    source = tmp_path / "x.bin"
    source.write_bytes(b"x" * 1000)
    backend.store.put_bytes(b"x" * 1000)
    backend.store.put_file(source)
    after = blob.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not any((tmp_path / "store" / "tmp").iterdir())  # the spooled copy was dropped


def test_local_layout_and_read_only_blobs(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    digest, _ = store.put_bytes(b"layout")
    blob = tmp_path / "store" / "sha256" / digest[:2] / digest[2:4] / digest
    assert blob.read_bytes() == b"layout"
    if os.name == "posix":
        assert blob.stat().st_mode & 0o222 == 0


def test_file_url_opens_the_same_local_folder(tmp_path: Path) -> None:
    digest, _ = open_artifact_store(str(tmp_path / "store")).put_bytes(b"via path")
    store = open_artifact_store((tmp_path / "store").as_uri())
    assert store.url == (tmp_path / "store").as_uri()
    assert store.read_bytes(digest) == b"via path"


def test_concurrent_writers_of_the_same_content(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(256 * 1024)
    source = tmp_path / "same.bin"
    source.write_bytes(data)

    def put(i: int) -> tuple[Digest, int]:
        return backend.store.put_bytes(data) if i % 2 else backend.store.put_file(source)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(put, range(16)))
    assert results == {(digest_bytes(data), len(data))}
    assert backend.blob_count() == 1
    assert backend.store.read_bytes(digest_bytes(data)) == data


def test_large_file_streams_through(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = _write_random(source, 5 * MiB + 123)
    digest, size = backend.store.put_file(source)
    assert (digest, size) == (digest_bytes(data), len(data))
    dest = tmp_path / "big.out"
    backend.store.get_file(digest, dest)
    assert dest.read_bytes() == data
    sha = hashlib.sha256()
    with backend.store.open(digest) as reader:
        while chunk := reader.read(64 * 1024):
            sha.update(chunk)
    assert sha.hexdigest() == digest


def test_local_store_streams_in_bounded_memory(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(24):
            out.write(os.urandom(MiB))
    tracemalloc.start()
    try:
        digest, size = store.put_file(source)
        store.get_file(digest, tmp_path / "big.out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == 24 * MiB
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB for a 24 MiB blob"
    assert (tmp_path / "big.out").stat().st_size == size


@given(data=st.binary(max_size=4096))
def test_digest_matches_sha256_for_any_content(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.getbasetemp() / "hypothesis-store"
    store = open_artifact_store(str(root))
    digest, size = store.put_bytes(data)
    assert (digest, size) == (digest_bytes(data), len(data))
    assert store.read_bytes(digest) == data


# --- verification --------------------------------------------------------------------------------

_TAMPERINGS = {
    "same-length": lambda data: bytes([data[0] ^ 1]) + data[1:],
    "truncated": lambda data: data[:-1],
    "appended": lambda data: data + b"!",
}


@pytest.mark.parametrize("tampering", sorted(_TAMPERINGS))
@pytest.mark.parametrize("reader", ["open", "read_bytes", "get_file"])
def test_tampered_blob_is_refused(
    backend: Backend, tmp_path: Path, tampering: str, reader: str
) -> None:
    data = os.urandom(3000)
    digest, _ = backend.store.put_bytes(data)
    backend.tamper(digest, _TAMPERINGS[tampering](data))
    dest_dir = tmp_path / "downloads"
    dest_dir.mkdir()

    def read_through_open() -> bytes:
        with backend.store.open(digest) as stream:
            return stream.read()

    call: dict[str, Callable[[], object]] = {
        "open": read_through_open,
        "read_bytes": lambda: backend.store.read_bytes(digest),
        "get_file": lambda: backend.store.get_file(digest, dest_dir / "model.bin"),
    }
    with pytest.raises(IntegrityError, match=f"artifact {digest} in .* is corrupt"):
        call[reader]()
    assert list(dest_dir.iterdir()) == []  # neither dest nor a temp file beside it


def test_tampered_get_file_keeps_an_existing_dest(backend: Backend, tmp_path: Path) -> None:
    digest, _ = backend.store.put_bytes(b"good bytes")
    backend.tamper(digest, b"evil bytes")
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"previous download")
    with pytest.raises(IntegrityError, match="is corrupt"):
        backend.store.get_file(digest, dest)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["model.bin"]
    assert dest.read_bytes() == b"previous download"


def test_reader_verifies_at_end_of_content(backend: Backend) -> None:
    digest, _ = backend.store.put_bytes(b"a" * 5000)
    backend.tamper(digest, b"b" * 5000)
    with backend.store.open(digest) as stream:
        assert stream.read(10) == b"b" * 10  # no verdict before the end
        with pytest.raises(IntegrityError, match="hashes to"):
            stream.read()
        with pytest.raises(IntegrityError, match="is corrupt"):
            stream.read()  # reading on never turns a mismatch into a clean EOF


def test_unknown_digest_is_not_found(backend: Backend, tmp_path: Path) -> None:
    digest = digest_bytes(b"never stored")
    assert not backend.store.exists(digest)
    with pytest.raises(NotFound, match=f"artifact {digest} not found"):
        backend.store.open(digest)
    with pytest.raises(NotFound, match=f"artifact {digest} not found"):
        backend.store.read_bytes(digest)
    with pytest.raises(NotFound, match=f"artifact {digest} not found"):
        backend.store.size(digest)
    with pytest.raises(NotFound, match=f"artifact {digest} not found"):
        backend.store.get_file(digest, tmp_path / "dest.bin")
    assert not (tmp_path / "dest.bin").exists()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "../" + "0" * 61,
        "0" * 64 + "\n",
    ],
)
@pytest.mark.parametrize("method", ["open", "read_bytes", "get_file", "exists", "size"])
def test_malformed_digest_is_invalid_input(
    backend: Backend, tmp_path: Path, bad: str, method: str
) -> None:
    call: dict[str, Callable[[], object]] = {
        "open": lambda: backend.store.open(Digest(bad)),
        "read_bytes": lambda: backend.store.read_bytes(Digest(bad)),
        "get_file": lambda: backend.store.get_file(Digest(bad), tmp_path / "dest"),
        "exists": lambda: backend.store.exists(Digest(bad)),
        "size": lambda: backend.store.size(Digest(bad)),
    }
    with pytest.raises(InvalidInput, match="is not a sha256 digest"):
        call[method]()
    assert not (tmp_path / "dest").exists()


# --- interrupted writes --------------------------------------------------------------------------


def test_failed_rename_leaves_no_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    store = open_artifact_store(str(root))
    source = tmp_path / "data.bin"
    data = _write_random(source, 100_000)

    def refuse(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", refuse)
        with pytest.raises(StoreError, match=r"artifact store .*store: writing .*No space left"):
            store.put_file(source)
        with pytest.raises(StoreError, match="No space left"):
            store.put_bytes(b"small")
    assert not store.exists(digest_bytes(data))
    assert _files_under(root / "sha256") == []
    assert list((root / "tmp").iterdir()) == []  # the temp files were removed
    assert store.put_file(source) == (digest_bytes(data), len(data))  # and a retry works
    assert store.read_bytes(digest_bytes(data)) == data


_WRITER = textwrap.dedent(
    """
    import sys
    from modelcycle.store.artifacts import open_artifact_store
    open_artifact_store(sys.argv[1]).put_file(sys.argv[2])
    """
)


def _open_fifo_for_writing(path: Path, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: the writer process has not opened its end yet
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd


def _wait_for_partial_blob(staging: Path, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = list(staging.glob("*.part")) if staging.exists() else []
        if parts and parts[0].stat().st_size >= at_least:
            return
        time.sleep(0.01)
    pytest.fail("the writer never got going")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_killed_writer_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "store"
    fifo = tmp_path / "source.fifo"
    os.mkfifo(fifo)
    src = Path(modelcycle.store.artifacts.__file__).parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(fifo)], env=env)
    try:
        fd = _open_fifo_for_writing(fifo, proc)
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(b"z" * (3 * MiB))  # the writer is now blocked waiting for the rest
            pipe.flush()
            _wait_for_partial_blob(root / "tmp", at_least=MiB)
            proc.kill()
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion above failed
            proc.kill()
            proc.wait(timeout=30)
    assert _files_under(root / "sha256") == []
    assert len(list((root / "tmp").glob("*.part"))) == 1  # debris stays in tmp, never published
    store = open_artifact_store(str(root))
    full = b"z" * (3 * MiB)
    assert store.put_bytes(full) == (digest_bytes(full), len(full))
    assert store.read_bytes(digest_bytes(full)) == full


# --- opening stores and reporting errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must not be empty"),
        ("store/../elsewhere", r"'\.\.' segment"),
        ("s3://bucket/a/../b", r"'\.\.' segment"),
        ("s3://bucket/a/%2e%2e/b", r"'\.\.' segment"),
        ("store\x00x", "control character"),
    ],
)
def test_bad_root_url_is_invalid_input(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        open_artifact_store(url)


def test_unknown_scheme_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="nosuchscheme"):
        open_artifact_store("nosuchscheme://bucket/prefix")


def test_s3_without_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes `import s3fs` raise ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'modelcycle\[s3\]'"):
        open_artifact_store("s3://bucket/prefix")


def test_unwritable_root_is_a_store_error_naming_the_url(tmp_path: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_bytes(b"a file where the store should be")
    store = open_artifact_store(str(root))
    with pytest.raises(StoreError, match=f"artifact store {root}: .* failed"):
        store.put_bytes(b"data")


def test_missing_source_file_is_invalid_input(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read .*missing\.bin"):
        backend.store.put_file(tmp_path / "missing.bin")


def test_fsspec_is_not_imported_for_a_local_store(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from modelcycle.store.artifacts import open_artifact_store\n"
        f"s = open_artifact_store({str(tmp_path / 'store')!r})\n"
        "s.read_bytes(s.put_bytes(b'x')[0])\n"
        "assert 'fsspec' not in sys.modules, 'fsspec imported'\n"
    )
    src = Path(modelcycle.store.artifacts.__file__).parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


@pytest.mark.s3
def test_missing_bucket_is_a_store_error(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCYCLE_S3_ENDPOINT_URL", s3_server)
    store = open_artifact_store("s3://mc-no-such-bucket/artifacts")
    with pytest.raises(
        StoreError, match="artifact store s3://mc-no-such-bucket/artifacts: writing"
    ):
        store.put_bytes(b"data")
    import boto3

    names = {
        b["Name"] for b in boto3.client("s3", endpoint_url=s3_server).list_buckets()["Buckets"]
    }
    assert "mc-no-such-bucket" not in names  # a write never creates a bucket


@pytest.mark.s3
@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_s3_endpoint_from_standard_aws_variables(
    s3_url: str, s3_server: str, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("MODELCYCLE_S3_ENDPOINT_URL")
    monkeypatch.setenv(variable, s3_server)
    store = open_artifact_store(s3_url)
    digest, _ = store.put_bytes(b"through " + variable.encode())
    assert store.read_bytes(digest) == b"through " + variable.encode()
