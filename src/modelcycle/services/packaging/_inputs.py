"""Reading the shapes of input a model is given: frames, dicts, rows, arrays.

Everything named becomes a pandas DataFrame; everything unnamed a 2-D numpy array. Nothing here
checks types: that is the signature's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core.errors import InvalidInput

ACCEPTED = (
    "a pandas or polars DataFrame, a dict of columns, a list of row dicts, "
    "or a 2-D array / list of rows"
)


def is_polars_frame(data: object) -> bool:
    """Whether ``data`` is a polars DataFrame (without importing polars)."""
    return type(data).__module__.startswith("polars") and type(data).__name__ == "DataFrame"


def is_named(data: object) -> bool:
    """Whether ``data`` carries column names (a frame, a dict, a list of dicts)."""
    if isinstance(data, (pd.DataFrame, Mapping)) or is_polars_frame(data):
        return True
    return isinstance(data, (list, tuple)) and len(data) > 0 and isinstance(data[0], Mapping)


def named_frame(data: object) -> pd.DataFrame:
    """A named input as a pandas DataFrame (column names as strings)."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif is_polars_frame(data):
        frame = data.to_pandas()  # type: ignore[attr-defined]
    elif isinstance(data, Mapping):
        frame = _frame_from_mapping(data)
    elif isinstance(data, (list, tuple)):
        if not all(isinstance(row, Mapping) for row in data):
            raise InvalidInput("a list of rows must hold only dicts, or only lists")
        frame = pd.DataFrame.from_records(list(data))
    else:
        raise InvalidInput(f"cannot read input of type {type(data).__name__}; pass {ACCEPTED}")
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if frame.columns.has_duplicates:
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InvalidInput(f"input has duplicate columns: {', '.join(duplicated)}")
    return frame


def _frame_from_mapping(data: Mapping[Any, Any]) -> pd.DataFrame:
    values = list(data.values())
    if not any(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in values):
        return pd.DataFrame({str(k): [v] for k, v in data.items()})
    try:
        return pd.DataFrame({str(k): v for k, v in data.items()})
    except ValueError as exc:
        raise InvalidInput(f"the columns of the input dict do not line up: {exc}") from exc


def unnamed_array(data: object) -> np.ndarray[Any, Any]:
    """An unnamed input as a 2-D numpy array (one row when given one flat row)."""
    if isinstance(data, pd.DataFrame):
        return data.to_numpy()
    if is_polars_frame(data):
        return data.to_numpy()  # type: ignore[attr-defined, no-any-return]
    if isinstance(data, np.ndarray):
        array = data
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise InvalidInput(f"input rows are not all the same length: {exc}") from exc
    else:
        raise InvalidInput(f"cannot read input of type {type(data).__name__}; pass {ACCEPTED}")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidInput(
            f"input must be 2-D (rows x columns), got an array of shape {array.shape}"
        )
    return array
