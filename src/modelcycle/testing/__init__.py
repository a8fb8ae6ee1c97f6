"""Conformance suites and fixtures shipped with ModelCycle.

``check_flavor`` and ``check_drift_test`` are imported on first use, so importing this package
(as the pytest plugin does) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.testing.drift_tests import check_drift_test
    from modelcycle.testing.flavors import check_flavor

__all__ = ["check_drift_test", "check_flavor"]

_LAZY = {
    "check_drift_test": "modelcycle.testing.drift_tests",
    "check_flavor": "modelcycle.testing.flavors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelcycle.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
