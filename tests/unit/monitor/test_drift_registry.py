"""The drift-test registry: built-ins, "module:attr" plug-ins, entry points; the conformance
suite on every built-in and on a plug-in."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift import (
    compute_drift,
    get_drift_test,
    known_drift_tests,
    register_drift_test,
    registry,
)
from modelcycle.testing.drift_tests import check_drift_test

BUILTIN = ("chisquare", "jensenshannon", "ks", "psi", "wasserstein", "z")

PLUGIN = textwrap.dedent(
    """
    import numpy as np

    from modelcycle.core.entities.dataset import ColumnKind
    from modelcycle.core.errors import InvalidInput
    from modelcycle.services.monitor.drift import DriftTestSpec, finite_numbers


    class MeanShift:
        name = "mean_shift"
        spec = DriftTestSpec(
            kinds=frozenset({ColumnKind.NUMERIC}),
            default_threshold=0.5,
            higher_is_drift=True,
            label="mean shift in reference standard deviations",
        )

        def score(self, reference, current, kind, threshold):
            ref, cur = finite_numbers(reference), finite_numbers(current)
            if ref.size == 0 or cur.size == 0:
                raise InvalidInput("a side has no values")
            value = abs(float(cur.mean() - ref.mean())) / max(float(ref.std()), 1e-3)
            return value, value >= threshold


    TEST = MeanShift()
    NOT_A_TEST = object()
    """
)


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_targets", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_entry_points_read", False)


def _plugin_module(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, name, raising=False)


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(31)
    return (
        pl.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.normal(0, 1, 500)}),
        pl.DataFrame({"x": rng.normal(1, 1, 500), "y": rng.normal(0, 1, 500)}),
    )


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_passes_the_conformance_suite(name: str) -> None:
    check_drift_test(name)


@pytest.mark.usefixtures("isolated_registry")
def test_the_builtins_are_registered_by_name() -> None:
    assert known_drift_tests() == BUILTIN
    for name in BUILTIN:
        assert get_drift_test(name).name == name
        assert get_drift_test(name) is get_drift_test(name)


@pytest.mark.usefixtures("isolated_registry")
def test_a_module_attr_plugin_loads_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugin_module(tmp_path, "mc_drift_plugin_attr", monkeypatch)
    register_drift_test("mean_shift", "mc_drift_plugin_attr:TEST")
    assert "mc_drift_plugin_attr" not in sys.modules
    test = get_drift_test("mean_shift")
    check_drift_test(test)
    ref, cur = _frames()
    report = compute_drift(ref, cur, tests="mean_shift")
    assert report.drifted_columns == ["x"]
    assert report.column("x").label == "mean shift in reference standard deviations"


@pytest.mark.usefixtures("isolated_registry")
def test_an_entry_point_plugin_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_module(tmp_path, "mc_drift_plugin_ep", monkeypatch)
    info = tmp_path / "mc_drift_plugin_ep-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mc-drift-plugin-ep\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[modelcycle.drift_tests]\n"
        "mean_shift = mc_drift_plugin_ep:TEST\n"
        "ks = mc_drift_plugin_ep:TEST\n"  # cannot take a built-in name
    )
    assert "mean_shift" in known_drift_tests()
    assert get_drift_test("mean_shift").name == "mean_shift"
    assert get_drift_test("ks").spec.label == "K-S p-value"
    ref, cur = _frames()
    assert compute_drift(ref, cur, tests={"x": "mean_shift"}).column("x").drifted is True


@pytest.mark.usefixtures("isolated_registry")
def test_bad_plugins_are_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugin_module(tmp_path, "mc_drift_plugin_bad", monkeypatch)
    with pytest.raises(InvalidInput, match="target must be 'module:attr'"):
        register_drift_test("x", "no_colon")
    with pytest.raises(InvalidInput, match="a drift-test name must be a non-empty string"):
        register_drift_test(" ", "a:b")
    register_drift_test("broken", "mc_drift_plugin_bad:NOT_A_TEST")
    with pytest.raises(InvalidInput, match="is a object, not a DriftTest"):
        get_drift_test("broken")
    register_drift_test("gone", "mc_drift_no_such_module:TEST")
    with pytest.raises(InvalidInput, match="drift test 'gone': cannot import"):
        get_drift_test("gone")
    with pytest.raises(InvalidInput, match="a drift test is a registered name or a DriftTest"):
        compute_drift(*_frames(), tests=42)  # type: ignore[arg-type]


def test_the_suite_catches_a_test_that_breaks_its_contract() -> None:
    class AlwaysDrift:
        name = "always"
        spec = get_drift_test("psi").spec

        def score(
            self, reference: object, current: object, kind: object, threshold: float
        ) -> tuple[float, bool]:
            return 1.0, True

    with pytest.raises(AssertionError, match=r"always \(categorical\), same data is no drift"):
        check_drift_test(AlwaysDrift())
