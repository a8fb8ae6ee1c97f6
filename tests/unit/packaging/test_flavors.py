"""Every flavor passes the conformance suite; the registry finds and refuses flavors."""

from __future__ import annotations

import importlib.metadata
import pickle
import sys
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelcycle.core.errors import IntegrityError, InvalidInput, MissingDependency
from modelcycle.services.packaging import flavors
from modelcycle.services.packaging.flavor_python import PythonFlavor
from modelcycle.services.packaging.flavors import (
    flavor_for,
    get_flavor,
    known_flavors,
    register_flavor,
)
from modelcycle.services.packaging.load import digest_of, verify_digest
from modelcycle.testing import check_flavor

Case = tuple[object, object]


class ThresholdModel:
    """A plain Python model: class 1 when the first column passes a threshold."""

    def __init__(self, column: str, threshold: float) -> None:
        self.column = column
        self.threshold = threshold
        self.classes_ = np.array([0, 1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return (frame[self.column].to_numpy() > self.threshold).astype(int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        p = 1 / (1 + np.exp(self.threshold - frame[self.column].to_numpy()))
        return np.column_stack([1 - p, p])


class RowSumModel:
    """A plain Python regressor over an unnamed array."""

    def predict(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        total: np.ndarray[Any, Any] = rows.sum(axis=1)
        return total


class UpperFlavor(PythonFlavor):
    """A third-party flavor: only ``RowSumModel``s."""

    name = "upper"

    def matches(self, model: object) -> bool:
        return isinstance(model, RowSumModel)


UPPER_FLAVOR = UpperFlavor()
NOT_A_FLAVOR = object()


def _binary(data: tuple[pd.DataFrame, Any]) -> tuple[pd.DataFrame, Any]:
    return data


def _logistic(bc: Any, mixed: Any) -> Case:
    x, y = bc
    return LogisticRegression(max_iter=5000).fit(x, y), x.head(20)


def _gbm(bc: Any, mixed: Any) -> Case:
    x, y = bc
    return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, y), x.head(20)


def _forest(bc: Any, mixed: Any) -> Case:
    x, _ = bc
    target = x["mean area"]
    features = x.drop(columns=["mean area"]).to_numpy()
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(features, target)
    return model, features[:20]


def _pipeline(bc: Any, mixed: Any) -> Case:
    frame, label = mixed
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ],
        remainder="passthrough",
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    return model.fit(frame, label), frame.head(20)


def _lgbm(bc: Any, mixed: Any) -> Case:
    x, y = bc
    return lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(x, y), x.head(20)


def _lgbm_booster(bc: Any, mixed: Any) -> Case:
    x, y = bc
    params = {"objective": "binary", "verbose": -1}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=20), x.head(20)


def _xgb_regressor(bc: Any, mixed: Any) -> Case:
    x, _ = bc
    target = x["mean area"]
    features = x.drop(columns=["mean area"])
    return xgb.XGBRegressor(n_estimators=30).fit(features, target), features.head(20)


def _xgb_classifier(bc: Any, mixed: Any) -> Case:
    x, y = bc
    return xgb.XGBClassifier(n_estimators=30).fit(x.to_numpy(), y), x.to_numpy()[:20]


def _xgb_booster(bc: Any, mixed: Any) -> Case:
    x, y = bc
    params = {"objective": "binary:logistic"}
    return xgb.train(params, xgb.DMatrix(x, y), num_boost_round=20), x.head(20)


def _python(bc: Any, mixed: Any) -> Case:
    x, _ = bc
    return ThresholdModel("mean radius", 14.0), x.head(20)


CASES: dict[str, tuple[str, Callable[[Any, Any], Case]]] = {
    "logistic": ("sklearn", _logistic),
    "gbm-100": ("sklearn", _gbm),
    "forest-array": ("sklearn", _forest),
    "pipeline-onehot": ("sklearn", _pipeline),
    "lgbm-classifier": ("lightgbm", _lgbm),
    "lgbm-booster": ("lightgbm", _lgbm_booster),
    "xgb-regressor": ("xgboost", _xgb_regressor),
    "xgb-classifier": ("xgboost", _xgb_classifier),
    "xgb-booster": ("xgboost", _xgb_booster),
    "python-class": ("python", _python),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_flavor_passes_the_conformance_suite(
    case: str, breast_cancer: Any, mixed_frame: Any
) -> None:
    name, build = CASES[case]
    model, example = build(breast_cancer, mixed_frame)
    assert flavor_for(model).name == name
    check_flavor(name, model, example)


def test_xgboost_and_lightgbm_boosters_are_saved_without_pickle(breast_cancer: Any) -> None:
    xgb_model, _ = _xgb_regressor(breast_cancer, None)
    assert get_flavor("xgboost").save(xgb_model).startswith(b"MCXGB1\nXGBRegressor\n")
    booster, _ = _lgbm_booster(breast_cancer, None)
    assert get_flavor("lightgbm").save(booster).startswith(b"tree\n")


def test_xgboost_refuses_a_header_naming_another_class(breast_cancer: Any) -> None:
    model, _ = _xgb_regressor(breast_cancer, None)
    data = get_flavor("xgboost").save(model).replace(b"XGBRegressor", b"subprocess.Popen", 1)
    with pytest.raises(IntegrityError, match="not an XGBoost model saved by this flavor"):
        get_flavor("xgboost").load(data, digest_of(data))


def test_check_flavor_fails_a_flavor_that_loads_before_verifying(breast_cancer: Any) -> None:
    class Careless(PythonFlavor):
        name = "careless"

        def load(self, data: bytes, digest: str) -> object:
            from modelcycle.services.packaging.load import load_verified

            return load_verified(data, digest_of(data))  # checks the bytes against themselves

    model, example = _python(breast_cancer, None)
    with pytest.raises(AssertionError, match=r"careless.load (accepted|of) one changed byte"):
        check_flavor(Careless(), model, example)


def test_check_flavor_catches_unpickling_before_verifying(breast_cancer: Any) -> None:
    class Eager(PythonFlavor):
        name = "eager"

        def load(self, data: bytes, digest: str) -> object:
            try:
                model = pickle.loads(data)  # noqa: S301, TID251 - the mistake under test
            except (pickle.UnpicklingError, ImportError, AttributeError, EOFError, ValueError):
                model = None
            verify_digest(data, digest)
            return model

    model, example = _python(breast_cancer, None)
    with pytest.raises(AssertionError, match=r"eager.load unpickled bytes before verifying"):
        check_flavor(Eager(), model, example)


def test_check_flavor_fails_a_flavor_that_loses_predictions(breast_cancer: Any) -> None:
    class Forgetful(PythonFlavor):
        name = "forgetful"

        def load(self, data: bytes, digest: str) -> object:
            model = super().load(data, digest)
            model.threshold += 1  # type: ignore[attr-defined]
            return model

    model, example = _python(breast_cancer, None)
    with pytest.raises(AssertionError, match="forgetful: predict after loading differs"):
        check_flavor(Forgetful(), model, example)


@pytest.mark.parametrize(
    "model",
    [object(), StandardScaler(), "a string", ThresholdModel],
    ids=["object", "transformer", "string", "a-class"],
)
def test_unsupported_models_are_refused(model: object) -> None:
    with pytest.raises(InvalidInput, match=r"cannot log a .*: it has no predict method; supported"):
        flavor_for(model)


def test_unknown_flavor_lists_the_known_ones() -> None:
    with pytest.raises(
        InvalidInput, match=r"unknown model flavor 'onnx'; known flavors: .*lightgbm, python"
    ):
        get_flavor("onnx")


@pytest.mark.usefixtures("isolated_registry")
def test_register_flavor_adds_one_detected_before_the_builtins() -> None:
    register_flavor("upper", f"{__name__}:UPPER_FLAVOR")
    assert "upper" in known_flavors()
    assert get_flavor("upper") is UPPER_FLAVOR
    assert flavor_for(RowSumModel()) is UPPER_FLAVOR
    assert flavor_for(ThresholdModel("a", 1.0)).name == "python"
    check_flavor("upper", RowSumModel(), np.arange(12.0).reshape(4, 3))


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("x", "no_colon", "target must be 'module:attr'"),
        ("x", "mod:", "target must be 'module:attr'"),
        ("", "a:b", "a flavor name must be a non-empty string"),
    ],
)
def test_register_flavor_refuses_bad_targets(name: str, target: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        register_flavor(name, target)


@pytest.mark.usefixtures("isolated_registry")
def test_a_target_that_is_not_a_flavor_is_refused_on_lookup() -> None:
    register_flavor("bogus", f"{__name__}:NOT_A_FLAVOR")
    with pytest.raises(InvalidInput, match=r"bogus.*is a object, not a Flavor"):
        get_flavor("bogus")


@pytest.mark.usefixtures("isolated_registry")
def test_entry_points_are_read_once_on_first_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        calls.append(group)
        return [
            importlib.metadata.EntryPoint("upper", f"{__name__}:UPPER_FLAVOR", group),
            importlib.metadata.EntryPoint("sklearn", "elsewhere:HIJACK", group),
        ]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert calls == []
    assert get_flavor("upper") is UPPER_FLAVOR
    assert get_flavor("sklearn").name == "sklearn"  # a built-in is never replaced
    assert known_flavors() == ("lightgbm", "python", "sklearn", "upper", "xgboost")
    assert calls == ["modelcycle.flavors"]


def test_importing_the_registry_reads_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    def refuse(**_: object) -> None:
        raise AssertionError("entry points read at import time")

    monkeypatch.setattr(importlib.metadata, "entry_points", refuse)
    monkeypatch.delitem(sys.modules, flavors.__name__)
    fresh = importlib.import_module(flavors.__name__)
    assert fresh._entry_points_read is False


def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"tree\nversion=v4\n"
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingDependency, match=r"pip install 'modelcycle\[lightgbm\]'"):
        get_flavor("lightgbm").load(data, digest_of(data))
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(MissingDependency, match=r"pip install 'modelcycle\[xgboost\]'"):
        get_flavor("xgboost").task_of(object())
