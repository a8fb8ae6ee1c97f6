"""A loaded model: ``predict`` and ``predict_proba`` that check input against the signature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._validate import validate_input

if TYPE_CHECKING:
    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._flavor_protocol import Flavor, Task


class NoPredictProba(InvalidInput, AttributeError):
    """The model gives no class probabilities (it is also an ``AttributeError``)."""


class LoadedModel:
    """A model loaded from verified bytes, checking every input against its signature.

    Attributes:
        raw: the underlying model object.
        signature: what the model takes and returns.
        classes: a classifier's classes in ``predict_proba`` column order, else ``None``.
        task: ``"classification"``, ``"regression"`` or ``None``.
    """

    __slots__ = ("_flavor", "classes", "raw", "signature", "task")

    def __init__(self, raw: object, *, flavor: Flavor, signature: Signature) -> None:
        self.raw = raw
        self.signature = signature
        self._flavor = flavor
        self.classes: tuple[Any, ...] | None = flavor.classes_of(raw)
        self.task: Task | None = flavor.task_of(raw)

    @property
    def flavor(self) -> str:
        """The flavor name."""
        return self._flavor.name

    @property
    def has_predict_proba(self) -> bool:
        """Whether ``predict_proba`` is available."""
        return callable(getattr(self.raw, "predict_proba", None))

    def predict(self, data: object) -> np.ndarray[Any, Any]:
        """Predictions for ``data`` (a DataFrame, dict, list of row dicts or 2-D array).

        Raises:
            InvalidInput: the input does not match the signature (every problem listed), or the
                model refused it.
        """
        return self._call("predict", data)

    def predict_proba(self, data: object) -> np.ndarray[Any, Any]:
        """Class probabilities for ``data``, one column per class in ``classes`` order.

        Raises:
            NoPredictProba: the model has no ``predict_proba``.
            InvalidInput: the input does not match the signature, or the model refused it.
        """
        if not self.has_predict_proba:
            raise NoPredictProba(
                f"this {type(self.raw).__name__} model ({self.flavor} flavor) has no "
                "predict_proba; use predict"
            )
        return self._call("predict_proba", data)

    def _call(self, method: str, data: object) -> np.ndarray[Any, Any]:
        fed = self._flavor.feed(self.raw, validate_input(data, self.signature))
        try:
            return np.asarray(getattr(self.raw, method)(fed))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidInput(
                f"the {type(self.raw).__name__} refused input that matches its signature: "
                f"{method} raised {type(exc).__name__}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        columns = ", ".join(self.signature.input_names[:5])
        more = ", ..." if len(self.signature.inputs) > 5 else ""
        return f"LoadedModel({self.flavor}: {type(self.raw).__name__}({columns}{more}))"
