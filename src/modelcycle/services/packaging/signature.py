"""Signatures: what a model takes and returns, inferred from an input example.

A named example (pandas or polars DataFrame, dict of columns, list of row dicts) gives a
``FRAME`` signature: one ``ColumnSpec`` per column, typed by family (integer, float, boolean,
string, datetime, category) and nullable when the example has missing values there. An unnamed
example (2-D numpy array, list of rows) gives an ``ARRAY`` signature with columns ``"0"``,
``"1"``, ... Outputs come from running the model on the example: ``prediction`` (or
``prediction_0``, ... for several outputs) and, for a classifier with ``predict_proba``, one
``proba_<class>`` column per class.

``validate_input`` (re-exported here) checks later input against a signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core.entities.model import ColumnSpec, InputKind, Signature
from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._dtypes import (
    numpy_family,
    pandas_family,
    polars_family,
)
from modelcycle.services.packaging._inputs import (
    is_named,
    is_polars_frame,
    named_frame,
    unnamed_array,
)
from modelcycle.services.packaging._validate import validate_input
from modelcycle.services.packaging.flavors import flavor_for

if TYPE_CHECKING:
    from modelcycle.services.packaging._flavor_protocol import Flavor

__all__ = ["infer_signature", "model_outputs", "validate_input"]


def infer_signature(
    input_example: object, model: object | None = None, *, flavor: Flavor | None = None
) -> Signature:
    """The signature of ``model`` for input shaped like ``input_example``.

    Args:
        input_example: a few rows of what the model takes (see the module docstring).
        model: the fitted model; when given, it is run on the example to type the outputs.
        flavor: the model's flavor (found from the model when not given).

    Raises:
        InvalidInput: the example is empty, has a column of no supported type, or the model
            fails on it (the message names the error).
    """
    data: pd.DataFrame | np.ndarray[Any, Any]
    if is_named(input_example):
        inputs, data = _frame_inputs(input_example)
        kind = InputKind.FRAME
    else:
        data = unnamed_array(input_example)
        inputs = _array_inputs(data)
        kind = InputKind.ARRAY
    if len(data) == 0:
        raise InvalidInput("the input example has no rows; pass a few rows of training data")
    if not inputs:
        raise InvalidInput("the input example has no columns")
    outputs: tuple[ColumnSpec, ...] = ()
    if model is not None:
        outputs = model_outputs(model, data, flavor or flavor_for(model))
    return Signature(inputs=inputs, outputs=outputs, kind=kind)


def _frame_inputs(example: object) -> tuple[tuple[ColumnSpec, ...], pd.DataFrame]:
    if is_polars_frame(example):
        names = [str(c) for c in example.columns]  # type: ignore[attr-defined]
        families = [polars_family(t) for t in example.dtypes]  # type: ignore[attr-defined]
        counts: tuple[int, ...] = example.null_count().row(0)  # type: ignore[attr-defined]
        nulls = [n > 0 for n in counts]
        frame = named_frame(example)
    else:
        frame = named_frame(example)
        names = list(frame.columns)
        families = [pandas_family(frame[c]) for c in names]
        nulls = [bool(v) for v in frame.isna().any().to_numpy()]
    _refuse_untyped(names, families, [frame[c].dtype for c in names])
    specs = tuple(
        ColumnSpec(name=n, dtype=str(f), nullable=bool(null))
        for n, f, null in zip(names, families, nulls, strict=True)
    )
    return specs, frame


def _array_inputs(array: np.ndarray[Any, Any]) -> tuple[ColumnSpec, ...]:
    names = [str(i) for i in range(array.shape[1])]
    family = numpy_family(array.dtype)
    if family is not None:
        families: list[str | None] = [family] * len(names)
        dtypes: list[object] = [array.dtype] * len(names)
    else:
        columns = [pd.Series(array[:, i]) for i in range(array.shape[1])]
        families = [pandas_family(c) for c in columns]
        dtypes = [c.dtype for c in columns]
    _refuse_untyped(names, families, dtypes)
    if array.dtype.kind in "fcOM":
        missing: np.ndarray[Any, Any] = np.asarray(pd.isna(array), dtype=bool)
        nulls = [bool(missing[:, i].any()) for i in range(missing.shape[1])]
    else:
        nulls = [False] * len(names)
    return tuple(
        ColumnSpec(name=n, dtype=str(f), nullable=bool(null))
        for n, f, null in zip(names, families, nulls, strict=True)
    )


def _refuse_untyped(names: list[str], families: list[str | None], dtypes: list[object]) -> None:
    bad = [f"{n} ({t})" for n, f, t in zip(names, families, dtypes, strict=True) if f is None]
    if bad:
        raise InvalidInput(
            f"input example columns of no supported type: {', '.join(bad)}; each column must "
            "hold integers, floats, booleans, strings, datetimes or categories, not a mix"
        )


def model_outputs(model: object, data: Any, flavor: Flavor) -> tuple[ColumnSpec, ...]:
    """Output columns of ``model`` on validated ``data``: predictions, then class probabilities.

    Raises:
        InvalidInput: ``predict`` or ``predict_proba`` fails on the data or returns the wrong
            number of rows.
    """
    fed = flavor.feed(model, data)
    predictions = np.asarray(_run(model, "predict", fed))
    _check_rows(predictions, len(data), "predict")
    name = type(model).__name__
    if predictions.ndim == 1:
        specs = [_output_spec("prediction", predictions, name)]
    else:
        flat = predictions.reshape(len(predictions), -1)
        specs = [_output_spec(f"prediction_{i}", flat[:, i], name) for i in range(flat.shape[1])]
    if callable(getattr(model, "predict_proba", None)):
        proba = np.asarray(_run(model, "predict_proba", fed))
        _check_rows(proba, len(data), "predict_proba")
        classes = flavor.classes_of(model)
        width = proba.shape[1] if proba.ndim == 2 else 1
        labels = list(classes) if classes is not None and len(classes) == width else range(width)
        specs.extend(ColumnSpec(f"proba_{label}", "float") for label in labels)
    return tuple(specs)


def _run(model: object, method: str, data: Any) -> Any:
    try:
        return getattr(model, method)(data)
    except Exception as exc:
        raise InvalidInput(
            f"the input example does not fit the {type(model).__name__}: {method} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _check_rows(values: np.ndarray[Any, Any], rows: int, method: str) -> None:
    if values.ndim == 0 or len(values) != rows:
        raise InvalidInput(
            f"{method} returned {values.size if values.ndim else 1} values for {rows} input "
            "rows; a model must return one prediction per row"
        )


def _output_spec(name: str, values: np.ndarray[Any, Any], model_name: str) -> ColumnSpec:
    family = pandas_family(pd.Series(values))
    if family is None:
        raise InvalidInput(f"{model_name}.predict returns values of no supported type")
    return ColumnSpec(name, family, nullable=bool(pd.isna(values).any()))
