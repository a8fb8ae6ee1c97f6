"""Model export to ONNX, PMML and pickle, with parity checked by the real runtimes."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.kernel_approximation import RBFSampler
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature
from modelcycle.core.errors import IntegrityError, InvalidInput, MissingDependency
from modelcycle.services.packaging.export import (
    PROBA_ATOL,
    REGRESSION_RTOL,
    ExportResult,
    export_model,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_KINDS = {"i": "integer", "u": "integer", "f": "float", "b": "boolean", "M": "datetime"}


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI=true (the pattern of modelcycle.testing.fixtures)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required because CI=true)", pytrace=False)
    pytest.skip(reason)


def signature_of(frame: pd.DataFrame) -> Signature:
    columns = tuple(ColumnSpec(str(c), _KINDS.get(frame[c].dtype.kind, "string")) for c in frame)
    return Signature(inputs=columns)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 10.0, n),
            "city": rng.choice(["lyon", "oslo", "porto"], n),
        }
    )
    noise = rng.normal(0.0, 3.0, n)
    target = ((frame["income"] + (frame["city"] == "oslo") * 6 + noise) > 53).astype(int)
    return frame, target


@pytest.fixture(scope="module")
def java() -> str:
    path = shutil.which("java")
    if path is None:
        _unavailable("PMML export needs a Java runtime ('java' on PATH)")
    return path


def _check_parity(result: ExportResult, rows: int, *, classifier: bool) -> None:
    parity = result.parity
    assert parity.passed, parity
    assert parity.rows == rows
    if classifier:
        assert parity.label_agreement == 1.0
        assert parity.max_abs_diff_proba is not None
        assert parity.max_abs_diff_proba <= PROBA_ATOL
        assert parity.tolerance == PROBA_ATOL
    else:
        assert parity.max_rel_diff is not None
        assert parity.max_rel_diff <= REGRESSION_RTOL
        assert parity.tolerance == REGRESSION_RTOL
    record = json.loads(json.dumps(result.to_dict()))
    assert record["sha256"] == hashlib.sha256(result.data).hexdigest()
    assert record["size_bytes"] == len(result.data)
    assert record["parity"]["passed"] is True


# --- ONNX ----------------------------------------------------------------------------------------


def _lightgbm() -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=40, verbose=-1)


ONNX_CLASSIFIERS: dict[str, Callable[[], Any]] = {
    "logistic": lambda: LogisticRegression(solver="liblinear"),
    "gbm": lambda: GradientBoostingClassifier(n_estimators=40, random_state=0),
    "scaled-logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "lightgbm": _lightgbm,
}


@pytest.mark.parametrize("make", ONNX_CLASSIFIERS.values(), ids=ONNX_CLASSIFIERS.keys())
def test_onnx_classifier_parity(
    make: Callable[[], Any], cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = cancer
    model = make().fit(x, y)
    result = export_model(model, "onnx", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=True)
    assert result.parity.checked_with.startswith("onnxruntime ")
    assert (result.format, result.file_suffix) == ("onnx", ".onnx")
    assert result.details["inputs"] == [{"name": "input", "type": "float", "shape": [None, 30]}]
    assert result.details["outputs"] == ["label", "probabilities"]


def test_onnx_random_forest_regressor(diabetes: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = diabetes
    model = RandomForestRegressor(n_estimators=30, random_state=0).fit(x, y)
    result = export_model(model, "onnx", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=False)
    assert result.parity.max_abs_diff is not None
    assert result.parity.label_agreement is None


def test_onnx_xgboost_regressor_keeps_the_model_untouched(
    diabetes: tuple[pd.DataFrame, pd.Series],
) -> None:
    from xgboost import XGBRegressor

    x, y = diabetes
    model = XGBRegressor(n_estimators=40).fit(x, y)
    result = export_model(model, "onnx", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=False)
    assert model.get_booster().feature_names == list(x.columns)  # the copy lost them, not this


def test_onnx_column_transformer_on_mixed_frame(mixed: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = mixed
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(x, y)
    signature = signature_of(x)
    assert [c.dtype for c in signature.inputs] == ["integer", "float", "string"]
    result = export_model(model, "onnx", signature=signature, example=x)
    _check_parity(result, len(x), classifier=True)
    assert result.details["layout"] == "columns"
    assert [i["type"] for i in result.details["inputs"]] == ["int64", "float", "string"]


def test_onnx_array_signature(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    values = x.to_numpy()
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(values, y)
    columns = tuple(ColumnSpec(f"x{i}", "float") for i in range(values.shape[1]))
    signature = Signature(inputs=columns, kind=InputKind.ARRAY)
    result = export_model(model, "onnx", signature=signature, example=values[:50])
    _check_parity(result, 50, classifier=True)


def test_parity_failure_is_returned_not_raised(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    result = export_model(model, "onnx", signature=signature_of(x), example=x, tolerance=0.0)
    assert result.parity.passed is False
    assert result.parity.tolerance == 0.0
    assert result.parity.max_abs_diff_proba is not None
    assert result.parity.max_abs_diff_proba > 0.0  # float32 inference rounds
    assert result.to_dict()["parity"]["passed"] is False


def test_onnx_lambda_step_is_named_and_nothing_written(
    cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, y = cancer
    steps = [("double", FunctionTransformer(lambda a: a * 2)), ("scale", StandardScaler())]
    model = Pipeline([*steps, ("clf", LogisticRegression())]).fit(x, y)
    target = tmp_path / "model.onnx"
    with pytest.raises(InvalidInput, match=r"step 'double' \(FunctionTransformer\)"):
        export_model(model, "onnx", signature=signature_of(x), example=x).write(target)
    assert list(tmp_path.iterdir()) == []


class _MeanRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """An estimator no converter knows."""

    def fit(self, x: Any, y: Any) -> _MeanRegressor:
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, x: Any) -> Any:
        return np.full(len(x), self.mean_)


def test_onnx_unknown_estimator_is_named(diabetes: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = diabetes
    model = Pipeline([("scale", StandardScaler()), ("mean", _MeanRegressor())]).fit(x, y)
    with pytest.raises(InvalidInput, match=r"ONNX cannot express step 'mean' \(_MeanRegressor\)"):
        export_model(model, "onnx", signature=signature_of(x), example=x)


def test_onnx_refuses_datetime_columns() -> None:
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=5), "v": np.arange(5.0)})
    with pytest.raises(InvalidInput, match=r"column 'when' has type 'datetime'"):
        export_model(object(), "onnx", signature=signature_of(frame), example=frame)


def test_example_must_hold_the_signature_columns(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    model = DecisionTreeClassifier(max_depth=3).fit(x, y)
    with pytest.raises(InvalidInput, match=r"lacks the signature's columns \['mean radius'\]"):
        export_model(
            model, "onnx", signature=signature_of(x), example=x.drop(columns="mean radius")
        )


def test_unknown_format() -> None:
    frame = pd.DataFrame({"v": [1.0]})
    with pytest.raises(InvalidInput, match=r"unknown export format 'h5'"):
        export_model(object(), "h5", signature=signature_of(frame), example=frame)


def test_write_is_atomic_and_complete(
    cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, y = cancer
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    result = export_model(model, "onnx", signature=signature_of(x), example=x)
    (tmp_path / "model.onnx").write_bytes(b"old")
    written = result.write(tmp_path / "model.onnx")
    assert written.read_bytes() == result.data
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


# --- pickle --------------------------------------------------------------------------------------


def _stored(model: object) -> tuple[bytes, str]:
    data = pickle.dumps(model, protocol=5)
    return data, hashlib.sha256(data).hexdigest()


def test_pickle_export_returns_the_stored_bytes(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    data, digest = _stored(DecisionTreeClassifier(max_depth=2).fit(x, y))
    result = export_model(
        None, "pickle", signature=signature_of(x), example=x, data=data, digest=digest
    )
    assert result.data is data
    assert result.sha256 == digest
    assert (result.file_suffix, result.details["pickle_protocol"]) == (".pkl", 5)
    assert result.parity.checked_with == "identity"
    assert result.parity.passed


def test_tampered_pickle_bytes_are_refused(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    data, digest = _stored(DecisionTreeClassifier(max_depth=2).fit(x, y))
    tampered = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
    with pytest.raises(IntegrityError, match=rf"registry recorded {digest}"):
        export_model(
            None, "pickle", signature=signature_of(x), example=x, data=tampered, digest=digest
        )


def test_pickle_export_needs_stored_pickle_bytes(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, _ = cancer
    sig = signature_of(x)
    with pytest.raises(InvalidInput, match=r"pass data= and digest="):
        export_model(None, "pickle", signature=sig, example=x)
    text = b"tree version=v4\n"
    digest = hashlib.sha256(text).hexdigest()
    with pytest.raises(InvalidInput, match=r"not a pickle"):
        export_model(None, "pickle", signature=sig, example=x, data=text, digest=digest)
    with pytest.raises(InvalidInput, match=r"'abc' is not a sha256 digest"):
        export_model(None, "pickle", signature=sig, example=x, data=text, digest="abc")


# --- PMML ----------------------------------------------------------------------------------------


def test_pmml_without_java_says_so(
    cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = cancer
    model = DecisionTreeClassifier(max_depth=2).fit(x, y)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingDependency, match=r"PMML needs a Java 11\+ runtime"):
        export_model(model, "pmml", signature=signature_of(x), example=x)


PMML_CLASSIFIERS: dict[str, Callable[[], Any]] = {
    "logistic": lambda: LogisticRegression(solver="liblinear"),
    "tree": lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
    "gbm": lambda: GradientBoostingClassifier(n_estimators=40, random_state=0),
}


@pytest.mark.slow
@pytest.mark.usefixtures("java")
@pytest.mark.parametrize("make", PMML_CLASSIFIERS.values(), ids=PMML_CLASSIFIERS.keys())
def test_pmml_classifier_parity(
    make: Callable[[], Any], cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = cancer
    model = make().fit(x, y)
    result = export_model(model, "pmml", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=True)
    assert result.parity.checked_with.startswith("jpmml-evaluator ")
    assert result.data.lstrip().startswith(b"<?xml")
    assert (result.format, result.file_suffix) == ("pmml", ".pmml")


@pytest.mark.slow
@pytest.mark.usefixtures("java")
def test_pmml_lightgbm_classifier_parity(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    from lightgbm import LGBMClassifier

    x, y = cancer
    model = LGBMClassifier(n_estimators=30, random_state=0, verbose=-1).fit(x, y)
    result = export_model(model, "pmml", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=True)


@pytest.mark.slow
@pytest.mark.usefixtures("java")
def test_pmml_xgboost_regressor_parity(diabetes: tuple[pd.DataFrame, pd.Series]) -> None:
    from xgboost import XGBRegressor

    x, y = diabetes
    model = XGBRegressor(n_estimators=30, random_state=0).fit(x, y)
    result = export_model(model, "pmml", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=False)


@pytest.mark.slow
@pytest.mark.usefixtures("java")
def test_pmml_regressor_parity(diabetes: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = diabetes
    model = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(x, y)
    result = export_model(model, "pmml", signature=signature_of(x), example=x)
    _check_parity(result, len(x), classifier=False)


@pytest.mark.slow
@pytest.mark.usefixtures("java")
def test_pmml_unsupported_step_is_named_and_nothing_written(
    cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, y = cancer
    steps = [("scale", StandardScaler()), ("rbf", RBFSampler(random_state=0))]
    model = Pipeline([*steps, ("clf", LogisticRegression())]).fit(x, y)
    target = tmp_path / "model.pmml"
    with pytest.raises(InvalidInput, match=r"PMML cannot express step 'rbf' \(RBFSampler\)"):
        export_model(model, "pmml", signature=signature_of(x), example=x).write(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("java")
def test_pmml_unpicklable_step_is_named(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    x, y = cancer
    steps = [("double", FunctionTransformer(lambda a: a * 2)), ("scale", StandardScaler())]
    model = Pipeline([*steps, ("clf", LogisticRegression())]).fit(x, y)
    with pytest.raises(InvalidInput, match=r"step 'double' \(FunctionTransformer\): it cannot be"):
        export_model(model, "pmml", signature=signature_of(x), example=x)
