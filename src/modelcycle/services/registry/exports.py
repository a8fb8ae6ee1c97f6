"""Exports of registered versions: pickle, ONNX or PMML, checked for parity and recorded.

The export is made from the verified model bytes, checked against the version's input example
(or the rows the caller gives), stored content-addressed, recorded on the version with its
parity, and only then written to the caller's path (atomically). A failure at any step writes
nothing and records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from modelcycle.core.errors import IntegrityError, InvalidInput, NotFound
from modelcycle.core.ids import check_digest
from modelcycle.services.registry.logged import input_example, load_logged_model
from modelcycle.services.registry.versions import current_actor

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.packaging.export import ExportResult
    from modelcycle.services.registry.versions import ModelRegistry
    from modelcycle.store.artifacts import ArtifactStore

FORMATS = ("pickle", "onnx", "pmml")


def export_version(
    registry: ModelRegistry,
    version: ModelVersion,
    fmt: str,
    path: str | os.PathLike[str] | None = None,
    *,
    example: Any = None,
    tolerance: float | None = None,
    actor: str | None = None,
) -> ExportResult:
    """Export ``version`` to ``fmt``, record the export and its parity, write it to ``path``.

    Raises:
        InvalidInput: an unknown format, a step the format cannot express, or no rows to
            check parity on (the model was logged without an input example: pass ``example``).
        IntegrityError: the stored model bytes were changed after logging.
    """
    from modelcycle.services.packaging.export import export_model

    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    logged = version.model
    loaded = load_logged_model(registry.artifacts, logged)  # verifies the bytes first
    rows = example if example is not None else input_example(registry.artifacts, logged)
    if rows is None and fmt != "pickle":
        raise InvalidInput(
            f"{version.ref} was logged without an input example, so there are no rows to check "
            f"the {fmt} export against; pass example=<a few rows of input>"
        )
    data = None
    if fmt == "pickle":
        try:
            data = registry.artifacts.read_bytes(logged.digest)  # type: ignore[arg-type]
        except IntegrityError:
            raise IntegrityError(
                f"the stored bytes of {version.ref} do not match their recorded sha256"
            ) from None
    result = export_model(
        loaded.raw,
        fmt,
        signature=logged.signature,
        example=cast("Any", rows),  # None only for pickle, which checks no rows
        tolerance=tolerance,
        data=data,
        digest=logged.digest,
    )
    digest, size = registry.artifacts.put_bytes(result.data)
    record = {**result.to_dict(), "digest": digest}
    registry.metadata.registry.add_export(
        version.id, fmt, digest, size, record, actor or current_actor()
    )
    if path is not None:
        result.write(path)
    return result


def passed_export(version: ModelVersion, fmt: str) -> Mapping[str, Any] | None:
    """The record of ``version``'s export to ``fmt`` if its parity check passed, else None.

    The record is what ``export_version`` stored: ``digest`` (the sha256 of the exported bytes
    in the artifact store), ``parity`` and ``details`` (for ONNX, the input layout and names).
    """
    record = version.exports.get(fmt)
    if record is None:
        return None
    parity = record.get("parity")
    if not isinstance(parity, dict) or parity.get("passed") is not True:
        return None
    return record


def read_export(artifacts: ArtifactStore, version: ModelVersion, fmt: str) -> bytes:
    """The stored bytes of ``version``'s export to ``fmt``, verified against their sha256.

    Raises:
        NotFound: ``version`` was never exported to ``fmt``, or the bytes are missing.
        IntegrityError: the stored bytes were changed after the export (they are not returned).
    """
    record = version.exports.get(fmt)
    if record is None:
        raise NotFound(
            f"{version.ref} has no {fmt} export; make one with "
            f"mc.models.export({version.ref!r}, format={fmt!r})"
        )
    try:
        return artifacts.read_bytes(check_digest(record["digest"]))
    except IntegrityError:
        raise IntegrityError(
            f"the stored {fmt} export of {version.ref} does not match its recorded sha256 "
            f"{record['digest']}; it was changed after the export and is not loaded"
        ) from None
