"""ONNX graph inputs from a signature, the feeds that fill them, and the tree-library converters.

Two layouts, chosen from the signature and the model:

- ``tensor``: one float input ``input`` of shape ``[None, n]``. Used for ``ARRAY`` signatures
  and for frames whose columns are all numeric (integer, float, boolean) when the model has no
  ``ColumnTransformer``. Values are fed as float32.
- ``columns``: one input per column, named like the column, of shape ``[None, 1]``: float32 for
  float and boolean columns, int64 for integer columns, string for string and category columns.
  Used for frames with text columns, and whenever a ``ColumnTransformer`` selects columns by
  name. Missing text is fed as the empty string.

Datetime columns have no ONNX input type: the model must take derived numbers instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from modelcycle.core.entities.model import InputKind
from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.packaging._export_steps import has_column_transformer, iter_steps

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature

TENSOR_INPUT = "input"
_NUMERIC = frozenset({"integer", "float", "boolean"})
_TEXT = frozenset({"string", "category"})
_ONNX_TYPE = {"float": "float", "boolean": "float", "integer": "int64"}
_ONNX_TYPE.update(dict.fromkeys(_TEXT, "string"))


@dataclass(frozen=True, slots=True)
class OnnxInput:
    """One graph input: its name, element type (``float``, ``int64``, ``string``) and width."""

    name: str
    element_type: str
    width: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the shape a runtime must feed."""
        return {"name": self.name, "type": self.element_type, "shape": [None, self.width]}


def plan_inputs(signature: Signature, model: object) -> tuple[str, tuple[OnnxInput, ...]]:
    """The layout (``tensor`` or ``columns``) and graph inputs for ``model`` and ``signature``.

    Raises:
        InvalidInput: a column type ONNX cannot take, or text in an array signature.
    """
    for column in signature.inputs:
        if column.dtype not in _ONNX_TYPE:
            msg = (
                f"column {column.name!r} has type {column.dtype!r}, which ONNX cannot take as an "
                "input; give the model numeric features derived from it instead"
            )
            raise InvalidInput(msg)
    numeric = all(column.dtype in _NUMERIC for column in signature.inputs)
    if signature.kind is InputKind.ARRAY:
        if not numeric:
            raise InvalidInput("an ARRAY signature must be numeric to export to ONNX")
        return "tensor", (OnnxInput(TENSOR_INPUT, "float", len(signature.inputs)),)
    if numeric and not has_column_transformer(model):
        return "tensor", (OnnxInput(TENSOR_INPUT, "float", len(signature.inputs)),)
    columns = tuple(OnnxInput(c.name, _ONNX_TYPE[c.dtype], 1) for c in signature.inputs)
    return "columns", columns


def initial_types(inputs: tuple[OnnxInput, ...]) -> list[tuple[str, Any]]:
    """skl2onnx's ``initial_types`` for the planned inputs."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    kinds = {"float": FloatTensorType, "int64": Int64TensorType, "string": StringTensorType}
    return [(item.name, kinds[item.element_type]([None, item.width])) for item in inputs]


def feeds(
    layout: str, inputs: tuple[OnnxInput, ...], rows: pd.DataFrame | NDArray[Any]
) -> dict[str, NDArray[Any]]:
    """The arrays to feed ONNX Runtime for ``rows`` in the signature's layout."""
    if layout == "tensor":
        if isinstance(rows, pd.DataFrame):
            return {TENSOR_INPUT: rows.to_numpy(dtype=np.float32, na_value=np.nan)}
        return {TENSOR_INPUT: np.asarray(rows, dtype=np.float32)}
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    result: dict[str, NDArray[Any]] = {}
    for item in inputs:
        column = frame[item.name]
        if item.element_type == "string":
            values = column.astype(object).where(column.notna(), "").astype(str)
            result[item.name] = values.to_numpy(dtype=object).reshape(-1, 1)
        elif item.element_type == "int64":
            result[item.name] = column.to_numpy(dtype=np.int64).reshape(-1, 1)
        else:
            result[item.name] = column.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
    return result


_registered: set[str] = set()
_register_lock = threading.Lock()


def _library_of(obj: object) -> str:
    return type(obj).__module__.split(".", 1)[0]


def register_tree_converters(model: object) -> None:
    """Teach skl2onnx the LightGBM and XGBoost estimators found in ``model`` (once each).

    Raises:
        MissingDependency: onnxmltools is not installed.
    """
    libraries = {_library_of(step.obj) for step in iter_steps(model)} & {"lightgbm", "xgboost"}
    with _register_lock:
        for library in sorted(libraries - _registered):
            try:
                if library == "lightgbm":
                    _register_lightgbm()
                else:
                    _register_xgboost()
            except ImportError as exc:
                raise MissingDependency("onnxmltools", "onnx") from exc
            _registered.add(library)


_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def _register_lightgbm() -> None:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )


def _register_xgboost() -> None:
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        XGBRegressor,
        "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )


def without_xgboost_feature_names(model: object) -> object:
    """``model``, or a copy whose XGBoost boosters forget their feature names.

    onnxmltools reads split features as ``f0, f1, ...``; a booster trained on a frame names them
    after the columns instead. The copy keeps the caller's model untouched.
    """
    import copy

    def named(obj: Any) -> bool:
        if _library_of(obj) != "xgboost" or not hasattr(obj, "get_booster"):
            return False
        return obj.get_booster().feature_names is not None

    if not any(named(step.obj) for step in iter_steps(model)):
        return model
    clone = copy.deepcopy(model)
    for step in iter_steps(clone):
        if named(step.obj):
            cast("Any", step.obj).get_booster().feature_names = None
    return clone
