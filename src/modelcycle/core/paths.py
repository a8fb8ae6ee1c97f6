r"""Untrusted artifact names and store URIs: the one validator every path goes through.

DESIGN §7: untrusted strings never become filesystem paths unchecked. MLflow patched its path
check about a dozen times (CVE-2023-1177 onwards) because each fix looked at one spelling of
``..`` while some other layer (a URL decoder, a Windows path API, a router that drops ``;``
parameters or ``#`` fragments) later turned another spelling back into it. So this module fixes
**one canonical form first, then checks that form**, and every layer below it receives only
the canonical form.

The canonical form of an artifact name, as ``normalize_artifact_name`` builds it:

1. Percent-decode repeatedly until nothing changes (``%252e`` → ``%2e`` → ``.``); a name whose
   escapes do not decode to UTF-8 is refused.
2. Refuse control characters (NUL included), surrogates and line separators, and the URL
   delimiters ``#`` and ``?`` (a fragment or query must never hide part of a path).
3. Turn every backslash into ``/``.
4. Refuse absolute names: a leading ``/``, so ``//host`` and ``\\server`` too.
5. Refuse any segment, split on ``/`` and on ``;`` (path parameters), that is ``..``, also
   after Unicode compatibility folding (fullwidth dots, U+FF0E) or with trailing spaces
   (Windows reads ``.. `` as ``..``).
6. Drop empty and ``.`` segments and the trailing ``/``; what is left must not be empty.
7. Refuse a first remaining segment that starts like a URL scheme or a drive letter (a letter,
   then letters, digits, ``+ . -``, then ``:``, as in ``file:``, ``s3:``, ``C:``) or starts
   with ``~`` (home-directory expansion). Checking after step 6 keeps ``./C:`` from
   normalising into a name that is itself refused.

Names of ordinary files survive unchanged: ``plots/roc.png``, ``model.pkl``, ``....``,
``a..b``, ``v1;final``. Normalising a normalised name gives it back.

``confine`` joins a normalised name to a root and resolves symlinks, refusing a result outside
the root: the name check stops hostile text, ``confine`` stops hostile filesystem state.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from modelcycle.core.errors import InvalidInput

__all__ = ["MAX_NAME_LENGTH", "check_uri", "confine", "normalize_artifact_name"]

MAX_NAME_LENGTH = 1024
"""The longest artifact name accepted, in characters, before decoding."""

_MAX_URI_LENGTH = 4096
_SCHEME_OR_DRIVE_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_URI_SPLIT_RE = re.compile(r"[/\\;?#&=]")
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _shown(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut short for very long input so that messages stay readable."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _decode_fully(text: str, what: str, original: str) -> str:
    """Percent-decode until stable; each round shrinks the text, so this ends."""
    while True:
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{what} {_shown(original)} is refused: its percent-escapes do not decode to UTF-8"
            ) from None
        if decoded == text:
            return text
        text = decoded


def _bad_character(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in _BAD_CATEGORIES:
            return char
    return None


def _is_parent(segment: str) -> bool:
    """Whether a segment means "the parent folder" to some layer below us."""
    if segment.rstrip(" ") == "..":
        return True
    return unicodedata.normalize("NFKC", segment).rstrip(" ") == ".."


def normalize_artifact_name(name: str) -> str:
    r"""Return the canonical relative POSIX form of an untrusted artifact name.

    See the module docstring for the exact rules.

    Args:
        name: The name as received, e.g. ``"plots/roc.png"`` or ``"plots\\roc.png"``.

    Returns:
        The canonical name, e.g. ``"plots/roc.png"``: relative, ``/``-separated, without
        ``.`` or empty segments or a trailing ``/``, and fully percent-decoded.

    Raises:
        InvalidInput: If the name is empty, too long, absolute, carries a scheme, drive letter,
            ``~``, ``..``, ``#``, ``?`` or a control character (after decoding); the message
            shows the name and the reason.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"artifact name must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidInput("artifact name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"artifact name {_shown(name)} is too long: the limit is {MAX_NAME_LENGTH} characters"
        )
    text = _decode_fully(name, "artifact name", name)
    bad = _bad_character(text)
    if bad is not None:
        raise InvalidInput(
            f"artifact name {_shown(name)} is refused: it contains the control character {bad!r}"
        )
    for delimiter, role in (("#", "a URL fragment"), ("?", "a URL query")):
        if delimiter in text:
            raise InvalidInput(
                f"artifact name {_shown(name)} is refused: {delimiter!r} would start {role}"
            )
    text = text.replace("\\", "/")
    if text.startswith("/"):
        raise InvalidInput(
            f"artifact name {_shown(name)} is refused: it is an absolute path; "
            "artifact names are relative, like 'plots/roc.png'"
        )
    segments = text.split("/")
    for segment in segments:
        if any(_is_parent(part) for part in segment.split(";")):
            raise InvalidInput(
                f"artifact name {_shown(name)} is refused: it has a '..' segment, which could "
                "climb out of the artifact folder"
            )
    kept = [segment for segment in segments if segment not in ("", ".")]
    if not kept:
        raise InvalidInput(f"artifact name {_shown(name)} is refused: it names no file or folder")
    _check_first_segment(name, kept[0])
    return "/".join(kept)


