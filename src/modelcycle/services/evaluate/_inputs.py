"""Checking the inputs, predicting once and encoding labels into an ``Outcome``.

The model is called exactly once on the whole frame: ``predict_proba`` for a classifier that has
it (the predicted label is then the class of highest probability, which is what scikit-learn's
``predict`` returns), ``predict`` otherwise. Every later step (metrics, slices, failure cases,
plots) reuses these arrays.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core.errors import InvalidInput
from modelcycle.services.evaluate._values import scalar

if TYPE_CHECKING:
    from modelcycle.services.evaluate._model import JSONScalar

TASKS = ("classification", "regression")
LOW_CARDINALITY = 20
"""An integer target with at most this many distinct values may be a class label."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Truth and predictions as arrays: class indices for classification, floats otherwise.

    ``problem`` is ``"binary"``, ``"multiclass"`` or ``"regression"``; ``proba`` holds one column
    per class in ``classes`` order, or is ``None`` when the model has no ``predict_proba``.
    """

    problem: str
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    n_classes: int

    def take(self, rows: np.ndarray) -> Outcome:
        """The outcome of the rows at positions ``rows``."""
        proba = self.proba[rows] if self.proba is not None else None
        return Outcome(self.problem, self.y[rows], self.pred[rows], proba, self.n_classes)

    @property
    def is_classification(self) -> bool:
        """Whether the outcome holds class indices."""
        return self.problem != "regression"


@dataclass(frozen=True, slots=True)
class Prepared:
    """The checked inputs of an evaluation with the model's predictions."""

    features: pd.DataFrame
    target: pd.Series[Any]
    task: str
    classes: tuple[Any, ...] | None
    outcome: Outcome


def to_pandas(frame: Any, target: str) -> pd.DataFrame:
    """The frame as pandas, checked to be non-empty and to hold ``target``."""
    if type(frame).__module__.split(".")[0] == "polars":
        frame = frame.to_pandas()
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(
            f"frame must be a pandas or polars DataFrame, got {type(frame).__name__}"
        )
    if frame.shape[0] == 0:
        raise InvalidInput("frame has no rows; evaluate on a frame with at least one row")
    if target not in frame.columns:
        names = ", ".join(repr(str(c)) for c in list(frame.columns)[:30])
        raise InvalidInput(f"target column {target!r} is not in the frame; its columns: {names}")
    if frame.shape[1] < 2:
        raise InvalidInput(
            f"frame has only the target column {target!r}; no feature to predict from"
        )
    missing = int(frame[target].isna().sum())
    if missing:
        raise InvalidInput(
            f"target column {target!r} has {missing} missing values; drop or fill those rows "
            "before evaluating"
        )
    return frame


def _looks_categorical(y: pd.Series[Any]) -> bool:
    dtype = y.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return True
    return not pd.api.types.is_numeric_dtype(dtype)


def infer_task(model: Any, y: pd.Series[Any], task: str | None) -> str:
    """The task asked for, or the one the model and target suggest.

    Classification when the model has ``predict_proba`` or ``classes_``, or the target is
    boolean, text or categorical, or an integer with at most ``LOW_CARDINALITY`` values;
    regression otherwise.
    """
    if task is not None:
        if task not in TASKS:
            raise InvalidInput(f"task must be one of {TASKS}, got {task!r}")
        return task
    if callable(getattr(model, "predict_proba", None)) or hasattr(model, "classes_"):
        return "classification"
    if _looks_categorical(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y.dtype) and y.nunique() <= LOW_CARDINALITY:
        return "classification"
    return "regression"


def _encode(values: np.ndarray, classes: tuple[Any, ...], what: str) -> np.ndarray:
    index = pd.Index(list(classes))
    codes = np.asarray(index.get_indexer(values), dtype=np.int64)
    if (codes < 0).any():
        unknown = pd.unique(values[codes < 0])[:5]
        raise InvalidInput(
            f"{what} holds labels that are not among the classes {list(classes)[:20]}: "
            f"{[scalar(v) for v in unknown]}; pass classes= in the order of predict_proba's columns"
        )
    return codes


