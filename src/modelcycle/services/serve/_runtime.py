"""What the endpoint predicts with: a runtime (Python model or ONNX form) and its answer.

A runtime is chosen once, when a version is loaded (see ``model_holder.load_runtime``), never
per request. Every runtime answers the same way: class labels, probabilities in ``classes``
order and the classes for a classifier with probabilities; the predicted labels for one
without; the predicted values for a regressor. Labels are the classes of the highest
probability, so the label and the probabilities of a row never disagree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature


class Prediction:
    """The answer to one request: the response body and what the log and metrics need.

    ``labels`` are the predicted classes of a classifier (``None`` for a regressor);
    ``outputs()`` builds the per-row output records of the prediction log, only when asked.
    """

    __slots__ = ("_keys", "_proba", "answer", "labels", "rows")

    def __init__(
        self,
        answer: dict[str, Any],
        rows: int,
        labels: list[Any] | None,
        proba: list[list[float]] | None = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        self.answer = answer
        self.rows = rows
        self.labels = labels
        self._proba = proba
        self._keys = keys

    def outputs(self) -> list[dict[str, Any]]:
        """One record per row: ``prediction`` and, with probabilities, ``proba_<class>``."""
        predictions = self.answer["predictions"]
        if self._proba is None:
            return [{"prediction": p} for p in predictions]
        keys = self._keys
        return [
            dict(zip(keys, (label, *row), strict=True))
            for label, row in zip(predictions, self._proba, strict=True)
        ]


class Outputs:
    """Turns a model's raw output arrays into a ``Prediction``; built once per runtime."""

    __slots__ = ("_classes", "_classes_array", "_keys", "classifier")

    def __init__(self, classes: Sequence[Any] | None, *, classifier: bool) -> None:
        import numpy as np

        self._classes = None if classes is None else list(classes)
        self._classes_array = None if classes is None else np.array(list(classes), dtype=object)
        self._keys = ("prediction", *(f"proba_{c}" for c in self._classes or ()))
        self.classifier = classifier

    @property
    def has_classes(self) -> bool:
        """Whether the classes are known (a classifier's probabilities can be labelled)."""
        return self._classes is not None

    def from_proba(self, proba: NDArray[Any]) -> Prediction:
        """Labels (classes of the highest probability), probabilities and classes."""
        if self._classes_array is None:
            msg = "probabilities need the classes"
            raise ValueError(msg)
        labels = self._classes_array[proba.argmax(axis=1)].tolist()
        rows = proba.tolist()
        answer = {"predictions": labels, "probabilities": rows, "classes": self._classes}
        return Prediction(answer, len(labels), labels, rows, self._keys)

    def from_values(self, values: NDArray[Any]) -> Prediction:
        """Predicted labels (a classifier without probabilities) or regression values."""
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        predictions = values.tolist()
        labels = predictions if self.classifier else None
        return Prediction({"predictions": predictions}, len(predictions), labels)


class Runtime(ABC):
    """Predicts with one loaded version; thread-safe, as requests may run at once.

    Attributes:
        name: ``"onnx"`` or ``"python"``.
        signature: the version's input signature (what requests are checked against).
        input_names: the signature's column names, in order.
    """

    name: str
    signature: Signature
    input_names: tuple[str, ...]

    @abstractmethod
    def predict(self, columns: Mapping[str, Sequence[Any]]) -> Prediction:
        """The answer for request columns ``{name: [values...]}``.

        Raises:
            InvalidInput: the columns do not match the signature, or the model refused them.
        """

    def describe(self) -> str:
        """How the runtime reads in logs and ``/ready``."""
        return self.name
