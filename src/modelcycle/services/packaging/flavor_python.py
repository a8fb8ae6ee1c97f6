"""The plain Python flavor: any object with a callable ``predict`` (and maybe ``predict_proba``).

Saved with pickle protocol 5, so the object's class must be importable where it is loaded (as
with any pickle); loaded only through ``packaging.load.load_verified``. The model receives a
pandas DataFrame for a named signature and a 2-D numpy array for an unnamed one.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from modelcycle.services.packaging import _estimators
from modelcycle.services.packaging.load import load_verified

if TYPE_CHECKING:
    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._flavor_protocol import Task


class PythonFlavor:
    """Any object with a callable ``predict``."""

    name = "python"
    packages: tuple[str, ...] = ("numpy",)

    def matches(self, model: object) -> bool:
        """Whether ``model.predict`` is callable (classes themselves are refused)."""
        return not isinstance(model, type) and callable(getattr(model, "predict", None))

    def save(self, model: object) -> bytes:
        """Pickle protocol 5."""
        return pickle.dumps(model, protocol=5)

    def load(self, data: bytes, digest: str) -> object:
        """Unpickle after the digest matches."""
        return load_verified(data, digest)

    def task_of(self, model: object) -> Task | None:
        """Classification when the object has ``predict_proba`` or ``classes_``, else unknown."""
        if callable(getattr(model, "predict_proba", None)) or hasattr(model, "classes_"):
            return "classification"
        return None

    def classes_of(self, model: object) -> tuple[Any, ...] | None:
        """``classes_`` when the object has them."""
        return _estimators.classes_of(model)

    def input_signature(self, model: object) -> Signature | None:
        """A plain object records nothing about its inputs: pass an input example."""
        return None

    def feed(self, model: object, data: Any) -> Any:
        """The validated frame or array, as is."""
        return data


FLAVOR = PythonFlavor()
