"""The one place pickled model bytes are turned back into objects: after their digest matches.

Pickle is code: unpickling runs whatever the bytes say. Bytes are therefore hashed first and
refused with ``IntegrityError`` when the sha256 differs from the digest recorded at save time,
so a model file swapped in storage never gets the chance to run.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import re

from modelcycle.core.errors import IntegrityError, InvalidInput

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def digest_of(data: bytes) -> str:
    """The sha256 hex digest of ``data``, the form every model digest is recorded in."""
    return hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected_digest: str) -> None:
    """Raise ``IntegrityError`` unless the sha256 of ``data`` is ``expected_digest``."""
    if not _SHA256_HEX.fullmatch(str(expected_digest)):
        raise InvalidInput(
            f"a model digest is a 64-character sha256 hex string, got {expected_digest!r}"
        )
    actual = digest_of(data)
    if not hmac.compare_digest(actual, expected_digest.lower()):
        raise IntegrityError(
            f"model bytes have sha256 {actual} but {expected_digest} was recorded: "
            "they were changed after saving and will not be loaded"
        )


def load_verified(data: bytes, expected_digest: str) -> object:
    """Unpickle ``data`` only if its sha256 is ``expected_digest``.

    Args:
        data: pickled bytes, as saved by a flavor.
        expected_digest: the sha256 hex digest recorded when the bytes were saved.

    Returns:
        The unpickled object.

    Raises:
        IntegrityError: the bytes differ from what was recorded; nothing was unpickled.
    """
    verify_digest(data, expected_digest)
    return pickle.loads(data)  # noqa: S301, TID251 - digest verified just above
