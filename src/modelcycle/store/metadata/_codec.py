"""JSON columns: encoding of summaries, with non-finite floats kept (JSON has no NaN)."""

from __future__ import annotations

import math
from typing import Any

import orjson

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    """Parse JSON text; None and empty text are an empty object."""
    return orjson.loads(text) if text else {}


def encode_float(value: float) -> float | str:
    """A float as JSON can hold it: non-finite values become their names."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | str) -> float:
    """The inverse of ``encode_float``."""
    return _NON_FINITE[value] if isinstance(value, str) else float(value)


def decode_metrics(text: str) -> dict[str, float]:
    """Latest values from a run's metrics summary, the JSON text ``{key: value}``.

    Finite values are JSON numbers; NaN and the infinities are their names as strings. When
    the text holds no quote beyond those around the keys, no value needs decoding.
    """
    values: dict[str, float | str] = loads(text)
    if text.count('"') == 2 * len(values):
        return values  # type: ignore[return-value]
    return {key: decode_float(value) for key, value in values.items()}
