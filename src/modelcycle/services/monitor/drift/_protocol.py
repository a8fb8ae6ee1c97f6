"""The contract every drift test implements.

A drift test compares the values of one column in a reference sample with those in a current
sample and says how far apart they are. It is stateless: the same inputs give the same score,
and one test object may be used from several threads at once. It never reads or writes storage.
``modelcycle.testing.drift_tests.check_drift_test`` is the conformance suite every test passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

ColumnValues: TypeAlias = "npt.NDArray[np.generic] | pl.Series"
"""One column's values: a 1-D numpy array or a polars Series, nulls and NaN allowed."""

DRIFT_KINDS = frozenset({ColumnKind.NUMERIC, ColumnKind.CATEGORICAL})


@dataclass(frozen=True, slots=True)
class DriftTestSpec:
    """What a drift test takes and how its score reads.

    Attributes:
        kinds: the column kinds it takes (``numeric``, ``categorical`` or both).
        default_threshold: the threshold used when the caller gives none.
        higher_is_drift: ``True`` for a distance (drift when the score reaches the threshold),
            ``False`` for a p-value (drift when the score falls to or below the threshold).
        label: how reports name the score, e.g. ``"K-S p-value"``.
    """

    kinds: frozenset[ColumnKind]
    default_threshold: float
    higher_is_drift: bool
    label: str

    def __post_init__(self) -> None:
        if not self.kinds or not self.kinds <= DRIFT_KINDS:
            raise InvalidInput(
                f"a drift test takes numeric and/or categorical columns, got {sorted(self.kinds)}"
            )
        check_threshold(self.default_threshold, p_value=not self.higher_is_drift, name=self.label)


@runtime_checkable
class DriftTest(Protocol):
    """One statistical comparison of a column's reference and current values.

    Attributes:
        name: the registry name stored in reports (never a module path).
        spec: the kinds it takes, its default threshold and how its score reads.

    Contract: ``score`` is deterministic, thread-safe and vectorised (no Python loop over
    rows); it drops nulls and NaN itself (and infinities from numeric columns); it never
    emits warnings for constant columns, one-row samples or unseen categories. The engine
    passes a numeric column as its finite values already sorted, in scratch arrays reused
    for the next column: a test reads them during the call and keeps no reference.
    """

    name: str
    spec: DriftTestSpec

    def score(
        self, reference: ColumnValues, current: ColumnValues, kind: ColumnKind, threshold: float
    ) -> tuple[float, bool]:
        """The drift score of ``current`` against ``reference`` and whether it is drift.

        Args:
            reference: the reference values of one column.
            current: the current values of the same column.
            kind: how to read the values, one of ``spec.kinds``.
            threshold: the threshold to judge the score by.

        Returns:
            The score and the verdict (``score >= threshold`` for a distance, a p-value at or
            below ``threshold`` for a test; each built-in follows Evidently's comparison).

        Raises:
            InvalidInput: a side has no values left after dropping nulls, or the values cannot
                be read as ``kind`` (text for a numeric test).
        """
        ...


def is_number(value: object) -> bool:
    """Whether ``value`` is an int or a float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_threshold(value: object, *, p_value: bool, name: str) -> float:
    """``value`` as a float when it is a usable threshold, else ``InvalidInput``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidInput(f"threshold of {name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (p_value and number > 1):
        allowed = "between 0 and 1 (a p-value)" if p_value else "a finite number >= 0"
        raise InvalidInput(f"threshold of {name} must be {allowed}, got {value!r}")
    return number
