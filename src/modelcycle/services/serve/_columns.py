"""Request columns (decoded JSON) checked against a signature and turned into numpy arrays.

The serving twin of ``packaging._validate``, without pandas: a request arrives as
``{column: [values...]}`` of JSON values (``None``, ``bool``, ``int``, ``float``, ``str``, lists,
objects), so a column's type family is read from the Python types of its values, in C
(``set(map(type, values))``), never by a loop over rows in Python. The rules and the error are
the validator's: a missing or unexpected column, a value of the wrong family, or a missing value
in a column that is not nullable, all listed in one ``InvalidInput`` naming each column.

Families as pandas reads the same JSON: integers with a missing value are floats (whole ones, so
an ``integer`` column still takes them); booleans are never numbers; ``category`` takes strings,
integers or booleans (fed to ONNX as their text, as the export does).

Datetime columns are not handled here (``supports`` says so); a model taking them is served
through the pandas validator instead.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import DTypeLike, NDArray

    from modelcycle.core.entities.model import ColumnSpec, Signature

NUMERIC = frozenset({"integer", "float", "boolean"})
SUPPORTED = NUMERIC | {"string", "category"}

_NONE = type(None)
_ACCEPTS: dict[str, frozenset[str]] = {
    "integer": frozenset({"integer"}),
    "float": frozenset({"integer", "float"}),
    "boolean": frozenset({"boolean"}),
    "string": frozenset({"string"}),
    "category": frozenset({"string", "integer", "boolean"}),
}
_FLOAT_PLAIN = frozenset({int, float})  # what a float column takes with nothing to check
_INT_PLAIN = frozenset({int})  # and an integer column
_JSON_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "list",
    dict: "object",
}


def supports(signature: Signature) -> bool:
    """Whether every input column has a type this module checks (no datetimes)."""
    return all(column.dtype in SUPPORTED for column in signature.inputs)


def is_numeric(signature: Signature) -> bool:
    """Whether every input column is an integer, float or boolean."""
    return all(column.dtype in NUMERIC for column in signature.inputs)


class ColumnPlan:
    """How one signature's columns are checked and laid out; built once per loaded model.

    Thread safety: immutable after ``__init__``; any number of requests may use it at once.
    """

    __slots__ = ("_fast", "_integers", "_name_set", "_names", "_specs", "signature")

    def __init__(self, signature: Signature) -> None:
        if not supports(signature):
            odd = [c.name for c in signature.inputs if c.dtype not in SUPPORTED]
            msg = f"columns {odd} have types the JSON column plan does not handle"
            raise InvalidInput(msg)
        self.signature = signature
        self._names = signature.input_names
        self._specs = signature.inputs
        self._name_set = frozenset(self._names)
        # Integer and float columns of plain numbers need no per-column look at all.
        self._fast = all(c.dtype in ("float", "integer") for c in signature.inputs)
        self._integers = tuple(c.name for c in signature.inputs if c.dtype == "integer")

    @property
    def names(self) -> tuple[str, ...]:
        """The input column names, in signature order."""
        return self._names

    def matrix(self, columns: Mapping[str, Sequence[Any]], dtype: DTypeLike) -> NDArray[Any]:
        """A C-contiguous ``(rows, columns)`` array in signature order (numeric signatures).

        Raises:
            InvalidInput: the columns do not match the signature (every problem listed).
        """
        if self._fast and columns.keys() == self._name_set:
            values = [columns[name] for name in self._names]
            if set(map(type, chain.from_iterable(values))) <= _FLOAT_PLAIN and (
                not self._integers
                or set(map(type, chain.from_iterable(columns[n] for n in self._integers)))
                <= _INT_PLAIN
            ):
                try:
                    return np.ascontiguousarray(np.array(values, dtype=dtype).T)
                except ValueError:  # ragged columns: the full check below names the problem
                    pass
        arrays = self.arrays(columns)
        return np.ascontiguousarray(np.column_stack(arrays).astype(dtype, copy=False))

    def arrays(self, columns: Mapping[str, Sequence[Any]]) -> list[NDArray[Any]]:
        """One 1-D array per signature column, in signature order.

        Float columns give float64; integer columns int64 (float64 when values are missing);
        boolean columns float64 (1, 0, NaN); string and category columns object arrays of text
        (missing text is ``""``).

        Raises:
            InvalidInput: the columns do not match the signature (every problem listed).
        """
        problems = [f"column {n!r}: missing" for n in self._names if n not in columns]
        expected = set(self._names)
        problems += [
            f"column {c!r}: unexpected (not in the signature)" for c in columns if c not in expected
        ]
        converted: list[NDArray[Any]] = []
        for spec in self._specs:
            if spec.name not in columns:
                continue
            problem, array = _convert(spec, columns[spec.name])
            if problem is not None:
                problems.append(f"column {spec.name!r}: {problem}")
            converted.append(array)
        if problems:
            raise _mismatch(problems, self.signature)
        if len({len(a) for a in converted}) > 1:
            raise InvalidInput("input columns are not all the same length")
        if not converted or len(converted[0]) == 0:
            raise InvalidInput("input has no rows")
        return converted


def _mismatch(problems: list[str], signature: Signature) -> InvalidInput:
    expected = ", ".join(f"{c.name} ({c.dtype})" for c in signature.inputs)
    listing = "\n".join(f"  - {p}" for p in problems)
    return InvalidInput(
        f"input does not match the model signature ({len(problems)} problem"
        f"{'s' if len(problems) > 1 else ''}):\n{listing}\nthe model takes: {expected}"
    )


def _family(kinds: set[type], has_none: bool) -> str | None:
    """The family pandas would give a JSON column with values of these types."""
    if not kinds:
        return None
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "float" if has_none else "integer"  # a missing value makes the column float
    if kinds <= {int, float}:
        return "float"
    if kinds == {str}:
        return "string"
    return None


def _describe(kinds: set[type], family: str | None) -> str:
    if family is not None:
        return family
    names = sorted(_JSON_NAMES.get(kind, kind.__name__) for kind in kinds)
    return f"mixed values ({', '.join(names)})"


def _convert(spec: ColumnSpec, values: Sequence[Any]) -> tuple[str | None, NDArray[Any]]:
    """A column's problem (or None) and its converted array."""
    kinds = set(map(type, values))
    has_none = _NONE in kinds
    kinds.discard(_NONE)
    family = _family(kinds, has_none)
    empty = np.empty(0)
    if not kinds:  # all missing: only the null check applies
        family = spec.dtype
    accepted = family
    if family == "float" and spec.dtype == "integer" and _whole(values):
        accepted = "integer"
    if accepted not in _ACCEPTS[spec.dtype]:
        return (
            f"expected {spec.dtype}, got {_describe(kinds, family)}{_sample(spec, values)}",
            empty,
        )
    nulls = values.count(None) if has_none else 0
    if nulls and not spec.nullable:
        return (
            f"{nulls} missing value{'s' if nulls > 1 else ''} but the column is not nullable "
            "(its input example had none)",
            empty,
        )
    return None, _array(spec.dtype, family, values, has_none)


def _whole(values: Sequence[Any]) -> bool:
    numbers = np.array(values, dtype=np.float64)  # None becomes NaN
    numbers = numbers[~np.isnan(numbers)]
    return bool(np.all(np.mod(numbers, 1) == 0))


def _sample(spec: ColumnSpec, values: Sequence[Any]) -> str:
    if spec.dtype not in ("integer", "float"):
        return ""
    for value in values:
        if value is not None and type(value) not in (int, float):
            return f", e.g. {value!r}"
    return ""


def _array(dtype: str, family: str | None, values: Sequence[Any], has_none: bool) -> NDArray[Any]:
    if dtype in ("string", "category"):
        array = np.array(values, dtype=object)
        if has_none:
            array[array == None] = ""  # noqa: E711 - elementwise comparison, in C
        if family not in ("string", dtype):  # integers / booleans as their text, like pandas
            array = array.astype(str).astype(object)
        return array
    if dtype == "integer" and not has_none:
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=np.float64)  # None becomes NaN, booleans 1 and 0
