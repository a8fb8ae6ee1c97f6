from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.services.packaging import flavors


@pytest.fixture(scope="session")
def breast_cancer() -> tuple[pd.DataFrame, pd.Series[Any]]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture(scope="session")
def mixed_frame() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """Numbers, text and booleans; the label depends on several of them."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 15_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) > 0.5,
        }
    )
    label = ((frame["age"] > 50) ^ (frame["city"] == "nice")).to_numpy().astype(int)
    return frame, label


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry reset to the built-ins for one test, restored afterwards."""
    monkeypatch.setattr(flavors, "_targets", dict(flavors._BUILTIN))
    monkeypatch.setattr(flavors, "_loaded", {})
    monkeypatch.setattr(flavors, "_entry_points_read", False)
