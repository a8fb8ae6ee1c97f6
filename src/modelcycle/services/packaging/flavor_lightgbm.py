"""The LightGBM flavor: ``LGBMModel`` wrappers (``LGBMClassifier``, ...) and raw ``Booster``s.

A raw ``Booster`` is saved in LightGBM's own text model format (``model_to_string``), which
loads without running any code. The scikit-learn wrappers are pickled instead: LightGBM has no
way to load a text model back into an ``LGBMClassifier`` with its fitted state (classes and
their label encoding, objective, feature names, the pandas category mapping), so the text form
would not give back the scikit-learn API. Pickled bytes load only after their digest matches.
"""

from __future__ import annotations

import pickle
import sys
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import MissingDependency
from modelcycle.services.packaging import _estimators
from modelcycle.services.packaging.load import load_verified, verify_digest

if TYPE_CHECKING:
    from types import ModuleType

    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._flavor_protocol import Task

_PICKLE_MARK = b"\x80"  # every pickle of protocol 2 or later starts with PROTO
_CLASSIFICATION_OBJECTIVES = ("binary", "multiclass", "multiclassova", "cross_entropy")


def _lightgbm() -> ModuleType:
    try:
        import lightgbm
    except ImportError as exc:
        raise MissingDependency("lightgbm", "lightgbm") from exc
    return lightgbm


class LightGBMFlavor:
    """LightGBM models."""

    name = "lightgbm"
    packages: tuple[str, ...] = ("lightgbm", "numpy", "scipy")

    def matches(self, model: object) -> bool:
        """An ``LGBMModel`` or a ``Booster``."""
        if "lightgbm" not in sys.modules:
            return False
        lgb = _lightgbm()
        return isinstance(model, (lgb.LGBMModel, lgb.Booster))

    def save(self, model: object) -> bytes:
        """Text model for a ``Booster``, pickle protocol 5 for a wrapper."""
        lgb = _lightgbm()
        if isinstance(model, lgb.Booster):
            return str(model.model_to_string()).encode()
        return pickle.dumps(model, protocol=5)

    def load(self, data: bytes, digest: str) -> object:
        """Verify the digest, then read a text model or unpickle a wrapper."""
        if data.startswith(_PICKLE_MARK):
            return load_verified(data, digest)
        verify_digest(data, digest)
        return _lightgbm().Booster(model_str=data.decode())

    def task_of(self, model: object) -> Task | None:
        """From the wrapper's class, or a booster's objective."""
        lgb = _lightgbm()
        if isinstance(model, lgb.LGBMClassifier):
            return "classification"
        if isinstance(model, lgb.LGBMRegressor):
            return "regression"
        if isinstance(model, lgb.Booster):
            objective = str(model.params.get("objective", ""))
            if objective.startswith(_CLASSIFICATION_OBJECTIVES):
                return "classification"
            if objective.startswith("regression") or objective in ("huber", "fair", "poisson"):
                return "regression"
        return None

    def classes_of(self, model: object) -> tuple[Any, ...] | None:
        """``classes_`` of a fitted ``LGBMClassifier``."""
        if isinstance(model, _lightgbm().LGBMClassifier):
            return _estimators.classes_of(model)
        return None

    def input_signature(self, model: object) -> Signature | None:
        """Float columns of a wrapper fitted without pandas categories, else ``None``."""
        lgb = _lightgbm()
        if not isinstance(model, lgb.LGBMModel) or not getattr(model, "fitted_", False):
            return None
        if model.booster_.pandas_categorical:
            return None
        return _estimators.recorded_signature(model)

    def feed(self, model: object, data: Any) -> Any:
        """Wrappers get what they were fitted on; a booster takes frames and arrays alike."""
        if isinstance(model, _lightgbm().Booster):
            return data
        return _estimators.feed_estimator(model, data)


FLAVOR = LightGBMFlavor()