def _classes(model: Any, y: np.ndarray, classes: Any, extra: np.ndarray | None) -> tuple[Any, ...]:
    if classes is not None:
        out = tuple(classes)
    elif hasattr(model, "classes_"):
        out = tuple(np.asarray(model.classes_).tolist())
    else:
        values = y if extra is None else np.concatenate([y, extra])
        out = tuple(pd.unique(values).tolist())
        with contextlib.suppress(TypeError):  # mixed types keep their first-seen order
            out = tuple(sorted(out))
    if len(set(out)) != len(out):
        raise InvalidInput(f"classes must be distinct, got {list(out)[:20]}")
    if len(out) < 2:
        raise InvalidInput(f"classification needs at least two classes, got {list(out)}")
    return out


def _predict_classes(model: Any, x: pd.DataFrame, target: pd.Series[Any], classes: Any) -> Prepared:
    y = target.to_numpy()
    n = len(y)
    if callable(getattr(model, "predict_proba", None)):
        proba = np.asarray(model.predict_proba(x), dtype=np.float64)
        cls = _classes(model, y, classes, None)
        if proba.shape != (n, len(cls)):
            raise InvalidInput(
                f"predict_proba returned shape {proba.shape}, expected ({n}, {len(cls)}) for "
                f"classes {list(cls)[:20]}"
            )
        pred = np.argmax(proba, axis=1).astype(np.int64)
    else:
        raw = np.asarray(model.predict(x)).ravel()
        if raw.shape[0] != n:
            raise InvalidInput(f"predict returned {raw.shape[0]} values for {n} rows")
        cls = _classes(model, y, classes, raw)
        pred = _encode(raw, cls, "the model's predictions")
        proba = None
    codes = _encode(y, cls, "the target")
    problem = "binary" if len(cls) == 2 else "multiclass"
    outcome = Outcome(problem, codes, pred, proba, len(cls))
    return Prepared(x, target, "classification", cls, outcome)


def _predict_values(model: Any, x: pd.DataFrame, target: pd.Series[Any]) -> Prepared:
    if not pd.api.types.is_numeric_dtype(target.dtype) or pd.api.types.is_bool_dtype(target.dtype):
        raise InvalidInput(
            f"regression needs a numeric target; {target.name!r} has dtype {target.dtype}; "
            "pass task='classification' for labels"
        )
    y = target.to_numpy(dtype=np.float64)
    pred = np.asarray(model.predict(x), dtype=np.float64).ravel()
    if pred.shape[0] != len(y):
        raise InvalidInput(f"predict returned {pred.shape[0]} values for {len(y)} rows")
    bad = int((~np.isfinite(pred)).sum())
    if bad:
        raise InvalidInput(f"the model returned {bad} predictions that are NaN or infinite")
    return Prepared(x, target, "regression", None, Outcome("regression", y, pred, None, 0))


def prepare(model: Any, frame: Any, target: str, *, task: str | None, classes: Any) -> Prepared:
    """Check the inputs, predict once and encode everything into arrays.

    Raises:
        InvalidInput: the frame is not a DataFrame, is empty, lacks the target, the target has
            missing values, the model's output does not match the classes or the rows.
    """
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"model must have a predict method; got {type(model).__name__}")
    df = to_pandas(frame, target)
    x = df.drop(columns=[target])
    y = df[target]
    chosen = infer_task(model, y, task)
    if chosen == "regression":
        return _predict_values(model, x, y)
    return _predict_classes(model, x, y, classes)


def labels(classes: tuple[Any, ...] | None) -> tuple[JSONScalar, ...] | None:
    """The classes as JSON scalars."""
    return tuple(scalar(c) for c in classes) if classes is not None else None
