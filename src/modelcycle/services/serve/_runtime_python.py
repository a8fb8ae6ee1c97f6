"""The Python model as a runtime: numpy arrays where the model allows it, pandas where it must.

Chosen once per loaded version:

- ``array``: every input column is an integer or a float and the model is a scikit-learn
  estimator or pipeline that gives the same answer for a 2-D array in signature order as for
  the named frame. The request columns are checked without pandas (``_columns``) and go to the
  model as one float64 array. An estimator fitted on a frame remembers its column names and
  warns when given an array; it is given a shallow copy that forgot them (the fitted state is
  shared, not copied).
- ``frame``: anything else (text, categories, datetimes, a ``ColumnTransformer`` picking
  columns by name, other flavors): the columns go through ``LoadedModel``, which checks them
  with the pandas validator and feeds the model the frame it was fitted on.

The choice is proved at load time: the array form must answer a probe row exactly as the frame
form does, without a warning; otherwise the frame form is used.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._columns import ColumnPlan, is_numeric
from modelcycle.services.serve._runtime import Outputs, Prediction, Runtime

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    from modelcycle.services.packaging.loaded import LoadedModel

_NAME_BOUND_STEPS = frozenset({"ColumnTransformer", "FunctionTransformer"})


class PythonRuntime(Runtime):
    """A ``LoadedModel`` answering requests (see the module docstring for the two modes)."""

    name = "python"

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.signature = model.signature
        self.input_names = model.signature.input_names
        self._proba = model.has_predict_proba and model.classes is not None
        self._outputs = Outputs(model.classes, classifier=model.task == "classification")
        self._plan: ColumnPlan | None = None
        self._array_model: Any = None
        array_model = _array_form(model)
        if array_model is not None and _same_answers(model, array_model, self._proba):
            self._plan = ColumnPlan(model.signature)
            self._array_model = array_model

    @property
    def mode(self) -> str:
        """``"array"`` or ``"frame"``."""
        return "frame" if self._plan is None else "array"

    def describe(self) -> str:
        """``python (array)`` or ``python (frame)``."""
        return f"python ({self.mode})"

    def predict(self, columns: Mapping[str, Sequence[Any]]) -> Prediction:
        """The answer for ``columns`` (see ``Runtime.predict``)."""
        if self._plan is None:
            if self._proba:
                return self._outputs.from_proba(self.model.predict_proba(columns))
            return self._outputs.from_values(self.model.predict(columns))
        matrix = self._plan.matrix(columns, np.float64)
        method = "predict_proba" if self._proba else "predict"
        try:
            result = np.asarray(getattr(self._array_model, method)(matrix))
        except (ValueError, TypeError, KeyError, IndexError) as exc:  # as LoadedModel says it
            raise InvalidInput(
                f"the {type(self.model.raw).__name__} refused input that matches its "
                f"signature: {method} raised {type(exc).__name__}: {exc}"
            ) from exc
        if self._proba:
            return self._outputs.from_proba(result)
        return self._outputs.from_values(result)


def _array_form(model: LoadedModel) -> Any:
    """The model object to give float arrays to, or None when it needs the frame."""
    if model.flavor != "sklearn" or not is_numeric(model.signature):
        return None
    if any(c.dtype == "boolean" for c in model.signature.inputs):
        return None
    if _name_bound(model.raw):
        return None
    names = getattr(model.raw, "feature_names_in_", None)
    if names is not None and tuple(map(str, names)) != model.signature.input_names:
        return None
    return _forget_names(model.raw)


def _name_bound(estimator: Any) -> bool:
    """Whether the model or any part of it picks columns by name, or outputs frames."""
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    for part in (estimator, *params.values()):
        if type(part).__name__ in _NAME_BOUND_STEPS:
            return True
        config = getattr(part, "_sklearn_output_config", None) or {}
        if config.get("transform") not in (None, "default"):
            return True
    return False


def _forget_names(estimator: Any) -> Any:
    """A shallow copy that takes arrays: the first step no longer knows its column names."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        view = copy.copy(estimator)
        name, first = steps[0]
        view.steps = [(name, _forget_names(first)), *steps[1:]]
        return view
    if "feature_names_in_" not in getattr(estimator, "__dict__", {}):
        return estimator
    view = copy.copy(estimator)
    del view.feature_names_in_
    return view


def _same_answers(model: LoadedModel, array_model: Any, proba: bool) -> bool:
    """Whether the array form answers a probe row as the frame form does, without warning."""
    names = model.signature.input_names
    probe = np.zeros((1, len(names)), dtype=np.float64)
    method = "predict_proba" if proba else "predict"
    try:
        expected = getattr(model, method)({name: [0.0] for name in names})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = np.asarray(getattr(array_model, method)(probe))
    except Exception:  # noqa: BLE001 - any doubt keeps the frame form
        return False
    return not caught and _equal(np.asarray(expected), got)


def _equal(left: NDArray[Any], right: NDArray[Any]) -> bool:
    if left.shape != right.shape:
        return False
    if left.dtype.kind in "fc" and right.dtype.kind in "fc":
        return bool(np.array_equal(left, right, equal_nan=True))
    return bool(np.array_equal(left, right))
