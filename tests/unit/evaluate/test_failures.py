"""Failure cases are really the worst rows, with inputs, target and prediction columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelcycle.services.evaluate import evaluate_model


def test_classification_failures_are_misclassified_then_least_confident(
    binary: tuple[Any, pd.DataFrame],
) -> None:
    model, frame = binary
    e = evaluate_model(model, frame, "y", failure_cases=100, explain=False)
    cases = e.failure_cases
    assert cases is not None
    x, y = frame.drop(columns="y"), frame["y"].to_numpy()
    proba = model.predict_proba(x)
    p_true = proba[np.arange(len(y)), y]
    wrong = proba.argmax(axis=1) != y
    order = np.lexsort((p_true, ~wrong))[:100]
    assert cases["row"].tolist() == order.tolist()
    assert cases["true_class_probability"].to_numpy() == pytest.approx(p_true[order])
    assert cases["loss"].to_numpy() == pytest.approx(-np.log(p_true[order]))
    n_wrong = int(wrong.sum())
    assert 0 < n_wrong < 100  # the frame holds every misclassified row, then the closest calls
    assert (cases["prediction"] != cases["y"]).iloc[:n_wrong].all()
    assert (cases["prediction"] == cases["y"]).iloc[n_wrong:].all()
    assert p_true[~wrong].min() == pytest.approx(cases["true_class_probability"].iloc[n_wrong])
    pd.testing.assert_frame_equal(
        cases[list(x.columns)], x.iloc[order].reset_index(drop=True), check_exact=True
    )
    assert e.failure_case_rows == 100
    assert e.failure_case_columns == (
        *x.columns,
        "y",
        "row",
        "prediction",
        "true_class_probability",
        "loss",
    )


def test_regression_failures_have_the_largest_absolute_error(
    regression: tuple[Any, pd.DataFrame],
) -> None:
    model, frame = regression
    e = evaluate_model(model, frame, "y", failure_cases=25, explain=False)
    cases = e.failure_cases
    assert cases is not None
    error = frame["y"].to_numpy() - model.predict(frame.drop(columns="y"))
    worst = np.argsort(-np.abs(error))[:25]
    assert cases["row"].tolist() == worst.tolist()
    assert cases["error"].to_numpy() == pytest.approx(error[worst])
    assert cases["abs_error"].min() >= np.sort(np.abs(error))[-25]
    assert cases["abs_error"].is_monotonic_decreasing


def test_multiclass_failures_carry_class_labels(multiclass: tuple[Any, pd.DataFrame]) -> None:
    model, frame = multiclass
    e = evaluate_model(model, frame, "y", failure_cases=5, explain=False)
    assert e.failure_cases is not None
    assert set(e.failure_cases["prediction"]) <= {"ant", "bee", "cat"}
    assert (
        e.failure_cases["prediction"].tolist()
        == model.predict(frame.drop(columns="y").iloc[e.failure_cases["row"]]).tolist()
    )


def test_names_taken_by_features_get_a_suffix() -> None:
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"prediction": np.arange(50.0), "row": np.arange(50.0) % 7})
    frame["y"] = frame["prediction"] * 2 + frame["row"] + np.sin(np.arange(50.0))
    model = LinearRegression().fit(frame[["prediction", "row"]], frame["y"])
    e = evaluate_model(model, frame, "y", failure_cases=3, explain=False)
    assert e.failure_case_columns == (
        "prediction",
        "row",
        "y",
        "row_",
        "prediction_",
        "error",
        "abs_error",
    )


def test_more_failure_cases_than_rows_returns_every_row(binary: tuple[Any, pd.DataFrame]) -> None:
    model, frame = binary
    e = evaluate_model(model, frame.iloc[:30], "y", failure_cases=100, explain=False)
    assert e.failure_case_rows == 30
    assert sorted(e.failure_cases["row"]) == list(range(30))  # type: ignore[index]
