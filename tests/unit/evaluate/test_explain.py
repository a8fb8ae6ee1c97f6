"""Permutation importance, baseline local explanations and the SHAP path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression

from modelcycle.services.evaluate import evaluate_model


def _signal_and_noise(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(21)
    frame = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "signal": rng.normal(size=n),
            "noise_b": rng.uniform(size=n),
            "weak": rng.normal(size=n),
        }
    )
    logit = 3 * frame["signal"] + 0.5 * frame["weak"] + rng.normal(scale=0.5, size=n)
    frame["y"] = (logit > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def boosted() -> tuple[Any, pd.DataFrame]:
    frame = _signal_and_noise()
    model = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0)
    model.fit(frame.drop(columns="y").iloc[:700], frame["y"].iloc[:700])
    return model, frame.iloc[700:].reset_index(drop=True)


def test_permutation_importance_ranks_the_informative_feature_first(
    boosted: tuple[Any, pd.DataFrame],
) -> None:
    model, frame = boosted
    e = evaluate_model(model, frame, "y", importance_rows=500, seed=3)
    ranked = [f.feature for f in e.importance]
    assert ranked[:2] == ["signal", "weak"]
    by_name = {f.feature: f for f in e.importance}
    assert by_name["signal"].importance > 0.2  # ROC AUC falls far when the signal is shuffled
    assert abs(by_name["noise_a"].importance) < 0.02
    assert e.settings["importance_rows"] == 500
    assert e.settings["importance_method"] == "permutation"


def test_importance_is_reproducible_with_the_seed(boosted: tuple[Any, pd.DataFrame]) -> None:
    model, frame = boosted
    first = evaluate_model(model, frame, "y", importance_rows=300, seed=5, failure_cases=0)
    again = evaluate_model(model, frame, "y", importance_rows=300, seed=5, failure_cases=0)
    assert first.importance == again.importance


def test_baseline_effects_of_a_linear_model_are_coefficient_times_distance() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.normal(size=300) * 5, "k": rng.integers(0, 9, 300)}
    )
    frame["y"] = 2 * frame["a"] - frame["b"] + 0.5 * frame["k"] + rng.normal(size=300)
    model = LinearRegression().fit(frame[["a", "b", "k"]], frame["y"])
    e = evaluate_model(model, frame, "y", explain_rows=[4, 10])
    assert [x.row for x in e.local_explanations] == [4, 10]
    for x in e.local_explanations:
        assert x.method == "baseline"
        assert x.output == "predicted value"
        row = frame.iloc[x.row]
        assert x.value == pytest.approx(
            float(model.predict(frame[["a", "b", "k"]].iloc[[x.row]])[0])
        )
        assert x.actual == pytest.approx(row["y"])
        effects = {c.feature: c for c in x.contributions}
        for j, name in enumerate(["a", "b", "k"]):
            typical = frame[name].median()
            if name == "k":
                typical = round(typical)
            assert effects[name].baseline == pytest.approx(typical)
            assert effects[name].effect == pytest.approx(model.coef_[j] * (row[name] - typical))
        sizes = [abs(c.effect or 0) for c in x.contributions]
        assert sizes == sorted(sizes, reverse=True)


def test_binary_local_explanations_explain_the_positive_probability(
    boosted: tuple[Any, pd.DataFrame],
) -> None:
    model, frame = boosted
    e = evaluate_model(model, frame, "y", explain_rows=[0])
    (x,) = e.local_explanations
    proba = model.predict_proba(frame.drop(columns="y").iloc[[0]])[0, 1]
    assert x.output == "P(y = 1)"
    assert x.value == pytest.approx(proba)
    assert x.contributions[0].feature == "signal"


def test_explain_false_skips_the_explanations(boosted: tuple[Any, pd.DataFrame]) -> None:
    model, frame = boosted
    e = evaluate_model(model, frame, "y", explain=False)
    assert e.importance == ()
    assert e.local_explanations == ()
    assert e.shap_importance is None


def test_shap_on_a_tree_model(boosted: tuple[Any, pd.DataFrame]) -> None:
    shap = pytest.importorskip("shap")
    model, frame = boosted
    e = evaluate_model(model, frame, "y", shap=True, explain_rows=[1, 2])
    assert e.shap_importance is not None
    assert e.shap_importance[0].feature == "signal"
    assert "TreeExplainer" in e.settings["shap_method"]
    assert e.settings["shap_rows"] == len(frame)
    local = [x for x in e.local_explanations if x.method == "shap"]
    assert [x.row for x in local] == [1, 2]
    x = frame.drop(columns="y")
    expected = shap.TreeExplainer(model).shap_values(x.iloc[[1]])[0]
    effects = {c.feature: c.effect for c in local[0].contributions}
    assert [effects[c] for c in x.columns] == pytest.approx(expected)
    assert [m for m in e.local_explanations if m.method == "baseline"]  # both kinds kept


@pytest.mark.slow  # shap compiles its exact explainer on first use (several seconds)
def test_shap_on_any_model_through_its_predictions() -> None:
    pytest.importorskip("shap")
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    frame["y"] = 4 * frame["a"] + frame["b"] + 10
    model = LinearRegression().fit(frame[["a", "b"]], frame["y"])
    e = evaluate_model(model, frame, "y", shap=True, explain=False, explain_rows=[3])
    assert e.shap_importance is not None
    assert [f.feature for f in e.shap_importance] == ["a", "b"]
    assert "shap.Explainer" in e.settings["shap_method"]
    (x,) = e.local_explanations
    effects = {c.feature: c.effect for c in x.contributions}
    for j, name in enumerate(["a", "b"]):  # linear model, all rows as background: exact
        expected = model.coef_[j] * (frame[name].iloc[3] - frame[name].mean())
        assert effects[name] == pytest.approx(expected, abs=1e-9)
