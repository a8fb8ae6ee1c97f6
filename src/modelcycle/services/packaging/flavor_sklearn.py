"""The scikit-learn flavor: any fitted estimator or Pipeline with ``predict``.

Saved with pickle protocol 5 (measured as fast as joblib for in-memory bytes, and without its
extra framing); loaded only through ``packaging.load.load_verified``.
"""

from __future__ import annotations

import pickle
import sys
from typing import TYPE_CHECKING, Any

from modelcycle.services.packaging import _estimators
from modelcycle.services.packaging.load import load_verified

if TYPE_CHECKING:
    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._flavor_protocol import Task


_COMPOSITE_PARAMS = frozenset({"steps", "transformers", "transformer_list", "estimators"})


class SklearnFlavor:
    """scikit-learn estimators, pipelines and meta-estimators."""

    name = "sklearn"
    packages: tuple[str, ...] = ("scikit-learn", "numpy", "scipy")

    def matches(self, model: object) -> bool:
        """A scikit-learn ``BaseEstimator`` with a callable ``predict``."""
        if "sklearn" not in sys.modules:  # nothing can be an estimator before sklearn loads
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator) and callable(getattr(model, "predict", None))

    def save(self, model: object) -> bytes:
        """Pickle protocol 5."""
        return pickle.dumps(model, protocol=5)

    def load(self, data: bytes, digest: str) -> object:
        """Unpickle after the digest matches."""
        return load_verified(data, digest)

    def task_of(self, model: object) -> Task | None:
        """From scikit-learn's estimator type (pipelines report their last step's)."""
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
        return None

    def classes_of(self, model: object) -> tuple[Any, ...] | None:
        """``classes_`` of a single-output classifier."""
        return _estimators.classes_of(model)

    def input_signature(self, model: object) -> Signature | None:
        """Float columns from ``feature_names_in_``/``n_features_in_``, for simple estimators.

        Composite models (pipelines, column transformers, feature unions, anything holding other
        estimators as parameters) may take strings or categories: ``None`` for them.
        """
        from sklearn.base import BaseEstimator

        params = model.get_params(deep=False) if isinstance(model, BaseEstimator) else {}
        if _COMPOSITE_PARAMS.intersection(params):
            return None
        if any(isinstance(value, BaseEstimator) for value in params.values()):
            return None
        return _estimators.recorded_signature(model)

    def feed(self, model: object, data: Any) -> Any:
        """A frame when fitted with feature names, else an array."""
        return _estimators.feed_estimator(model, data)


FLAVOR = SklearnFlavor()
