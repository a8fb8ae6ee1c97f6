"""The conformance suite every drift test passes: ``check_drift_test``.

Shipped in the package, like scikit-learn's ``check_estimator``, so that a third-party drift
test (registered through the ``modelcycle.drift_tests`` entry-point group) proves itself with
the same checks as the built-in ones::

    from modelcycle.testing.drift_tests import check_drift_test


    def test_my_drift_test():
        check_drift_test(MY_TEST)

For every column kind the test takes, on seeded data: its spec is well formed; the same data
on both sides is no drift; a shifted copy is drift; NaN and nulls are dropped (the score equals
the score of the clean values) and numpy arrays and polars Series give the same score; a
constant column and a one-row sample give a score (finite for a constant) without raising;
a kind the test does not take, and text read as numbers, are refused with ``InvalidInput``.
Each check runs with warnings turned into errors. A failure raises ``AssertionError`` naming
the check.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift import DriftTest, DriftTestSpec, resolve_drift_test

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["check_drift_test"]

ROWS = 2_000
SEED = 20_240_601
_LABELS = np.array(["north", "south", "east", "west", "centre"])


def check_drift_test(test: DriftTest | str) -> None:
    """Run the drift-test conformance checks.

    Args:
        test: the test object, or the name of a registered one.

    Raises:
        AssertionError: a check failed; the message names it.
    """
    chosen = resolve_drift_test(test)
    _check_spec(chosen)
    for kind in sorted(chosen.spec.kinds):
        reference, shifted = _samples(kind)
        for name, check in _CHECKS:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    check(chosen, kind, reference, shifted)
                except AssertionError as exc:
                    raise AssertionError(f"{chosen.name} ({kind.value}), {name}: {exc}") from exc
                except Exception as exc:
                    raise AssertionError(
                        f"{chosen.name} ({kind.value}), {name}: raised {type(exc).__name__}: {exc}"
                    ) from exc
    _check_wrong_kind(chosen)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_spec(test: DriftTest) -> None:
    _expect(bool(str(test.name).strip()), "the name must be non-empty")
    _expect(isinstance(test.spec, DriftTestSpec), "spec must be a DriftTestSpec")
    _expect(bool(test.spec.label), "the spec needs a label for reports")


def _samples(kind: ColumnKind) -> tuple[Any, Any]:
    rng = np.random.default_rng(SEED)
    if kind is ColumnKind.NUMERIC:
        reference = rng.normal(10.0, 2.0, ROWS)
        return reference, reference + 2.0  # one standard deviation to the right
    reference = rng.choice(_LABELS, ROWS, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    shifted = rng.choice(_LABELS, ROWS, p=[0.05, 0.1, 0.15, 0.3, 0.4])
    return reference, shifted


def _run(test: DriftTest, reference: Any, current: Any, kind: ColumnKind) -> tuple[float, bool]:
    result: object = test.score(reference, current, kind, test.spec.default_threshold)
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(f"score must return (score, drifted), got {result!r}")
    score, drifted = result
    _expect(isinstance(drifted, bool | np.bool_), f"drifted must be a bool, got {drifted!r}")
    return float(score), bool(drifted)


def _same_data(test: DriftTest, kind: ColumnKind, reference: Any, _: Any) -> None:
    score, drifted = _run(test, reference, reference.copy(), kind)
    _expect(math.isfinite(score), f"identical samples gave a non-finite score {score}")
    _expect(not drifted, f"identical samples were judged drift (score {score})")
    again = _run(test, reference, reference.copy(), kind)
    _expect(again == (score, drifted), "the same input gave a different result the second time")


def _shifted(test: DriftTest, kind: ColumnKind, reference: Any, shifted: Any) -> None:
    score, drifted = _run(test, reference, shifted, kind)
    _expect(drifted, f"a shifted copy was not judged drift (score {score})")


def _with_missing(values: Any, kind: ColumnKind) -> tuple[Any, Any]:
    """``values`` with missing entries at every 7th place, as numpy and as polars."""
    holes = np.arange(values.size) % 7 == 3
    if kind is ColumnKind.NUMERIC:
        array = values.astype(np.float64)
        array[holes] = np.nan
        series = pl.Series(values).scatter(np.flatnonzero(holes), None)
        return array, series
    objects = values.astype(object)
    objects[holes] = None
    return objects, pl.Series(objects.tolist(), dtype=pl.String)


def _missing_values(test: DriftTest, kind: ColumnKind, reference: Any, shifted: Any) -> None:
    holes = np.arange(shifted.size) % 7 == 3
    clean = _run(test, reference, shifted[~holes], kind)
    array, series = _with_missing(shifted, kind)
    for label, current in (("numpy", array), ("polars", series)):
        got = _run(test, reference, current, kind)
        _expect(
            _close(got[0], clean[0]) and got[1] == clean[1],
            f"missing values in a {label} input changed the result: {got} instead of {clean}",
        )
    ref_series = pl.Series(reference)
    got = _run(test, ref_series, pl.Series(shifted), kind)
    plain = _run(test, reference, shifted, kind)
    _expect(
        _close(got[0], plain[0]) and got[1] == plain[1],
        f"a polars Series gave {got}, the numpy array {plain}",
    )


def _constant(test: DriftTest, kind: ColumnKind, reference: Any, _: Any) -> None:
    constant = np.full(200, 3.5) if kind is ColumnKind.NUMERIC else np.full(200, "same")
    score, drifted = _run(test, constant, constant.copy(), kind)
    _expect(math.isfinite(score), f"a constant column gave a non-finite score {score}")
    _expect(not drifted, f"the same constant on both sides was judged drift (score {score})")


def _one_row(test: DriftTest, kind: ColumnKind, reference: Any, shifted: Any) -> None:
    for ref, cur in ((reference[:1], reference[:1]), (reference[:1], shifted[:1])):
        score, _ = _run(test, ref, cur, kind)
        _expect(not math.isnan(score), f"one row a side gave a NaN score for {ref} and {cur}")


def _check_wrong_kind(test: DriftTest) -> None:
    """Text read as numbers, and any kind the test does not take, raise ``InvalidInput``."""
    text = np.array(["a", "b", "c"] * 10)
    attempts = [(f"a kind it does not take ({kind.value})", kind) for kind in _OTHER_KINDS]
    if ColumnKind.NUMERIC in test.spec.kinds:
        attempts.append(("text read as numbers", ColumnKind.NUMERIC))
    for what, kind in attempts:
        if kind in test.spec.kinds and what.startswith("a kind"):
            continue
        try:
            test.score(text, text, kind, test.spec.default_threshold)
        except InvalidInput:
            continue
        raise AssertionError(f"{test.name}: {what} was not refused with InvalidInput")


_OTHER_KINDS = (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))


_CHECKS: list[tuple[str, Callable[[DriftTest, ColumnKind, Any, Any], None]]] = [
    ("same data is no drift", _same_data),
    ("a shifted copy is drift", _shifted),
    ("missing values are dropped", _missing_values),
    ("a constant column", _constant),
    ("one row a side", _one_row),
]
