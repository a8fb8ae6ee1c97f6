"""The ``ArtifactStore`` protocol: immutable blobs addressed by their sha256 digest.

Names map to digests in the metadata store; the artifact store only knows content. Every read is
verified: bytes whose sha256 differs from the digest they are stored under are never returned
without an ``IntegrityError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    import os

    from modelcycle.core.ids import Digest


@runtime_checkable
class ArtifactStore(Protocol):
    """Content-addressed blob storage (a local folder, S3/MinIO, anything fsspec reaches)."""

    @property
    def url(self) -> str:
        """The root URL of the store, as it was opened."""
        ...

    def put_file(self, path: str | os.PathLike[str]) -> tuple[Digest, int]:
        """Store the content of a local file, streaming it.

        Idempotent: content that is already stored is not written a second time. A crash or an
        error mid-write never leaves a partial blob under the digest.

        Args:
            path: The local file to store.

        Returns:
            The sha256 digest of the content and its size in bytes.

        Raises:
            InvalidInput: ``path`` cannot be read.
            StoreError: The store could not be written.
        """
        ...

    def put_bytes(self, data: bytes) -> tuple[Digest, int]:
        """Store ``data``; otherwise exactly like ``put_file``.

        Args:
            data: The content to store.

        Returns:
            The sha256 digest of the content and its size in bytes.

        Raises:
            StoreError: The store could not be written.
        """
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """A reader of the blob that hashes what it reads.

        The reader raises ``IntegrityError`` when it reaches the end of the content and the
        content's sha256 differs from ``digest``, so a caller who reads to the end never gets
        tampered bytes silently. The reader cannot seek. Close it (use ``with``).

        Args:
            digest: The blob's sha256 digest.

        Returns:
            A binary file object open for reading.

        Raises:
            InvalidInput: ``digest`` is not a sha256 hex digest.
            NotFound: No blob is stored under ``digest``.
            StoreError: The store could not be read.
        """
        ...

    def read_bytes(self, digest: Digest) -> bytes:
        """The whole blob, verified against ``digest``.

        Args:
            digest: The blob's sha256 digest.

        Returns:
            The content.

        Raises:
            InvalidInput: ``digest`` is not a sha256 hex digest.
            NotFound: No blob is stored under ``digest``.
            IntegrityError: The stored bytes do not match ``digest``.
            StoreError: The store could not be read.
        """
        ...

    def get_file(self, digest: Digest, dest: str | os.PathLike[str]) -> None:
        """Download the blob to ``dest``, verified.

        The content goes to a temporary name beside ``dest`` and is renamed into place only
        after its digest matched, so on any failure nothing is left at (or beside) ``dest``.
        Missing parent folders are created; an existing file at ``dest`` is replaced.

        Args:
            digest: The blob's sha256 digest.
            dest: The local file to write.

        Raises:
            InvalidInput: ``digest`` is not a sha256 hex digest.
            NotFound: No blob is stored under ``digest``.
            IntegrityError: The stored bytes do not match ``digest``.
            StoreError: The store could not be read or ``dest`` could not be written.
        """
        ...

    def exists(self, digest: Digest) -> bool:
        """Whether a blob is stored under ``digest`` (its content is not verified).

        Raises:
            InvalidInput: ``digest`` is not a sha256 hex digest.
            StoreError: The store could not be reached.
        """
        ...

    def size(self, digest: Digest) -> int:
        """The stored size of the blob in bytes.

        Raises:
            InvalidInput: ``digest`` is not a sha256 hex digest.
            NotFound: No blob is stored under ``digest``.
            StoreError: The store could not be reached.
        """
        ...
