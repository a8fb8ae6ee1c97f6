"""Identifiers: time-ordered run ids and the sha256 ``Digest`` value type."""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import BinaryIO, NewType

from modelcycle.core.errors import InvalidInput

Digest = NewType("Digest", str)
"""A lower-case sha256 hex digest (64 characters) naming a blob by its content."""

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_ID_RE = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1 << 20


def new_id() -> str:
    """A 32-hex-character id that sorts by creation time (48-bit ms clock + 80 random bits)."""
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{os.urandom(10).hex()}"


def check_id(value: object, what: str = "run id") -> str:
    """Return ``value`` if it is a well-formed id, else raise ``InvalidInput``."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidInput(f"{what} {value!r} is not a 32-character hex id")
    return value


def check_digest(value: object) -> Digest:
    """Return ``value`` as a ``Digest`` if it is 64 lower-case hex characters."""
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a sha256 digest (64 lower-case hex characters)")
    return Digest(value)


def digest_bytes(data: bytes) -> Digest:
    """The sha256 digest of ``data``."""
    return Digest(hashlib.sha256(data).hexdigest())


def digest_stream(stream: BinaryIO) -> tuple[Digest, int]:
    """The sha256 digest and byte count of everything left in ``stream``."""
    sha = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return Digest(sha.hexdigest()), size
