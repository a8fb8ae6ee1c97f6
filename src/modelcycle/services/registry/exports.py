"""Exports of registered versions: pickle, ONNX or PMML, checked for parity and recorded.

The export is made from the verified model bytes, checked against the version's input example
(or the rows the caller gives), stored content-addressed, recorded on the version with its
parity, and only then written to the caller's path (atomically). A failure at any step writes
nothing and records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from modelcycle.core.errors import IntegrityError, InvalidInput
from modelcycle.services.registry.logged import input_example, load_logged_model
from modelcycle.services.registry.versions import current_actor

if TYPE_CHECKING:
    import os

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.packaging.export import ExportResult
    from modelcycle.services.registry.versions import ModelRegistry

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
