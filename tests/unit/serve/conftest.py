"""Fixtures shared by the serving tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from tests.unit.serve.apps import model_app

import modelcycle as mc
from modelcycle.sdk import session
from modelcycle.services.packaging.package import load_packaged, package_model

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.services.packaging.loaded import LoadedModel


@pytest.fixture(scope="module")
def shop_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A served model with a column of every JSON-checked type (see ``apps.SHOP_ROW``).

    ``city`` text, ``plan`` a category, ``age`` an integer, ``spend`` a nullable float and
    ``vip`` a boolean.
    """
    mc.configure(str(tmp_path_factory.mktemp("store")))
    mc.set_project("shop")
    rng = np.random.default_rng(0)
    spend = rng.normal(50, 10, 100)
    spend[::7] = np.nan  # a nullable column
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon"], 100).astype(object),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], 100)),
            "age": rng.integers(18, 80, 100),
            "spend": spend,
            "vip": rng.choice([True, False], 100),
        }
    )
    target = (frame["city"] == "paris").astype(int)
    prep = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
            ("numbers", SimpleImputer(), ["age", "spend", "vip"]),
        ]
    )
    model = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(frame, target)
    try:
        with mc.start_run() as run:
            mc.log_model(model, input_example=frame.head(20))
        version = mc.models.register(run, "shop")
        yield model_app("shop", version.ref)[0]
    finally:
        session.configure()


@pytest.fixture(scope="module")
def gbm() -> LoadedModel:
    """A small gradient-boosted classifier of breast_cancer, packaged and loaded back."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = GradientBoostingClassifier(n_estimators=15, random_state=0).fit(X, y)
    packaged = package_model(model, input_example=X.head(20))
    return load_packaged(
        packaged.data, flavor=packaged.flavor, digest=packaged.digest, signature=packaged.signature
    )
