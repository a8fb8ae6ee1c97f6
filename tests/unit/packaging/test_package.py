"""Packaging a model and loading it back: metadata, verification, tampering, errors."""

from __future__ import annotations

import importlib.metadata
import pickle
import subprocess
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelcycle.core.entities.model import InputKind
from modelcycle.core.errors import IntegrityError, InvalidInput
from modelcycle.services.packaging.example import decode_input_example
from modelcycle.services.packaging.flavors import get_flavor, known_flavors
from modelcycle.services.packaging.load import digest_of, load_verified
from modelcycle.services.packaging.loaded import NoPredictProba
from modelcycle.services.packaging.package import load_packaged, package_model


@pytest.fixture(scope="module")
def gbm(breast_cancer: Any) -> GradientBoostingClassifier:
    x, y = breast_cancer
    return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, y)


class MarkerWriter:
    """Unpickling it creates ``path``: a stand-in for any code a swapped pickle could run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.path,))


def test_a_gbm_is_packaged_with_everything_recorded(gbm: Any, breast_cancer: Any) -> None:
    x, _ = breast_cancer
    packaged = package_model(gbm, input_example=x.head(5))
    assert packaged.flavor == "sklearn"
    assert packaged.digest == digest_of(packaged.data)
    assert packaged.size_bytes == len(packaged.data)
    assert packaged.task == "classification"
    assert packaged.classes == (0, 1)
    assert packaged.signature.input_names == tuple(x.columns)
    assert [c.name for c in packaged.signature.outputs] == ["prediction", "proba_0", "proba_1"]
    assert f"scikit-learn=={sklearn.__version__}" in packaged.requirements
    assert f"numpy=={np.__version__}" in packaged.requirements
    assert f"pandas=={pd.__version__}" in packaged.requirements
    assert packaged.input_example is not None
    assert packaged.input_example_format == "parquet"
    assert packaged.input_example_digest == digest_of(packaged.input_example)
    stored = decode_input_example(packaged.input_example, "parquet")
    assert isinstance(stored, pd.DataFrame)
    pd.testing.assert_frame_equal(stored, x.head(5).reset_index(drop=True))


def test_loading_gives_the_same_predictions(gbm: Any, breast_cancer: Any) -> None:
    x, _ = breast_cancer
    packaged = package_model(gbm, input_example=x.head(5))
    loaded = load_packaged(
        packaged.data,
        flavor=packaged.flavor,
        digest=packaged.digest,
        signature=packaged.signature.to_dict(),
    )
    assert loaded.flavor == "sklearn"
    assert loaded.classes == (0, 1)
    assert isinstance(loaded.raw, GradientBoostingClassifier)
    np.testing.assert_array_equal(loaded.predict(x), gbm.predict(x))
    np.testing.assert_array_equal(loaded.predict_proba(x), gbm.predict_proba(x))
    one_row = x.iloc[0].to_dict()
    assert loaded.predict(one_row).tolist() == gbm.predict(x.head(1)).tolist()


def test_the_input_is_checked_before_the_model_sees_it(gbm: Any, breast_cancer: Any) -> None:
    x, _ = breast_cancer
    packaged = package_model(gbm, input_example=x.head(5))
    loaded = load_packaged(
        packaged.data, flavor="sklearn", digest=packaged.digest, signature=packaged.signature
    )
    bad = x.head(2).drop(columns=["mean radius"]).assign(colour="red")
    with pytest.raises(InvalidInput, match=r"'mean radius': missing\n  - column 'colour'"):
        loaded.predict(bad)


def test_a_swapped_pickle_never_runs(gbm: Any, breast_cancer: Any, tmp_path: Path) -> None:
    x, _ = breast_cancer
    packaged = package_model(gbm, input_example=x.head(5))
    marker = tmp_path / "marker"
    evil = pickle.dumps(MarkerWriter(marker), protocol=5)
    with pytest.raises(IntegrityError, match="changed after saving and will not be loaded"):
        load_verified(evil, packaged.digest)
    with pytest.raises(IntegrityError, match="changed after saving"):
        load_packaged(evil, flavor="sklearn", digest=packaged.digest, signature=packaged.signature)
    for name in known_flavors():
        with pytest.raises(IntegrityError, match="changed after saving"):
            get_flavor(name).load(evil, packaged.digest)
    assert not marker.exists()
    # the payload is live: under its own digest it runs, which is what the check prevents
    load_verified(evil, digest_of(evil))
    assert marker.exists()


@pytest.mark.parametrize("digest", ["", "abc", "z" * 64, None])
def test_a_malformed_digest_is_refused(digest: Any) -> None:
    with pytest.raises(InvalidInput, match="64-character sha256 hex string"):
        load_verified(b"data", digest)


def test_without_an_example_the_fitted_feature_names_are_used(breast_cancer: Any) -> None:
    x, y = breast_cancer
    named = package_model(LogisticRegression(max_iter=5000).fit(x, y))
    assert named.signature.kind is InputKind.FRAME
    assert named.signature.input_names == tuple(x.columns)
    assert {c.dtype for c in named.signature.inputs} == {"float"}
    assert named.input_example is None
    unnamed = package_model(LinearRegression().fit(x.to_numpy(), y))
    assert unnamed.signature.kind is InputKind.ARRAY
    assert len(unnamed.signature.inputs) == x.shape[1]


def test_without_an_example_a_pipeline_needs_one(mixed_frame: Any) -> None:
    frame, label = mixed_frame
    prep = ColumnTransformer([("cat", OneHotEncoder(), ["city"])], remainder="passthrough")
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(frame, label)
    with pytest.raises(InvalidInput, match="pass input_example=<a few rows"):
        package_model(model)


def test_an_example_that_does_not_fit_is_refused(gbm: Any, breast_cancer: Any) -> None:
    x, _ = breast_cancer
    with pytest.raises(InvalidInput, match="input example does not fit the GradientBoosting"):
        package_model(gbm, input_example=x.head(5).drop(columns=["mean radius"]))
    with pytest.raises(InvalidInput, match="does not fit"):
        package_model(gbm, input_example=np.zeros((2, 3)))


def test_an_unfitted_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match="NotFittedError"):
        package_model(LogisticRegression(), input_example=[[1.0, 2.0]])


def test_unsupported_model_and_wrong_flavor_are_refused(gbm: Any) -> None:
    with pytest.raises(InvalidInput, match=r"cannot log a builtins.dict: it has no predict method"):
        package_model({"weights": [1, 2]}, input_example=[[1, 2]])
    with pytest.raises(InvalidInput, match=r"the xgboost flavor cannot save a Gradient.*sklearn"):
        package_model(gbm, flavor="xgboost")


def test_predict_proba_is_refused_clearly_when_the_model_has_none(breast_cancer: Any) -> None:
    x, y = breast_cancer
    packaged = package_model(LinearRegression().fit(x, y), input_example=x.head(3))
    loaded = load_packaged(
        packaged.data, flavor="sklearn", digest=packaged.digest, signature=packaged.signature
    )
    assert not loaded.has_predict_proba
    with pytest.raises(NoPredictProba, match=r"LinearRegression model .* has no predict_proba"):
        loaded.predict_proba(x.head(1))
    assert isinstance(NoPredictProba("x"), AttributeError)


def test_an_unknown_flavor_on_load_is_refused(gbm: Any, breast_cancer: Any) -> None:
    x, _ = breast_cancer
    packaged = package_model(gbm, input_example=x.head(2))
    with pytest.raises(InvalidInput, match="unknown model flavor 'torch'"):
        load_packaged(packaged.data, flavor="torch", digest=packaged.digest, signature={})


def test_the_model_refusing_valid_input_is_reported(mixed_frame: Any) -> None:
    frame, label = mixed_frame
    prep = ColumnTransformer([("cat", OneHotEncoder(), ["city"])], remainder="passthrough")
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    packaged = package_model(model.fit(frame, label), input_example=frame.head(5))
    loaded = load_packaged(
        packaged.data, flavor="sklearn", digest=packaged.digest, signature=packaged.signature
    )
    row = {**frame.iloc[0].to_dict(), "city": "berlin"}
    with pytest.raises(InvalidInput, match="Pipeline refused input that matches its signature"):
        loaded.predict(row)


def test_nested_estimators_add_their_libraries(breast_cancer: Any) -> None:
    x, y = breast_cancer
    model = Pipeline([("lgbm", lgb.LGBMClassifier(n_estimators=5, verbose=-1))]).fit(x, y)
    packaged = package_model(model, input_example=x.head(3))
    assert packaged.flavor == "sklearn"
    assert f"lightgbm=={lgb.__version__}" in packaged.requirements


def test_array_examples_are_stored_as_json(breast_cancer: Any) -> None:
    x, y = breast_cancer
    model = LogisticRegression(max_iter=5000).fit(x.to_numpy(), y)
    packaged = package_model(model, input_example=x.to_numpy()[:200])
    assert packaged.input_example_format == "json"
    assert packaged.input_example is not None
    stored = decode_input_example(packaged.input_example, "json")
    np.testing.assert_array_equal(stored, x.to_numpy()[:100])


def test_packaging_a_gbm_does_nothing_slow(
    gbm: Any, breast_cancer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No scan of installed distributions and no subprocess: both cost tenths of a second."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a slow call while packaging")

    monkeypatch.setattr(importlib.metadata, "packages_distributions", refuse)
    monkeypatch.setattr(importlib.metadata, "distributions", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    x, _ = breast_cancer
    calls: list[int] = []
    original = type(gbm).predict

    def counting_predict(self: Any, data: Any) -> Any:
        calls.append(len(data))
        return original(self, data)

    monkeypatch.setattr(type(gbm), "predict", counting_predict)
    packaged = package_model(gbm, input_example=x.head(5))
    assert calls == [5]  # the model runs once, on the example only
    loaded = load_packaged(
        packaged.data, flavor="sklearn", digest=packaged.digest, signature=packaged.signature
    )
    assert loaded.predict(x.head(1)).shape == (1,)


def test_unknown_example_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown input example format 'csv'"):
        decode_input_example(b"", "csv")
