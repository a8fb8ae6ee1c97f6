"""SHAP explanations (the ``shap`` extra): global mean |SHAP| and per-row values.

Tree models go through ``shap.TreeExplainer`` (exact, in the model's raw output: log-odds for
gradient boosting, probabilities for forests); any other model through ``shap.Explainer`` on
its probabilities or predictions, with a background of ``SHAP_BACKGROUND_ROWS`` rows, on a
smaller sample because that explainer calls the model many times per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.evaluate._explain import sample_rows
from modelcycle.services.evaluate._model import Contribution, FeatureImportance, LocalExplanation
from modelcycle.services.evaluate._values import finite, scalar

if TYPE_CHECKING:
    from modelcycle.services.evaluate._inputs import Outcome

SHAP_TREE_ROWS = 2000
SHAP_AGNOSTIC_ROWS = 200
SHAP_BACKGROUND_ROWS = 100
METHOD = "shap"


def _import_shap() -> Any:
    try:
        import shap
    except ImportError as exc:
        raise MissingDependency("shap", "shap") from exc
    return shap


def _agnostic(shap: Any, model: Any, features: pd.DataFrame, outcome: Outcome, seed: int) -> Any:
    if outcome.is_classification and outcome.proba is None:
        raise InvalidInput(
            "SHAP on a classifier needs predict_proba (or a tree model shap knows); "
            "evaluate with shap=False"
        )
    columns = list(features.columns)
    dtypes = features.dtypes

    def output(values: np.ndarray) -> np.ndarray:
        x = pd.DataFrame(values, columns=columns).astype(dtypes)
        if outcome.proba is not None:
            return np.asarray(model.predict_proba(x), dtype=np.float64)
        return np.asarray(model.predict(x), dtype=np.float64)

    background = features.iloc[sample_rows(len(features), SHAP_BACKGROUND_ROWS, seed)]
    masker = shap.maskers.Independent(background.to_numpy(), max_samples=SHAP_BACKGROUND_ROWS)
    explainer = shap.Explainer(output, masker, seed=seed)

    def explain(x: pd.DataFrame) -> np.ndarray:
        return np.asarray(explainer(x.to_numpy()).values, dtype=np.float64)

    return explain


def _explainer(
    shap: Any, model: Any, features: pd.DataFrame, outcome: Outcome, seed: int
) -> tuple[Any, str, int]:
    try:
        tree = shap.TreeExplainer(model)
    except ValueError:  # shap's InvalidModelError: not a tree model it knows
        explain = _agnostic(shap, model, features, outcome, seed)
        what = "probability" if outcome.proba is not None else "predicted value"
        return explain, f"shap.Explainer on the model's {what}", SHAP_AGNOSTIC_ROWS

    def explain_tree(x: pd.DataFrame) -> np.ndarray:
        values = tree.shap_values(x)
        if isinstance(values, list):
            values = np.stack(values, axis=-1)
        return np.asarray(values, dtype=np.float64)

    return explain_tree, "shap.TreeExplainer in the model's raw output units", SHAP_TREE_ROWS


def _per_class(values: np.ndarray, outcome: Outcome, classes_of_rows: np.ndarray) -> np.ndarray:
    """(rows, features) values for the explained class of each row."""
    if values.ndim == 2:
        return values
    return np.take_along_axis(values, classes_of_rows[:, None, None], axis=2)[:, :, 0]


def shap_explanations(
    model: Any,
    features: pd.DataFrame,
    outcome: Outcome,
    classes: Any,
    *,
    target: pd.Series[Any],
    rows: list[int],
    seed: int,
) -> tuple[list[FeatureImportance], list[LocalExplanation], dict[str, Any]]:
    """Global mean |SHAP| (most important first), per-row SHAP values and what was done.

    Raises:
        MissingDependency: ``shap`` is not installed.
    """
    shap = _import_shap()
    explain, how, limit = _explainer(shap, model, features, outcome, seed)
    sample = sample_rows(len(features), limit, seed)
    values = explain(features.iloc[sample])
    magnitude = np.abs(values)
    if magnitude.ndim == 3:
        magnitude = magnitude[:, :, 1] if outcome.problem == "binary" else magnitude.mean(axis=2)
    mean_abs, spread = magnitude.mean(axis=0), magnitude.std(axis=0)
    found = [
        FeatureImportance(str(name), float(m), finite(s))
        for name, m, s in zip(features.columns, mean_abs, spread, strict=True)
    ]
    found.sort(key=lambda f: -f.importance)
    local = _locals(explain, features, outcome, classes, target, rows, how)
    return found, local, {"shap_method": how, "shap_rows": int(sample.size)}


def _locals(
    explain: Any,
    features: pd.DataFrame,
    outcome: Outcome,
    classes: Any,
    target: pd.Series[Any],
    rows: list[int],
    how: str,
) -> list[LocalExplanation]:
    if not rows:
        return []
    explained = outcome.pred[rows] if outcome.problem == "multiclass" else np.ones(len(rows), int)
    per_row = _per_class(explain(features.iloc[rows]), outcome, explained)
    out = []
    for i, row in enumerate(rows):
        parts = [
            Contribution(str(name), scalar(features[name].iat[row]), None, finite(per_row[i, j]))
            for j, name in enumerate(features.columns)
        ]
        parts.sort(key=lambda c: -abs(c.effect or 0.0))
        if outcome.problem == "regression":
            prediction: Any = finite(outcome.pred[row])
            output = f"{how}: predicted value"
        else:
            prediction = scalar(list(classes)[int(outcome.pred[row])])
            cls = list(classes)[int(explained[i])]
            output = f"{how}: {target.name} = {scalar(cls)}"
        out.append(
            LocalExplanation(
                row=row,
                method=METHOD,
                output=output,
                value=None,
                prediction=prediction,
                actual=scalar(target.iat[row]),
                contributions=tuple(parts),
            )
        )
    return out
