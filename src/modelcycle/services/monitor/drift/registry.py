"""The drift-test registry: names mapped to ``"module:attr"`` strings, imported on first use.

Built-in tests are listed in ``_BUILTIN``. Third parties add theirs through the
``modelcycle.drift_tests`` entry-point group (each entry point's value is ``"module:attr"``
naming a ``DriftTest`` object), read once, on the first lookup and never at import time, or at
run time with ``register_drift_test``. Reports store a test's name; the module to import always
comes from this table, never from stored data. Built-in names cannot be taken by an entry point.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from typing import TypeGuard

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._protocol import DriftTest, DriftTestSpec

ENTRY_POINT_GROUP = "modelcycle.drift_tests"

_BUILTIN: dict[str, str] = {
    "ks": "modelcycle.services.monitor.drift.numeric_tests:KS",
    "wasserstein": "modelcycle.services.monitor.drift.numeric_tests:WASSERSTEIN",
    "chisquare": "modelcycle.services.monitor.drift.categorical_tests:CHISQUARE",
    "z": "modelcycle.services.monitor.drift.categorical_tests:Z",
    "psi": "modelcycle.services.monitor.drift.binned_tests:PSI",
    "jensenshannon": "modelcycle.services.monitor.drift.binned_tests:JENSENSHANNON",
}

_lock = threading.Lock()
_targets: dict[str, str] = dict(_BUILTIN)
_loaded: dict[str, DriftTest] = {}
_entry_points_read = False


def register_drift_test(name: str, target: str) -> None:
    """Add or replace a drift test: ``target`` is ``"module:attr"`` naming a ``DriftTest``.

    The module is imported on the first lookup of ``name``, not here.

    Raises:
        InvalidInput: the name is empty or the target is not of the form ``module:attr``.
    """
    _check_target(name, target)
    with _lock:
        _targets[name] = target
        _loaded.pop(name, None)


def known_drift_tests() -> tuple[str, ...]:
    """Every registered drift-test name, built-in and from entry points, sorted."""
    _read_entry_points()
    with _lock:
        return tuple(sorted(_targets))


def get_drift_test(name: str) -> DriftTest:
    """The drift test registered under ``name``, imported on first use.

    Raises:
        InvalidInput: no test has that name (the message lists the known ones), or its target
            does not import or is not a ``DriftTest``.
    """
    _read_entry_points()
    with _lock:
        if name in _loaded:
            return _loaded[name]
        target = _targets.get(name)
    if target is None:
        raise InvalidInput(
            f"unknown drift test {name!r}; known drift tests: {', '.join(known_drift_tests())} "
            "(register another with register_drift_test(name, 'module:attr'))"
        )
    test = _import_target(name, target)
    with _lock:
        _loaded[name] = test
    return test


def resolve_drift_test(test: str | DriftTest) -> DriftTest:
    """``test`` itself when it is a ``DriftTest`` object, else the registered test of that name.

    Raises:
        InvalidInput: an unknown name, or an object that is not a ``DriftTest``.
    """
    if isinstance(test, str):
        return get_drift_test(test)
    if is_drift_test(test):
        return test
    raise InvalidInput(
        f"a drift test is a registered name or a DriftTest object, got {type(test).__name__}"
    )


def is_drift_test(obj: object) -> TypeGuard[DriftTest]:
    """Whether ``obj`` has a name, a ``DriftTestSpec`` and a ``score`` method."""
    return isinstance(obj, DriftTest) and isinstance(obj.spec, DriftTestSpec)


def _check_target(name: str, target: str) -> None:
    if not str(name).strip():
        raise InvalidInput(f"a drift-test name must be a non-empty string, got {name!r}")
    module, sep, attr = str(target).partition(":")
    if not sep or not module.strip() or not attr.strip():
        raise InvalidInput(
            f"drift test {name!r}: target must be 'module:attr', e.g. 'mypkg.drift:MY_TEST', "
            f"got {target!r}"
        )


def _import_target(name: str, target: str) -> DriftTest:
    module_name, _, attr = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"drift test {name!r}: cannot import {target}: {exc}") from exc
    if not is_drift_test(obj):
        raise InvalidInput(
            f"drift test {name!r}: {target} is a {type(obj).__name__}, not a DriftTest "
            "(it needs a name, a spec of type DriftTestSpec and a score method)"
        )
    return obj


def _read_entry_points() -> None:
    """Add the ``modelcycle.drift_tests`` entry points once; built-ins and run-time ones win."""
    global _entry_points_read
    if _entry_points_read:
        return
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    with _lock:
        for entry in found:
            if entry.name not in _targets:
                _targets[entry.name] = entry.value
        _entry_points_read = True
