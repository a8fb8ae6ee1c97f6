"""Pickle export: the stored model bytes themselves, after checking their digest.

Every prediction must trace to bytes the registry recorded, so a pickle export never pickles
the model again (a new pickle of the same model can differ byte for byte). It returns the bytes
whose sha256 the registry holds, refusing any that differ. The parity of such an export is exact
by construction and recorded as ``checked_with="identity"`` over zero rows.

Pickle is code: only load what came from a trusted store. ONNX and PMML are the formats for
exchange with parties you do not trust.
"""

from __future__ import annotations

import hashlib
import re

from modelcycle.core.errors import IntegrityError, InvalidInput
from modelcycle.services.packaging._export_parity import Parity
from modelcycle.services.packaging._export_result import ExportResult

PICKLE_MEDIA_TYPE = "application/x-python-pickle"
_PROTO = 0x80  # the opcode opening every pickle of protocol 2 or later
_SHA256 = re.compile(r"[0-9a-f]{64}")


def export_pickle(data: bytes, expected_digest: str) -> ExportResult:
    """The stored pickle bytes of a model, verified against the digest the registry recorded.

    Args:
        data: the model bytes as read from the artifact store.
        expected_digest: their recorded sha256 (64 lower-case hex characters).

    Returns:
        ``data`` unchanged, with an identity parity record.

    Raises:
        InvalidInput: ``expected_digest`` is not a sha256 digest, or ``data`` is not a pickle
            (protocol 2 or later).
        IntegrityError: the sha256 of ``data`` differs from ``expected_digest``.
    """
    if _SHA256.fullmatch(expected_digest) is None:
        msg = f"{expected_digest!r} is not a sha256 digest (64 lower-case hex characters)"
        raise InvalidInput(msg)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_digest:
        msg = (
            f"the model bytes have sha256 {actual}, but the registry recorded "
            f"{expected_digest}: refusing to export bytes that changed since they were stored"
        )
        raise IntegrityError(msg)
    if len(data) < 2 or data[0] != _PROTO:
        msg = "the stored model bytes are not a pickle (protocol 2 or later); export another format"
        raise InvalidInput(msg)
    parity = Parity(
        rows=0,
        tolerance=0.0,
        tolerance_kind="identical bytes",
        passed=True,
        checked_with="identity",
    )
    details = {"pickle_protocol": data[1]}
    return ExportResult("pickle", data, parity, PICKLE_MEDIA_TYPE, ".pkl", details)
