"""Content-addressed artifact storage: blobs named by their sha256, over a folder or fsspec."""

from __future__ import annotations

from modelcycle.store.artifacts.fsspec_store import FsspecArtifactStore
from modelcycle.store.artifacts.protocol import ArtifactStore

__all__ = ["ArtifactStore", "FsspecArtifactStore", "open_artifact_store"]


def open_artifact_store(url: str) -> ArtifactStore:
    """Open the artifact store rooted at ``url``.

    A plain path or a ``file://`` URL opens a local folder (written through a temp file and an
    atomic rename); any other URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``) opens
    it through fsspec, writing each blob with a single PUT. Nothing is created until the first
    write.

    Args:
        url: The root of the store.

    Returns:
        The store.

    Raises:
        InvalidInput: ``url`` is empty, contains NUL bytes or ``..`` segments, or names an
            unknown scheme.
        MissingDependency: The scheme needs an optional extra (``s3://`` needs ``modelcycle[s3]``).
    """
    return FsspecArtifactStore(url)
