"""Conformance suites and fixtures shipped with ModelCycle.

``check_flavor`` is imported on first use, so importing this package (as the pytest plugin
does) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.testing.flavors import check_flavor

__all__ = ["check_flavor"]


def __getattr__(name: str) -> Any:
    if name == "check_flavor":
        from modelcycle.testing.flavors import check_flavor

        return check_flavor
    raise AttributeError(f"module 'modelcycle.testing' has no attribute {name!r}")
