"""The drift engine: per-column drift tests behind a registry, and ``compute_drift``.

``compute_drift(reference, current)`` compares two frames (polars, pandas or pyarrow) column
by column and returns a ``DriftReport`` (``.columns``, ``.drifted_columns``, ``.share``,
``.drifted``, ``.to_dict()``, ``.from_dict()``, ``.to_html(path)``). Built-in tests, named as
in Evidently 0.7 and computed to the same definitions: ``ks``, ``chisquare``, ``z``, ``psi``,
``wasserstein`` (normed) and ``jensenshannon``. More come from ``register_drift_test`` or the
``modelcycle.drift_tests`` entry-point group; ``modelcycle.testing.drift_tests`` holds the
conformance suite each one passes.
"""

from __future__ import annotations

from modelcycle.services.monitor.drift._protocol import ColumnValues, DriftTest, DriftTestSpec
from modelcycle.services.monitor.drift.compute import compute_drift
from modelcycle.services.monitor.drift.defaults import default_test
from modelcycle.services.monitor.drift.registry import (
    ENTRY_POINT_GROUP,
    get_drift_test,
    known_drift_tests,
    register_drift_test,
    resolve_drift_test,
)
from modelcycle.services.monitor.drift.report import ColumnDrift, Distribution, DriftReport
from modelcycle.services.monitor.drift.values import (
    CategoryCounts,
    category_counts,
    finite_numbers,
    sorted_numbers,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CategoryCounts",
    "ColumnDrift",
    "ColumnValues",
    "Distribution",
    "DriftReport",
    "DriftTest",
    "DriftTestSpec",
    "category_counts",
    "compute_drift",
    "default_test",
    "finite_numbers",
    "get_drift_test",
    "known_drift_tests",
    "register_drift_test",
    "resolve_drift_test",
    "sorted_numbers",
]
