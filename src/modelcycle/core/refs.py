"""References to a dataset or model version: ``name@3``, ``name@latest``, ``name@production``.

The grammar, in full::

    ref      = name , [ "@" , selector ] ;          (* a bare name means name@latest *)
    selector = version | alias ;
    version  = nonzero , { digit } ;                (* 1 .. 2**63 - 1, no leading zeros *)
    alias    = letter , { letter | digit | "." | "_" | "-" } ;   (* 1 to 64 characters *)
    name     = alnum , { alnum | "." | "_" | "-" } ;             (* 1 to 128 characters *)

``latest`` is the reserved alias meaning "the newest version"; every other alias is whatever
the registry says it points to. Aliases start with a letter, so an alias can never be mistaken
for a version number. Nothing is stripped or case-folded: ``parse_ref(format_ref(r)) == r``.

This module parses and formats; resolving a reference against a store is the registry's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelcycle.core.errors import InvalidInput

__all__ = ["LATEST", "MAX_VERSION", "Ref", "check_alias", "check_name", "format_ref", "parse_ref"]

LATEST = "latest"
"""The reserved alias that always means the newest version."""

MAX_VERSION = 2**63 - 1
"""The largest version number (the range of a signed 64-bit database column)."""

_NAME_MAX = 128
_ALIAS_MAX = 64
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_VERSION_RE = re.compile(r"[1-9][0-9]*")
# One more digit than MAX_VERSION has: enough to tell "too large" from "malformed" without ever
# converting an unbounded digit string to int.
_VERSION_DIGITS_MAX = len(str(MAX_VERSION)) + 1


def _shown(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut short for very long input so that messages stay readable."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid dataset, model or project name.

    Args:
        name: The candidate name.
        what: What the name names, used in the error message ("model name", ...).

    Returns:
        ``name`` unchanged.

    Raises:
        InvalidInput: If ``name`` is not 1 to 128 characters of ``[A-Za-z0-9._-]`` starting with
            a letter or digit.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"{what} must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidInput(f"{what} must not be empty")
    if len(name) > _NAME_MAX:
        raise InvalidInput(
            f"{what} {_shown(name, 20)} is too long; the limit is {_NAME_MAX} characters"
        )
    if not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{what} {_shown(name)} is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias (``latest``, ``production``, ``champion-2``...).

    Args:
        alias: The candidate alias.

    Returns:
        ``alias`` unchanged.

    Raises:
        InvalidInput: If ``alias`` is not 1 to 64 characters of ``[A-Za-z0-9._-]`` starting
            with a letter.
    """
    if not isinstance(alias, str):
        raise InvalidInput(f"alias must be a string, got {type(alias).__name__}")
    if not alias:
        raise InvalidInput("alias must not be empty")
    if len(alias) > _ALIAS_MAX:
        raise InvalidInput(
            f"alias {_shown(alias, 20)} is too long; the limit is {_ALIAS_MAX} characters"
        )
    if not _ALIAS_RE.fullmatch(alias):
        raise InvalidInput(
            f"alias {_shown(alias)} is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter"
        )
    return alias


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(f"version must be an int, got {version!r}")
    if not 1 <= version <= MAX_VERSION:
        raise InvalidInput(
            f"version {version} is out of range: versions run from 1 to {MAX_VERSION}"
        )
    return version


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed reference: a name plus either a version number or an alias.

    ``Ref("churn")`` with neither set means ``Ref("churn", alias="latest")``: the constructor
    fills in the reserved alias so that the two compare equal, as their text forms do.

    Attributes:
        name: The dataset or model name.
        version: The version number (>= 1), or ``None`` when ``alias`` is set.
        alias: The alias, or ``None`` when ``version`` is set.
    """

    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.version is not None:
            if self.alias is not None:
                raise InvalidInput(
                    f"reference to {self.name!r} has both version {self.version} and alias "
                    f"{self.alias!r}; give one of them"
                )
            _check_version(self.version)
        elif self.alias is None:
            object.__setattr__(self, "alias", LATEST)
        else:
            check_alias(self.alias)

    @property
    def is_latest(self) -> bool:
        """Whether this reference means the newest version (the ``latest`` alias)."""
        return self.alias == LATEST

    def __str__(self) -> str:
        return format_ref(self)


def parse_ref(text: str) -> Ref:
    """Parse ``name``, ``name@3``, ``name@latest`` or ``name@alias`` into a ``Ref``.

    Args:
        text: The reference as the user typed it. Nothing is stripped.

    Returns:
        The parsed reference; a bare name gives the ``latest`` alias.

    Raises:
        InvalidInput: If the text is not a valid reference; the message names the text and what
            is wrong with it.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"reference must be a string, got {type(text).__name__}")
    name, at, selector = text.partition("@")
    try:
        check_name(name, "name")
    except InvalidInput as exc:
        raise InvalidInput(f"invalid reference {_shown(text)}: {exc.message}") from None
    if not at:
        return Ref(name, alias=LATEST)
    if not selector:
        raise InvalidInput(
            f"invalid reference {_shown(text)}: expected a version number or an alias after '@'"
        )
    if "@" in selector:
        raise InvalidInput(f"invalid reference {_shown(text)}: '@' may appear only once")
    if selector[0].isascii() and (selector[0].isdigit() or selector[0] in "+-"):
        return Ref(name, version=_parse_version(text, selector))
    try:
        check_alias(selector)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid reference {_shown(text)}: {exc.message}") from None
    return Ref(name, alias=selector)


def _parse_version(text: str, selector: str) -> int:
    if not _VERSION_RE.fullmatch(selector):
        raise InvalidInput(
            f"invalid reference {_shown(text)}: version {_shown(selector, 20)} is not a positive "
            "whole number written without leading zeros (versions start at 1)"
        )
    if len(selector) > _VERSION_DIGITS_MAX or int(selector) > MAX_VERSION:
        raise InvalidInput(
            f"invalid reference {_shown(text)}: version {_shown(selector, 20)} is larger than "
            f"{MAX_VERSION}"
        )
    return int(selector)


def format_ref(ref: Ref) -> str:
    """The canonical text of ``ref``: ``name@3``, ``name@latest`` or ``name@production``.

    Args:
        ref: The reference.

    Returns:
        The text that ``parse_ref`` turns back into an equal ``Ref``.
    """
    if ref.version is not None:
        return f"{ref.name}@{ref.version}"
    return f"{ref.name}@{ref.alias}"
