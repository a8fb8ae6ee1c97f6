"""The exact requirements of a model: ``package==version`` for what loading it needs.

The flavor's own distributions, pandas for a named signature, and the distributions of the
modules the model's classes come from (for scikit-learn models, of every estimator nested in
its parameters, so a Pipeline ending in an ``LGBMClassifier`` requires LightGBM too).

Versions come from ``importlib.metadata.version`` per name. Module names are mapped to
distribution names by a small table (``sklearn`` -> ``scikit-learn``) and otherwise taken as
the distribution name; ``packages_distributions()`` would map every module but costs a scan of
all installed distributions (about 0.3 s), too slow for logging a model.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.services.packaging._flavor_protocol import Flavor

_DISTRIBUTIONS: dict[str, str] = {
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "skl2onnx": "skl2onnx",
    "yaml": "PyYAML",
    "PIL": "pillow",
}
# Builds of one package published under other names (the same import, the same version line):
# the requirement names the one installed.
ALTERNATIVES: dict[str, tuple[str, ...]] = {"xgboost": ("xgboost-cpu",)}
_NOT_REQUIREMENTS = frozenset({"builtins", "__main__", "modelcycle", "functools", "collections"})


def requirements_for(flavor: Flavor, model: object, *, named_input: bool) -> tuple[str, ...]:
    """Pinned requirements (``name==version``) of ``model``, sorted case-insensitively."""
    names = list(flavor.packages)
    if named_input:
        names.append("pandas")
    names.extend(_distribution(m) for m in sorted(_modules_of(model)))
    pins = {pin for name in dict.fromkeys(names) if (pin := _pin(name))}
    return tuple(sorted(pins, key=str.lower))


def _modules_of(model: object) -> set[str]:
    modules = {_top(type(model))}
    if "sklearn" in sys.modules:
        from sklearn.base import BaseEstimator

        if isinstance(model, BaseEstimator):
            modules.add("sklearn")
            modules.update(_top(type(v)) for v in _nested(model))
    return {m for m in modules if m not in _NOT_REQUIREMENTS and m not in sys.stdlib_module_names}


def _nested(model: object) -> Iterator[object]:
    """Objects held in an estimator's parameters, including lists of ``(name, step)`` pairs."""
    for value in model.get_params(deep=True).values():  # type: ignore[attr-defined]
        if isinstance(value, (list, tuple)):
            for item in value:
                yield from (item if isinstance(item, tuple) else (item,))
        else:
            yield value


def _top(cls: type) -> str:
    return cls.__module__.partition(".")[0]


def _distribution(module: str) -> str:
    return _DISTRIBUTIONS.get(module, module)


@functools.cache
def _pin(name: str) -> str | None:
    for candidate in (name, *ALTERNATIVES.get(name, ())):
        try:
            return f"{candidate}=={importlib.metadata.version(candidate)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
