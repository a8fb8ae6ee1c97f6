"""The outcome of one export: the bytes, what they are, and how faithful they were found."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.services.packaging._export_parity import Parity


@dataclass(frozen=True, slots=True)
class ExportResult:
    """An exported model held in memory; nothing is on disk until ``write`` is called.

    ``details`` holds what a runtime needs to feed the export (for ONNX, the input names, types
    and shapes) and how it was made; ``to_dict()`` is the record stored beside the version.
    """

    format: str
    data: bytes
    parity: Parity
    media_type: str
    file_suffix: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """The sha256 hex digest of ``data``."""
        return hashlib.sha256(self.data).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe export record: format, size, digest, parity and details."""
        return {
            "format": self.format,
            "media_type": self.media_type,
            "file_suffix": self.file_suffix,
            "size_bytes": len(self.data),
            "sha256": self.sha256,
            "parity": self.parity.to_dict(),
            "details": dict(self.details),
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename).

        A crash leaves either the old file or the new one, never a part. The parent folder must
        exist.
        """
        target = Path(path)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp).replace(target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target
