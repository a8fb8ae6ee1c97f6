"""The XGBoost flavor: scikit-learn wrappers (``XGBClassifier``, ...) and raw ``Booster``s.

Both are saved in XGBoost's own UBJSON model format, which loads without running any code, so
no pickle is involved. ``XGBModel.load_model`` restores the wrapper's fitted state (classes,
feature names, objective, best iteration) from that format; the bytes start with a short header
naming the wrapper class, chosen from a fixed table, never imported by name. A wrapper subclass
outside that table, or one with a Python callable as objective, cannot be written in the model
format and is pickled instead (loaded only after its digest matches).
"""

from __future__ import annotations

import json
import pickle
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.core.errors import IntegrityError, MissingDependency
from modelcycle.services.packaging import _estimators
from modelcycle.services.packaging.load import load_verified, verify_digest

if TYPE_CHECKING:
    from types import ModuleType

    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._flavor_protocol import Task

_HEADER = b"MCXGB1\n"
_PICKLE_MARK = b"\x80"
_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


def _xgboost() -> ModuleType:
    try:
        import xgboost
    except ImportError as exc:
        raise MissingDependency("xgboost", "xgboost") from exc
    return xgboost


class XGBoostFlavor:
    """XGBoost models."""

    name = "xgboost"
    packages: tuple[str, ...] = ("xgboost", "numpy", "scipy")

    def matches(self, model: object) -> bool:
        """An ``XGBModel`` or a ``Booster``."""
        if "xgboost" not in sys.modules:
            return False
        xgb = _xgboost()
        return isinstance(model, (xgb.XGBModel, xgb.Booster))

    def save(self, model: object) -> bytes:
        """UBJSON model format with a class header; pickle for what that format cannot hold."""
        xgb = _xgboost()
        if isinstance(model, xgb.Booster):
            return _HEADER + b"Booster\n" + bytes(model.save_raw(raw_format="ubj"))
        kind = type(model).__name__
        if (
            kind not in _CLASSES
            or type(model) is not getattr(xgb, kind)
            or callable(getattr(model, "objective", None))
        ):
            return pickle.dumps(model, protocol=5)
        with tempfile.TemporaryDirectory(prefix="modelcycle-xgb-") as folder:
            path = Path(folder) / "model.ubj"
            model.save_model(path)  # type: ignore[attr-defined]
            return _HEADER + kind.encode() + b"\n" + path.read_bytes()

    def load(self, data: bytes, digest: str) -> object:
        """Verify the digest, then read the model format or unpickle."""
        if data.startswith(_PICKLE_MARK):
            return load_verified(data, digest)
        verify_digest(data, digest)
        kind, _, payload = data.removeprefix(_HEADER).partition(b"\n")
        name = kind.decode(errors="replace")
        if not data.startswith(_HEADER) or name not in (*_CLASSES, "Booster"):
            raise IntegrityError(f"not an XGBoost model saved by this flavor (class {name!r})")
        xgb = _xgboost()
        model = getattr(xgb, name)()
        model.load_model(bytearray(payload))
        return model

    def task_of(self, model: object) -> Task | None:
        """From the wrapper's estimator type or the booster's objective."""
        xgb = _xgboost()
        if isinstance(model, xgb.Booster):
            config = json.loads(model.save_config())
            objective = str(config["learner"]["objective"]["name"])
            if objective.startswith(("binary:", "multi:")):
                return "classification"
            return "regression" if objective.startswith(("reg:", "count:")) else None
        if isinstance(model, (xgb.XGBClassifier, xgb.XGBRFClassifier)):
            return "classification"
        if isinstance(model, (xgb.XGBRegressor, xgb.XGBRFRegressor)):
            return "regression"
        return None

    def classes_of(self, model: object) -> tuple[Any, ...] | None:
        """``classes_`` of a fitted classifier wrapper."""
        if isinstance(model, _xgboost().XGBModel):
            return _estimators.classes_of(model)
        return None

    def input_signature(self, model: object) -> Signature | None:
        """Float columns of a wrapper without categorical features, else ``None``."""
        xgb = _xgboost()
        if not isinstance(model, xgb.XGBModel):
            return None
        types = model.get_booster().feature_types or ()
        if any(t == "c" for t in types):
            return None
        return _estimators.recorded_signature(model)

    def feed(self, model: object, data: Any) -> Any:
        """Wrappers get what they were fitted on; a booster gets a ``DMatrix``."""
        xgb = _xgboost()
        if isinstance(model, xgb.Booster):
            categorical = isinstance(data, pd.DataFrame) and any(
                isinstance(t, pd.CategoricalDtype) for t in data.dtypes
            )
            return xgb.DMatrix(data, enable_categorical=categorical)
        return _estimators.feed_estimator(model, data)


FLAVOR = XGBoostFlavor()
