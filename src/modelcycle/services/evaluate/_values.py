"""Conversions from numpy and pandas values to plain, JSON-safe Python values."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from modelcycle.services.evaluate._model import JSONScalar


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is null, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def scalar(value: Any) -> JSONScalar:
    """A cell or label as JSON: numpy scalars unwrapped, NaN as None, datetimes as ISO text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return finite(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def floats(values: Any) -> list[float | None]:
    """A numeric array as a list of floats with NaN and infinities as None."""
    arr = np.asarray(values, dtype=np.float64)
    out: list[float | None] = arr.tolist()
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))
        for i in bad.tolist():
            out[i] = None
    return out
