"""What every export needs from the model: its steps by name, its rows, its own answers.

Steps are walked through ``Pipeline`` steps, ``ColumnTransformer`` transformers and
``FeatureUnion`` members, so an error can name ``step 'prep' > 'num' (StandardScaler)`` rather
than the whole pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core.entities.model import InputKind
from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._export_parity import MAX_PARITY_ROWS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature


@dataclass(frozen=True, slots=True)
class Step:
    """One leaf estimator or transformer of a model, with its path of step names."""

    path: tuple[str, ...]
    obj: object

    def describe(self) -> str:
        """``step 'prep' > 'num' (StandardScaler)``, or ``the model (SVC)`` at the top."""
        kind = type(self.obj).__name__
        if not self.path:
            return f"the model ({kind})"
        names = " > ".join(repr(name) for name in self.path)
        return f"step {names} ({kind})"


def _children(obj: object) -> list[tuple[str, object]] | None:
    """Named children of a composite estimator, or ``None`` for a leaf."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(obj, Pipeline):
        return [(name, step) for name, step in obj.steps]
    if isinstance(obj, ColumnTransformer):
        fitted = getattr(obj, "transformers_", obj.transformers)
        return [(name, trans) for name, trans, _columns in fitted]
    if isinstance(obj, FeatureUnion):
        return [(name, trans) for name, trans in obj.transformer_list]
    return None


def iter_steps(model: object, path: tuple[str, ...] = ()) -> Iterator[Step]:
    """Every leaf of ``model`` in order (``"passthrough"`` and ``"drop"`` skipped)."""
    children = _children(model)
    if children is None:
        yield Step(path, model)
        return
    for name, child in children:
        if child is None or isinstance(child, str):
            continue
        yield from iter_steps(child, (*path, name))


def has_column_transformer(model: object) -> bool:
    """Whether a ``ColumnTransformer`` sits anywhere in ``model``."""
    from sklearn.compose import ColumnTransformer

    if isinstance(model, ColumnTransformer):
        return True
    children = _children(model) or []
    return any(has_column_transformer(child) for _name, child in children)


def final_estimator(model: object) -> object:
    """The last step of a (nested) pipeline, or the model itself."""
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def culprit(model: object, message: str) -> Step:
    """The step a converter's ``message`` is about: the first whose class it names.

    Falls back to the final estimator when the message names no step's class.
    """
    steps = list(iter_steps(model))
    for step in steps:
        if re.search(rf"\b{re.escape(type(step.obj).__name__)}\b", message):
            return step
    return steps[-1] if steps else Step((), model)


def is_classifier(model: object) -> bool:
    """Whether ``model`` (or its final step) is a classifier, by scikit-learn's own test."""
    from sklearn.base import is_classifier as sk_is_classifier

    return bool(sk_is_classifier(model) or sk_is_classifier(final_estimator(model)))


def example_rows(signature: Signature, example: object) -> pd.DataFrame | NDArray[Any]:
    """The example in the signature's layout, cut to ``MAX_PARITY_ROWS`` rows.

    Raises:
        InvalidInput: no rows, or columns that do not match the signature.
    """
    names = list(signature.input_names)
    if signature.kind is InputKind.ARRAY:
        array = np.asarray(example)
        if array.ndim != 2 or array.shape[1] != len(names):
            msg = f"the example has shape {array.shape}; the signature takes {len(names)} columns"
            raise InvalidInput(msg)
        rows: pd.DataFrame | NDArray[Any] = array[:MAX_PARITY_ROWS]
    elif isinstance(example, pd.DataFrame):
        missing = [name for name in names if name not in example.columns]
        if missing:
            msg = f"the example lacks the signature's columns {missing}; it has {list(example)}"
            raise InvalidInput(msg)
        rows = example.loc[:, names].iloc[:MAX_PARITY_ROWS]
    else:
        array = np.asarray(example)
        if array.ndim != 2 or array.shape[1] != len(names):
            msg = f"the example has shape {array.shape}; the signature takes columns {names}"
            raise InvalidInput(msg)
        rows = pd.DataFrame(array[:MAX_PARITY_ROWS], columns=names)
    if len(rows) == 0:
        raise InvalidInput("the example has no rows: parity needs at least one")
    return rows


def as_frame(signature: Signature, rows: pd.DataFrame | NDArray[Any]) -> pd.DataFrame:
    """Rows as a frame named by the signature (for runtimes that take named fields)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame(rows, columns=list(signature.input_names))


@dataclass(frozen=True, slots=True)
class NativeAnswers:
    """The original model's predictions (and probabilities, for a classifier) on the rows."""

    predictions: NDArray[Any]
    proba: NDArray[Any] | None


def native_answers(
    model: Any, rows: pd.DataFrame | NDArray[Any], classifier: bool
) -> NativeAnswers:
    """Run the original model on ``rows``."""
    predictions = np.asarray(model.predict(rows))
    proba = None
    if classifier and hasattr(model, "predict_proba"):
        try:
            proba = np.asarray(model.predict_proba(rows))
        except AttributeError:  # e.g. SVC(probability=False): the attribute exists but refuses
            proba = None
    return NativeAnswers(predictions, proba)
