"""Bad input gets an InvalidInput (or MissingDependency) naming the value and the fix."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.evaluate import evaluate_model


def test_a_missing_target_names_the_columns(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    with pytest.raises(
        InvalidInput, match=r"target column 'label' is not in the frame; its columns: 'x0', 'x1'"
    ):
        evaluate_model(model, frame, "label")


def test_an_empty_frame_is_refused(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    with pytest.raises(InvalidInput, match="frame has no rows"):
        evaluate_model(model, frame.iloc[:0], "y")


def test_a_frame_of_another_type_is_refused(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    with pytest.raises(InvalidInput, match="pandas or polars DataFrame, got ndarray"):
        evaluate_model(model, frame.to_numpy(), "y")


def test_missing_target_values_are_refused(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    broken = frame.astype({"y": "float64"})
    broken.loc[broken.index[:3], "y"] = np.nan
    with pytest.raises(InvalidInput, match="'y' has 3 missing values"):
        evaluate_model(model, broken, "y")


def test_labels_outside_the_classes_are_named(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    broken = frame.copy()
    broken.loc[broken.index[0], "y"] = 7
    with pytest.raises(InvalidInput, match=r"not among the classes \[0, 1\]: \[7\]"):
        evaluate_model(model, broken, "y")


def test_a_wrong_number_of_classes_is_refused(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    with pytest.raises(
        InvalidInput, match=r"predict_proba returned shape \(600, 2\), expected \(600, 3\)"
    ):
        evaluate_model(model, frame, "y", classes=[0, 1, 2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking"}, "task must be one of"),
        ({"primary_metric": "rmse"}, "primary_metric 'rmse' is not a binary metric"),
        ({"explain_rows": [5000]}, r"explain_rows \[5000\] are outside the frame's rows 0..599"),
        ({"slice_columns": ["nope"]}, r"slice_columns \['nope'\] are not feature columns"),
        ({"failure_cases": -1}, "failure_cases must be zero or more, got -1"),
        ({"numeric_bins": 0}, "numeric_bins must be at least 1"),
        ({"importance_rows": 0}, "importance_rows must be at least 1"),
    ],
)
def test_bad_arguments_are_named(
    binary: tuple[Any, pd.DataFrame], kwargs: dict[str, Any], message: str
) -> None:
    model, frame = binary
    with pytest.raises(InvalidInput, match=message):
        evaluate_model(model, frame, "y", **kwargs)


def test_a_probability_metric_cannot_be_primary_without_probabilities(
    binary: tuple[Any, pd.DataFrame],
) -> None:
    from sklearn.svm import LinearSVC

    _, frame = binary
    model = LinearSVC().fit(frame.drop(columns="y"), frame["y"])
    with pytest.raises(InvalidInput, match="roc_auc: not computed, the model has no predict_proba"):
        evaluate_model(model, frame, "y", primary_metric="roc_auc")


def test_regression_on_text_labels_is_refused(multiclass: tuple[Any, pd.DataFrame]) -> None:
    model, frame = multiclass
    with pytest.raises(InvalidInput, match="regression needs a numeric target"):
        evaluate_model(model, frame, "y", task="regression")


def test_shap_without_the_extra_names_the_extra(
    binary: tuple[Any, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, frame = binary
    monkeypatch.setitem(sys.modules, "shap", None)  # makes `import shap` fail as if absent
    with pytest.raises(MissingDependency, match=r"pip install 'modelcycle\[shap\]'"):
        evaluate_model(model, frame, "y", shap=True, explain=False)


def test_a_model_without_predict_is_refused(binary: tuple[Any, pd.DataFrame]) -> None:
    _, frame = binary
    with pytest.raises(InvalidInput, match="model must have a predict method; got str"):
        evaluate_model("model", frame, "y")
