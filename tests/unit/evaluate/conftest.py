"""Fitted scikit-learn models and the frames they are evaluated on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge


def _frame(x: np.ndarray, y: np.ndarray, prefix: str = "x") -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=[f"{prefix}{i}" for i in range(x.shape[1])])
    frame["y"] = y
    return frame


@pytest.fixture(scope="session")
def binary() -> tuple[Any, pd.DataFrame]:
    x, y = make_classification(n_samples=1200, n_features=6, n_informative=3, random_state=1)
    train, test = slice(0, 600), slice(600, None)
    model = LogisticRegression().fit(_frame(x[train], y[train]).drop(columns="y"), y[train])
    return model, _frame(x[test], y[test])


@pytest.fixture(scope="session")
def multiclass() -> tuple[Any, pd.DataFrame]:
    x, y = make_classification(
        n_samples=1500, n_features=6, n_informative=4, n_classes=3, random_state=2
    )
    labels = np.array(["ant", "bee", "cat"])[y]
    train, test = slice(0, 700), slice(700, None)
    model = GradientBoostingClassifier(n_estimators=20, random_state=0)
    model.fit(_frame(x[train], labels[train]).drop(columns="y"), labels[train])
    return model, _frame(x[test], labels[test])


@pytest.fixture(scope="session")
def regression() -> tuple[Any, pd.DataFrame]:
    x, y = make_regression(n_samples=1000, n_features=5, noise=10.0, random_state=3)
    y = y + 500.0  # no zeros, so MAPE is defined
    model = Ridge().fit(_frame(x[:500], y[:500]).drop(columns="y"), y[:500])
    return model, _frame(x[500:], y[500:])
