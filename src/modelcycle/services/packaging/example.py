"""Input examples stored with a model: Parquet for named input, JSON for unnamed arrays.

At most ``MAX_EXAMPLE_ROWS`` rows are kept: an example documents the input, it is not a copy
of the training data (pass the training data as the example to capture every nullable column,
and only its first rows are stored).
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._inputs import is_named, named_frame, unnamed_array

MAX_EXAMPLE_ROWS = 100
ExampleFormat = Literal["parquet", "json"]


def encode_input_example(example: object) -> tuple[bytes, ExampleFormat]:
    """The first rows of ``example`` as bytes, and their format (``parquet`` or ``json``)."""
    if is_named(example):
        frame = named_frame(example).head(MAX_EXAMPLE_ROWS)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue(), "parquet"
    array = unnamed_array(example)[:MAX_EXAMPLE_ROWS]
    rows = array.tolist() if array.dtype.kind in "OMUS" else array
    return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY, default=str), "json"


def decode_input_example(data: bytes, fmt: str) -> pd.DataFrame | np.ndarray[Any, Any]:
    """The stored example back: a DataFrame (``parquet``) or a 2-D array (``json``)."""
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    if fmt == "json":
        return np.asarray(orjson.loads(data))
    raise InvalidInput(f"unknown input example format {fmt!r}; expected 'parquet' or 'json'")
