"""Checks of what callers log: keys, values, sizes. Messages show the offending value."""

from __future__ import annotations

import re
from numbers import Real
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.core.entities.run import MetricTuple

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_STEP = 2**63 - 1
_KEY_RE = re.compile(r"[A-Za-z0-9_\-. /:]+")
# Keys that passed: a training loop logs the same few keys again and again.
_VALID_KEYS: set[str] = set()
_MAX_VALID_KEYS = 100_000


def check_key(key: str, what: str) -> str:
    """A metric, param or tag key: 1 to 250 of letters, digits, ``_ - . / : space``."""
    if type(key) is str and key in _VALID_KEYS:
        return key
    if not isinstance(key, str):
        raise InvalidInput(f"{what} key must be a string, got {type(key).__name__} {key!r}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{what} key {key[:60]!r} must be 1 to {MAX_KEY_LENGTH} characters, not {len(key)}"
        )
    if not _KEY_RE.fullmatch(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(
            f"{what} key {key!r} may hold only letters, digits, '_', '-', '.', '/', ':' and "
            "spaces, and must not start with '/' or contain '..'"
        )
    if type(key) is str:
        if len(_VALID_KEYS) >= _MAX_VALID_KEYS:
            _VALID_KEYS.clear()
        _VALID_KEYS.add(key)
    return key


def check_text_value(key: str, value: object, what: str, limit: int) -> str:
    """A param or tag value as text; numbers and booleans are written as ``str`` does."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInput(
            f"{what} {key!r} is {len(text)} characters long; the limit is {limit} "
            "(store long text as an artifact with log_artifact)"
        )
    return text


def check_metric_value(key: str, value: object) -> float:
    """A metric value as float. NaN and ±inf are kept as such."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidInput(
            f"metric {key!r} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


def check_metrics(metrics: Sequence[MetricTuple]) -> list[MetricTuple]:
    """Metric points as stored: float values, steps >= 0, integer timestamps.

    Points that already are exactly that (the common case) are passed on as they are.
    """
    checked: list[MetricTuple] = []
    append = checked.append
    keys: set[str] = set()
    for point in metrics:
        key, value, step, timestamp = point
        if key not in keys:
            if key not in _VALID_KEYS:
                check_key(key, "metric")
            keys.add(key)
        if (
            type(value) is float
            and type(step) is int
            and 0 <= step <= MAX_STEP
            and type(timestamp) is int
            and type(point) is tuple
        ):
            append(point)
        else:
            append((key, check_metric_value(key, value), check_step(key, step), int(timestamp)))
    return checked


def check_step(key: str, step: object) -> int:
    """A metric step: a non-negative integer."""
    if type(step) is int and 0 <= step <= MAX_STEP:
        return step
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise InvalidInput(f"step of metric {key!r} must be an integer >= 0, got {step!r}")
    return step
