"""Checking input against a signature, with one error that lists every problem.

Rules, per column:

- a column the signature names must be present, and no other column may be;
- ``integer`` takes integers (and floats that are whole numbers, which is how a column with
  missing values arrives from JSON); ``float`` takes integers and floats (integers are cast);
  ``boolean`` takes booleans only; ``string`` takes strings (or categories of strings);
  ``category`` takes categories, strings, integers or booleans (cast to a category);
  ``datetime`` takes datetimes or ISO date strings (parsed);
- missing values are refused in a column the signature does not mark nullable. A column is
  nullable when the input example had missing values in it, so log a model with an example that
  shows the missing values it will meet.

Named signatures give a pandas DataFrame in signature column order; unnamed ones a 2-D numpy
array of the signature's width.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature
from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._dtypes import describe, numpy_family, pandas_family
from modelcycle.services.packaging._inputs import is_named, named_frame, unnamed_array

_ACCEPTS: dict[str, frozenset[str]] = {
    "integer": frozenset({"integer"}),
    "float": frozenset({"integer", "float"}),
    "boolean": frozenset({"boolean"}),
    "string": frozenset({"string", "category"}),
    "category": frozenset({"category", "string", "integer", "boolean"}),
    "datetime": frozenset({"datetime", "string"}),
}


def validate_input(data: object, signature: Signature) -> pd.DataFrame | np.ndarray[Any, Any]:
    """Check ``data`` against ``signature`` and return it in the form the model takes.

    Args:
        data: a pandas or polars DataFrame, a dict of columns (or of one row's values), a list
            of row dicts, or a 2-D numpy array / list of rows.
        signature: the model's signature.

    Returns:
        A pandas DataFrame with the signature's columns in order (named signatures) or a 2-D
        numpy array (unnamed ones), with integers cast into float columns.

    Raises:
        InvalidInput: one error listing every problem: missing, unexpected and wrongly typed
            columns, and missing values in columns that are not nullable.
    """
    if signature.kind is InputKind.FRAME:
        return _validate_frame(_frame_for(data, signature), signature)
    return _validate_array(data, signature)


def _frame_for(data: object, signature: Signature) -> pd.DataFrame:
    if is_named(data):
        return named_frame(data)
    names = list(signature.input_names)
    if isinstance(data, (list, tuple)):  # rows of mixed types: keep each column's own type
        rows: Any = list(data) if data and isinstance(data[0], (list, tuple)) else [data]
        width = max((len(row) for row in rows), default=len(names))
    else:
        rows = unnamed_array(data)
        width = rows.shape[1]
    if width != len(names):
        raise InvalidInput(
            f"input has {width} unnamed columns but the model takes {len(names)}: "
            f"{', '.join(names)}; send named columns (a dict or a DataFrame)"
        )
    try:
        return pd.DataFrame(rows, columns=names)
    except ValueError as exc:
        raise InvalidInput(f"input rows are not all the same length: {exc}") from exc


def _validate_frame(frame: pd.DataFrame, signature: Signature) -> pd.DataFrame:
    problems: list[str] = []
    present = set(frame.columns)
    expected = signature.input_names
    problems += [f"column {n!r}: missing" for n in expected if n not in present]
    unexpected = [c for c in frame.columns if c not in set(expected)]
    problems += [f"column {c!r}: unexpected (not in the signature)" for c in unexpected]
    specs = [spec for spec in signature.inputs if spec.name in present]
    null_counts = frame[[s.name for s in specs]].isna().sum().to_numpy()
    columns: dict[str, pd.Series[Any]] = {}
    changed = False
    for spec, nulls in zip(specs, null_counts, strict=True):
        original = frame[spec.name]
        problem, columns[spec.name] = _check_column(original, spec, int(nulls))
        changed = changed or columns[spec.name] is not original
        if problem:
            problems.append(f"column {spec.name!r}: {problem}")
    _raise_if(problems, signature)
    if len(frame) == 0:
        raise InvalidInput("input has no rows")
    if not changed:
        return frame if tuple(frame.columns) == expected else frame[list(expected)]
    return pd.DataFrame(columns, index=frame.index)


def _raise_if(problems: list[str], signature: Signature) -> None:
    if not problems:
        return
    expected = ", ".join(f"{c.name} ({c.dtype})" for c in signature.inputs)
    listing = "\n".join(f"  - {p}" for p in problems)
    raise InvalidInput(
        f"input does not match the model signature ({len(problems)} problem"
        f"{'s' if len(problems) > 1 else ''}):\n{listing}\nthe model takes: {expected}"
    )


def _check_column(
    series: pd.Series[Any], spec: ColumnSpec, nulls: int
) -> tuple[str | None, pd.Series[Any]]:
    # All missing (a one-row request's null, say, which pandas holds as an object column):
    # nothing to check but the null rule.
    family = spec.dtype if nulls == len(series) else pandas_family(series)
    accepted = family
    if family == "float" and spec.dtype == "integer" and _whole(series):
        accepted = "integer"
    if accepted not in _ACCEPTS[spec.dtype]:
        return f"expected {spec.dtype}, got {describe(series)}{_sample(series, spec)}", series
    if nulls and not spec.nullable:
        return (
            f"{nulls} missing value{'s' if nulls > 1 else ''} but the column is not nullable "
            "(its input example had none)",
            series,
        )
    return _convert(series, family or spec.dtype, spec)


def _whole(series: pd.Series[Any]) -> bool:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[~np.isnan(values)]
    return bool(np.all(np.mod(values, 1) == 0))


def _sample(series: pd.Series[Any], spec: ColumnSpec) -> str:
    if spec.dtype not in ("integer", "float"):
        return ""
    numbers = pd.to_numeric(series, errors="coerce")
    bad = series[numbers.isna() & series.notna()]
    return f", e.g. {bad.iloc[0]!r}" if len(bad) else ""


def _convert(
    series: pd.Series[Any], family: str, spec: ColumnSpec
) -> tuple[str | None, pd.Series[Any]]:
    target = spec.dtype
    if target == family and series.dtype != object:
        return None, series
    if target == "float" or (target == "integer" and series.isna().any()):
        return None, series.astype("float64")
    if target == "integer":
        return None, series.astype("int64")
    if target == "category":
        return None, series.astype("category")
    if target == "datetime":  # text, or an object column of missing values
        parsed = pd.to_datetime(series, errors="coerce")
        bad = series[parsed.isna() & series.notna()]
        if len(bad):
            return (
                f"expected datetime, got strings that are not dates, e.g. {bad.iloc[0]!r}",
                series,
            )
        return None, parsed
    if target == "boolean":  # missing values stay missing (astype("bool") makes them False)
        return None, series.astype("boolean" if series.isna().any() else "bool")
    if target == "string" and family == "category":
        return None, series.astype(object)
    return None, series


def _validate_array(data: object, signature: Signature) -> np.ndarray[Any, Any]:
    array = unnamed_array(data)
    width = len(signature.inputs)
    if array.shape[1] != width:
        raise InvalidInput(f"input has {array.shape[1]} columns but the model takes {width}")
    if len(array) == 0:
        raise InvalidInput("input has no rows")
    family = numpy_family(array.dtype)
    dtypes = {c.dtype for c in signature.inputs}
    if family is None or len(dtypes) > 1:
        frame = pd.DataFrame(array, columns=list(signature.input_names))
        return _validate_frame(frame, signature).to_numpy()
    target = dtypes.pop()
    if family not in _ACCEPTS[target] or (family in ("string", "datetime") and target != family):
        raise InvalidInput(
            f"input does not match the model signature: expected an array of {target}, got "
            f"{family} ({array.dtype})"
        )
    problems = _array_null_problems(array, signature)
    _raise_if(problems, signature)
    if target == "float" and family == "integer":
        return array.astype("float64")
    return array


def _array_null_problems(array: np.ndarray[Any, Any], signature: Signature) -> list[str]:
    if array.dtype.kind not in "fM":
        return []
    counts = pd.isna(array).sum(axis=0)
    return [
        f"column {spec.name!r}: {int(n)} missing value{'s' if n > 1 else ''} but the column is "
        "not nullable (its input example had none)"
        for spec, n in zip(signature.inputs, counts, strict=True)
        if n and not spec.nullable
    ]