def _check_first_segment(name: str, first: str) -> None:
    prefix = _SCHEME_OR_DRIVE_RE.match(first)
    if prefix is not None:
        kind = "a drive letter" if len(prefix.group()) == 2 else "a URL scheme"
        raise InvalidInput(
            f"artifact name {_shown(name)} is refused: it starts with {kind} ({prefix.group()!r}); "
            "artifact names are relative paths, like 'plots/roc.png'"
        )
    if first.startswith("~"):
        raise InvalidInput(
            f"artifact name {_shown(name)} is refused: a leading '~' means a home folder"
        )


def confine(root: str | os.PathLike[str], name: str) -> Path:
    """Return the real path of artifact ``name`` under ``root``, refusing any escape.

    The name is normalised with ``normalize_artifact_name``; then ``root / name`` is resolved
    (symlinks followed, as far as the path exists) and must lie strictly inside the resolved
    root. Call it at the moment of use: a symlink created after the check is not seen.

    Args:
        root: The folder the artifact must stay in.
        name: The untrusted artifact name.

    Returns:
        The resolved path inside the resolved root.

    Raises:
        InvalidInput: If the name is refused by ``normalize_artifact_name`` or resolves to a
            place outside ``root`` (through a symlink, for instance).
    """
    relative = normalize_artifact_name(name)
    # os.path.realpath rather than Path.resolve: on Python 3.11 the latter raises RuntimeError on
    # a symlink loop, where realpath simply stops resolving.
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / relative))
    if target == real_root or not target.is_relative_to(real_root):
        raise InvalidInput(
            f"artifact name {_shown(name)} is refused: it resolves to {str(target)!r}, "
            f"outside {str(real_root)!r} (a symlink on the way points elsewhere)"
        )
    return target


def check_uri(uri: str) -> str:
    r"""Check a store or artifact-root URI such as ``s3://bucket/prefix`` or ``/srv/artifacts``.

    The URI is percent-decoded until stable and then split on ``/``, ``\``, ``;``, ``?``,
    ``#``, ``&`` and ``=``; no piece may be ``..`` (so a query or fragment cannot smuggle one
    in, as in MLflow's CVE-2024-1483 and CVE-2024-3848), and neither the raw nor the decoded
    text may contain a NUL or other control character.

    Args:
        uri: The URI or plain folder path (absolute or relative).

    Returns:
        ``uri`` unchanged.

    Raises:
        InvalidInput: If the URI is empty, longer than 4096 characters, contains a control
            character, or has a ``..`` segment once decoded.
    """
    if not isinstance(uri, str):
        raise InvalidInput(f"URI must be a string, got {type(uri).__name__}")
    if not uri.strip():
        raise InvalidInput("URI must not be empty")
    if len(uri) > _MAX_URI_LENGTH:
        raise InvalidInput(f"URI {_shown(uri)} is too long: the limit is {_MAX_URI_LENGTH}")
    decoded = _decode_fully(uri, "URI", uri)
    for text in (uri, decoded):
        bad = _bad_character(text)
        if bad is not None:
            raise InvalidInput(
                f"URI {_shown(uri)} is refused: it contains the control character {bad!r}"
            )
    if any(_is_parent(piece) for piece in _URI_SPLIT_RE.split(decoded)):
        raise InvalidInput(
            f"URI {_shown(uri)} is refused: it has a '..' segment (after decoding), which could "
            "climb out of the intended folder"
        )
    return uri
