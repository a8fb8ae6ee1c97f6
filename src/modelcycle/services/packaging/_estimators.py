"""What scikit-learn-style estimators (sklearn, and the LightGBM and XGBoost wrappers) share.

How validated input is fed to them, their classes, and the input signature a fitted estimator
records about itself (``feature_names_in_`` / ``n_features_in_``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature


def feed_estimator(model: object, data: Any) -> Any:
    """Give an estimator input in the form it was fitted on.

    An estimator fitted on a named frame gets a frame with those names; one fitted on an
    unnamed array gets an array. That keeps scikit-learn from warning about feature names.
    """
    names = getattr(model, "feature_names_in_", None)
    if isinstance(data, pd.DataFrame):
        if names is None and getattr(model, "n_features_in_", None) is not None:
            return data.to_numpy()
        return data
    if names is not None and len(names) == data.shape[1]:
        return pd.DataFrame(data, columns=list(names), copy=False)  # pandas 3 copies by default
    return data


def classes_of(model: object) -> tuple[Any, ...] | None:
    """A single-output classifier's ``classes_`` as plain Python values, else ``None``."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    array = np.asarray(classes)
    if array.ndim != 1:
        return None
    return tuple(array.tolist())


def recorded_signature(model: object) -> Signature | None:
    """A float-column signature from ``feature_names_in_`` or ``n_features_in_``, if recorded.

    Only right for estimators that take numbers; callers exclude composite models (pipelines,
    column transformers) that may take strings or categories.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        columns = tuple(ColumnSpec(str(n), "float") for n in names)
        return Signature(inputs=columns, kind=InputKind.FRAME)
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, (int, np.integer)) and count > 0:
        columns = tuple(ColumnSpec(str(i), "float") for i in range(int(count)))
        return Signature(inputs=columns, kind=InputKind.ARRAY)
    return None
