"""Overall metrics equal scikit-learn's; tasks and classes are inferred; missing probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression
from sklearn.svm import LinearSVC

from modelcycle.services.evaluate import evaluate_model


def test_binary_metrics_equal_sklearn(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    e = evaluate_model(model, frame, "y", explain=False)
    x, y = frame.drop(columns="y"), frame["y"].to_numpy()
    proba = model.predict_proba(x)[:, 1]
    pred = model.predict(x)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, proba),
        "log_loss": skm.log_loss(y, model.predict_proba(x)),
        "pr_auc": skm.average_precision_score(y, proba),
    }
    assert e.metrics == pytest.approx(expected, rel=1e-12)
    assert (e.task, e.positive_class, e.classes, e.primary_metric) == (
        "classification",
        1,
        (0, 1),
        "roc_auc",
    )
    assert 0.8 < (e.metrics["roc_auc"] or 0) < 1.0


def test_multiclass_metrics_equal_sklearn(multiclass: tuple[Any, pd.DataFrame]) -> None:
    model, frame = multiclass
    e = evaluate_model(model, frame, "y", explain=False)
    x, y = frame.drop(columns="y"), frame["y"].to_numpy()
    proba, pred = model.predict_proba(x), model.predict(x)
    expected: dict[str, float] = {
        "accuracy": skm.accuracy_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "log_loss": skm.log_loss(y, proba, labels=model.classes_),
    }
    for kind, func in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        for average in ("macro", "weighted"):
            expected[f"{kind}_{average}"] = func(y, pred, average=average)
    assert e.metrics == pytest.approx(expected, rel=1e-12)
    assert e.classes == ("ant", "bee", "cat")
    assert e.positive_class is None
    assert e.primary_metric == "f1_macro"
    assert e.settings["problem"] == "multiclass"


def test_regression_metrics_equal_sklearn(regression: tuple[Any, pd.DataFrame]) -> None:
    model, frame = regression
    e = evaluate_model(model, frame, "y", explain=False)
    y, pred = frame["y"].to_numpy(), model.predict(frame.drop(columns="y"))
    expected = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "median_ae": skm.median_absolute_error(y, pred),
    }
    assert e.metrics == pytest.approx(expected, rel=1e-12)
    assert (e.task, e.primary_metric, e.classes) == ("regression", "rmse", None)
    assert set(e.figures) == {"residuals", "pred-vs-actual"}


def test_mape_is_skipped_with_a_reason_when_the_target_has_zeros() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0) * 2})
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    e = evaluate_model(model, frame, "y", explain=False)
    assert e.metrics["mape"] is None
    assert any("mape" in n and "zeros" in n for n in e.notes)
    assert e.metrics["r2"] == pytest.approx(1.0)


def test_a_polars_frame_gives_the_same_metrics(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    from_pandas = evaluate_model(model, frame, "y", explain=False)
    from_polars = evaluate_model(model, pl.from_pandas(frame), "y", explain=False)
    assert from_polars.metrics == from_pandas.metrics


def test_a_classifier_without_predict_proba_gets_none_with_notes(
    binary: tuple[Any, pd.DataFrame],
) -> None:
    _, frame = binary
    x, y = frame.drop(columns="y"), frame["y"]
    model = LinearSVC().fit(x, y)
    e = evaluate_model(model, frame, "y", failure_cases=10)
    for name in ("roc_auc", "log_loss", "pr_auc"):
        assert e.metrics[name] is None
        assert any(n.startswith(name) and "predict_proba" in n for n in e.notes)
    assert e.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, model.predict(x)))
    assert e.primary_metric == "f1"
    assert not {"roc", "pr", "calibration"} & set(e.figures)
    assert {"confusion", "confusion-normalized"} <= set(e.figures)
    assert e.failure_cases is not None
    assert not (e.failure_cases["prediction"] == e.failure_cases["y"]).iloc[0]
    assert e.local_explanations[0].output == "prediction kept (1) or changed (0)"


def test_task_is_inferred_from_the_target_when_the_model_gives_no_hint() -> None:
    frame = pd.DataFrame({"x": np.linspace(0, 1, 200), "y": np.linspace(0, 1, 200) * 3 + 1})
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    assert evaluate_model(model, frame, "y", explain=False).task == "regression"


def test_explicit_classes_order_is_used_for_probabilities(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    e = evaluate_model(model, frame, "y", classes=[0, 1], explain=False)
    flipped = evaluate_model(model, frame, "y", classes=[1, 0], explain=False)
    assert flipped.positive_class == 0
    assert flipped.metrics["accuracy"] == pytest.approx(1 - (e.metrics["accuracy"] or 0))


def test_a_requested_primary_metric_is_used(regression: tuple[Any, pd.DataFrame]) -> None:
    model, frame = regression
    e = evaluate_model(model, frame, "y", primary_metric="mae", explain=False)
    assert e.primary_metric == "mae"
    assert set(e.slices[0].metrics) == {"mae"}


def test_a_frame_of_one_class_leaves_the_ranking_metrics_out(
    binary: tuple[Any, pd.DataFrame],
) -> None:
    model, frame = binary
    ones = frame[frame["y"] == 1]
    e = evaluate_model(model, ones, "y", explain_rows=[0])
    assert e.metrics["roc_auc"] is None
    assert e.metrics["pr_auc"] is None
    assert "roc_auc: not computed, the truth holds a single class" in e.notes
    assert e.primary_metric == "accuracy"
    assert e.metrics["recall"] == pytest.approx((model.predict(ones.drop(columns="y")) == 1).mean())
    assert not {"roc", "pr"} & set(e.figures)
    assert "calibration" in e.figures
