"""Slices: every slice metric equals scikit-learn's on that slice's rows; the flag rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from modelcycle.services.evaluate import MAX_DROP, MIN_SLICE_ROWS, evaluate_model

CLASSIFICATION = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "pr_auc"]
MULTICLASS = [
    "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
    "recall_weighted", "f1_weighted", "roc_auc", "log_loss",
]  # fmt: skip
REGRESSION = ["mae", "rmse", "r2", "mape", "median_ae"]


def _data(problem: str) -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 1600
    if problem == "regression":
        x, y = make_regression(n_samples=n, n_features=3, noise=20.0, random_state=5)
        y = y + 300.0
        model: Any = Ridge()
    else:
        k = 2 if problem == "binary" else 3
        x, y = make_classification(
            n_samples=n, n_features=3, n_informative=3, n_redundant=0, n_classes=k,
            random_state=5, flip_y=0.1,
        )  # fmt: skip
        model = LogisticRegression() if k == 2 else GradientBoostingClassifier(n_estimators=15)
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    frame["g"] = rng.integers(0, 4, n)
    model.fit(frame, y)
    frame["y"] = y
    return model, frame


def _sklearn(name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, k: int) -> float:
    if name in REGRESSION:
        funcs = {
            "mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error,
            "r2": skm.r2_score, "mape": skm.mean_absolute_percentage_error,
            "median_ae": skm.median_absolute_error,
        }  # fmt: skip
        return float(funcs[name](y, pred))
    assert proba is not None
    if name == "accuracy":
        return float(skm.accuracy_score(y, pred))
    if name == "log_loss":
        return float(skm.log_loss(y, proba, labels=list(range(k))))
    if name == "roc_auc":
        if k == 2:
            return float(skm.roc_auc_score(y, proba[:, 1]))
        return float(skm.roc_auc_score(y, proba, multi_class="ovr"))
    if name == "pr_auc":
        return float(skm.average_precision_score(y, proba[:, 1]))
    kind, _, average = name.partition("_")
    func = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[kind]
    return float(func(y, pred, average=average or "binary", zero_division=0))


@pytest.mark.parametrize(
    ("problem", "metric"),
    [("binary", m) for m in CLASSIFICATION]
    + [("multiclass", m) for m in MULTICLASS]
    + [("regression", m) for m in REGRESSION],
)
def test_each_slice_metric_equals_sklearn_on_the_slice_rows(problem: str, metric: str) -> None:
    model, frame = _data(problem)
    e = evaluate_model(
        model,
        frame,
        "y",
        primary_metric=metric,
        slice_columns=["g"],
        explain=False,
        failure_cases=0,
    )
    assert [s.label for s in e.slices] == [str(v) for v in frame["g"].value_counts().index]
    x = frame.drop(columns="y")
    k = 0 if problem == "regression" else len(model.classes_)
    for s in e.slices:
        part = frame["g"] == int(s.label)
        y = frame.loc[part, "y"].to_numpy()
        if problem == "regression":
            pred, proba = model.predict(x[part]), None
        else:
            proba = model.predict_proba(x[part])
            pred = proba.argmax(axis=1)
            y = np.searchsorted(model.classes_, y)
        assert s.count == int(part.sum())
        assert s.metrics[metric] == pytest.approx(
            _sklearn(metric, y, pred, proba, k), rel=1e-9, abs=1e-12
        )
        assert s.gap is not None


def test_ties_in_scores_give_sklearn_roc_auc_per_slice() -> None:
    model, frame = _data("binary")

    class Rounded:
        """Probabilities rounded to one decimal: many ties within each slice."""

        classes_ = model.classes_

        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict(x))

        def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
            p = np.round(model.predict_proba(x)[:, 1], 1)
            return np.column_stack([1 - p, p])

    e = evaluate_model(Rounded(), frame, "y", slice_columns=["g"], explain=False)
    rounded = np.round(model.predict_proba(frame.drop(columns="y"))[:, 1], 1)
    for s in e.slices:
        part = (frame["g"] == int(s.label)).to_numpy()
        expected = skm.roc_auc_score(frame["y"].to_numpy()[part], rounded[part])
        assert s.metrics["roc_auc"] == pytest.approx(expected, rel=1e-12)


def test_numeric_columns_are_cut_into_quantile_bins() -> None:
    model, frame = _data("binary")
    e = evaluate_model(model, frame, "y", slice_columns=["x0"], numeric_bins=4, explain=False)
    assert [s.kind for s in e.slices] == ["bin"] * 4
    assert [s.count for s in e.slices] == [400, 400, 400, 400]
    edges = np.quantile(frame["x0"], [0, 0.25, 0.5, 0.75, 1])
    assert e.slices[0].label == f"[{edges[0]:.4g}, {edges[1]:.4g})"
    assert e.slices[-1].label.endswith("]")
    pred = model.predict(frame.drop(columns="y"))
    top = (frame["x0"] >= edges[3]).to_numpy()
    expected = skm.accuracy_score(frame["y"].to_numpy()[top], pred[top])
    assert e.slices[-1].metrics["accuracy"] == pytest.approx(expected)


def test_rare_values_go_to_other_and_nulls_to_missing() -> None:
    rng = np.random.default_rng(3)
    n = 900
    city = pd.Series([f"c{i}" for i in rng.integers(0, 30, n)], dtype="string")
    city.iloc[:50] = None
    x = rng.normal(size=n)
    y = (x > 0).astype(int)
    model = LogisticRegression().fit(pd.DataFrame({"x": x}), y)

    class OnX:
        """Predicts from the ``x`` column only, so the frame can carry a text column."""

        classes_ = model.classes_

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict(frame[["x"]]))

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict_proba(frame[["x"]]))

    frame = pd.DataFrame({"x": x, "city": city, "y": y})
    e = evaluate_model(
        OnX(), frame, "y", slice_columns=["city"], max_slices_per_column=5, explain=False
    )
    kinds = [s.kind for s in e.slices]
    assert kinds == ["value"] * 5 + ["other", "missing"]
    top = city.value_counts().index[:5]
    assert [s.label for s in e.slices[:5]] == list(top)
    assert e.slices[5].count == int((~city.isin(top) & city.notna()).sum())
    assert e.slices[6].label == "(missing)"
    assert e.slices[6].count == 50
    assert sum(s.count for s in e.slices) == n


def test_a_category_where_the_model_is_wrong_is_flagged() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    frame = pd.DataFrame({"x": rng.normal(size=n), "region": rng.integers(0, 4, n)})
    clean = (frame["x"] + rng.normal(scale=0.3, size=n) > 0).astype(int)
    model = LogisticRegression().fit(frame, clean)
    truth = clean.copy()
    bad = (frame["region"] == 2).to_numpy()
    truth[bad] = 1 - truth[bad]  # the world changed in region 2: the model is now wrong there
    tiny = np.flatnonzero(frame["region"] == 3)[: MIN_SLICE_ROWS - 1]
    frame.loc[tiny, "region"] = 9
    truth[tiny] = 1 - truth[tiny]  # also wrong, but too few rows to flag
    frame["y"] = truth
    e = evaluate_model(model, frame, "y", primary_metric="accuracy", explain=False)
    region = {s.label: s for s in e.slices if s.column == "region"}
    assert [s.label for s in e.flagged_slices if s.column == "region"] == ["2"]
    gap, accuracy = region["2"].gap, region["9"].metrics["accuracy"]
    assert gap is not None
    assert gap > MAX_DROP
    assert region["2"].metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(truth[bad], model.predict(frame.drop(columns="y"))[bad])
    )
    assert region["9"].count == MIN_SLICE_ROWS - 1
    assert accuracy is not None
    assert accuracy < 0.5
    assert not region["9"].flagged


def test_an_error_metric_flags_a_slice_past_the_relative_rise() -> None:
    rng = np.random.default_rng(8)
    n = 2000
    frame = pd.DataFrame({"x": rng.normal(size=n), "shop": rng.integers(0, 3, n)})
    y = 3 * frame["x"] + 100 + rng.normal(scale=1.0, size=n)
    model = Ridge().fit(frame, y)
    y[frame["shop"] == 1] += rng.normal(scale=5.0, size=int((frame["shop"] == 1).sum()))
    frame["y"] = y
    e = evaluate_model(model, frame, "y", primary_metric="mae", explain=False)
    assert [(s.column, s.label) for s in e.flagged_slices] == [("shop", "1")]
