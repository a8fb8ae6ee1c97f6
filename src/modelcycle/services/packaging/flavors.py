"""The flavor registry: names mapped to ``"module:attr"`` strings, imported on first use.

Built-in flavors are listed in ``_BUILTIN``. Third parties add theirs through the
``modelcycle.flavors`` entry-point group (each entry point's value is ``"module:attr"`` naming a
``Flavor``), read once, on the first lookup and never at import time, or at run time with
``register_flavor``. Stored model metadata names a flavor; the module to import always comes
from this table, never from stored data.

Detection (``flavor_for``) tries third-party flavors first, then LightGBM and XGBoost (whose
wrappers are scikit-learn estimators too), then scikit-learn, and the ``python`` flavor, which
takes any object with a callable ``predict``, last.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._flavor_protocol import Flavor

ENTRY_POINT_GROUP = "modelcycle.flavors"
FALLBACK_FLAVOR = "python"

_BUILTIN: dict[str, str] = {
    "sklearn": "modelcycle.services.packaging.flavor_sklearn:FLAVOR",
    "lightgbm": "modelcycle.services.packaging.flavor_lightgbm:FLAVOR",
    "xgboost": "modelcycle.services.packaging.flavor_xgboost:FLAVOR",
    "python": "modelcycle.services.packaging.flavor_python:FLAVOR",
}

# LightGBM and XGBoost wrappers are scikit-learn estimators too: they are tried first.
_DETECTION_ORDER = ("lightgbm", "xgboost", "sklearn", FALLBACK_FLAVOR)

_lock = threading.Lock()
_targets: dict[str, str] = dict(_BUILTIN)
_loaded: dict[str, Flavor] = {}
_entry_points_read = False


def register_flavor(name: str, target: str) -> None:
    """Add or replace a flavor: ``target`` is ``"module:attr"`` naming a ``Flavor`` object.

    Raises:
        InvalidInput: the name is empty or the target is not of the form ``module:attr``.
    """
    _check_target(name, target)
    with _lock:
        _targets[name] = target
        _loaded.pop(name, None)


def known_flavors() -> tuple[str, ...]:
    """Every registered flavor name, built-in and from entry points, sorted."""
    _read_entry_points()
    return tuple(sorted(_targets))


def get_flavor(name: str) -> Flavor:
    """The flavor registered under ``name``, imported on first use.

    Raises:
        InvalidInput: no flavor has that name (the message lists the known ones).
    """
    _read_entry_points()
    with _lock:
        if name in _loaded:
            return _loaded[name]
        target = _targets.get(name)
    if target is None:
        raise InvalidInput(
            f"unknown model flavor {name!r}; known flavors: {', '.join(known_flavors())}"
        )
    flavor = _import_target(name, target)
    with _lock:
        _loaded[name] = flavor
    return flavor


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``: a specific one if any matches, else ``python``.

    Raises:
        InvalidInput: no flavor matches (the object has no callable ``predict``).
    """
    for name in _detection_order():
        flavor = get_flavor(name)
        if flavor.matches(model):
            return flavor
    raise InvalidInput(
        f"cannot log a {type(model).__module__}.{type(model).__qualname__}: it has no predict "
        f"method; supported: scikit-learn estimators and Pipelines, LightGBM, XGBoost, or any "
        f"object with a callable predict (flavors: {', '.join(known_flavors())})"
    )


def _detection_order() -> list[str]:
    """Third-party flavors, then the specific built-ins, then the catch-all ``python``."""
    names = known_flavors()
    extra = [n for n in names if n not in _DETECTION_ORDER]
    return extra + [n for n in _DETECTION_ORDER if n in names]


def _check_target(name: str, target: str) -> None:
    if not str(name).strip():
        raise InvalidInput(f"a flavor name must be a non-empty string, got {name!r}")
    module, sep, attr = str(target).partition(":")
    if not sep or not module.strip() or not attr.strip():
        raise InvalidInput(
            f"flavor {name!r}: target must be 'module:attr', e.g. 'mypkg.flavor:FLAVOR', "
            f"got {target!r}"
        )


def _import_target(name: str, target: str) -> Flavor:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    obj: object = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Flavor):
        raise InvalidInput(
            f"flavor {name!r}: {target} is a {type(obj).__name__}, not a Flavor "
            "(it needs name, packages, matches, save, load, task_of, classes_of, "
            "input_signature and feed)"
        )
    return obj


def _read_entry_points() -> None:
    """Add the ``modelcycle.flavors`` entry points once; built-ins and run-time ones win."""
    global _entry_points_read
    if _entry_points_read:
        return
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    with _lock:
        for entry in found:
            if entry.name not in _targets:
                _targets[entry.name] = entry.value
        _entry_points_read = True
