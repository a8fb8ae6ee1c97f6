"""Which drift test a column gets when the caller names none: Evidently 0.7's rule.

By the number of present reference values and the number of distinct values on both sides:

=================  ===========================  ==============================================
reference values   numeric                      categorical
=================  ===========================  ==============================================
at most 1,000      ``ks`` (more than 5 values), ``chisquare`` (more than 2 values), else ``z``
                   else ``chisquare`` (3 to 5),
                   else ``z``
more than 1,000    ``wasserstein`` (more than   ``jensenshannon``
                   5 values), else
                   ``jensenshannon``
=================  ===========================  ==============================================
"""

from __future__ import annotations

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput

SMALL_REFERENCE = 1_000
FEW_NUMBERS = 5
BINARY = 2

__all__ = ["default_test"]


def default_test(kind: ColumnKind, reference_values: int, distinct_values: int) -> str:
    """The name of the test Evidently's defaults give a column.

    Args:
        kind: ``numeric`` or ``categorical``.
        reference_values: present (non-null, finite) values in the reference.
        distinct_values: distinct present values over both sides.

    Raises:
        InvalidInput: ``kind`` is neither numeric nor categorical.
    """
    small = reference_values <= SMALL_REFERENCE
    if kind is ColumnKind.NUMERIC:
        if distinct_values > FEW_NUMBERS:
            return "ks" if small else "wasserstein"
        if not small:
            return "jensenshannon"
    elif kind is ColumnKind.CATEGORICAL:
        if not small:
            return "jensenshannon"
    else:
        raise InvalidInput(f"drift is tested on numeric or categorical columns, not {kind.value}")
    return "chisquare" if distinct_values > BINARY else "z"
