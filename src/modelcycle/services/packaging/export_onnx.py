"""Export to ONNX via skl2onnx (onnxmltools for LightGBM, XGBoost), checked in ONNX Runtime.

Supported: scikit-learn estimators and pipelines skl2onnx converts (linear models, trees and
ensembles, scalers, encoders, ``ColumnTransformer``, ``FeatureUnion``, ...), and
``LGBMClassifier`` / ``LGBMRegressor`` / ``XGBClassifier`` / ``XGBRegressor`` alone or as a
pipeline's final step. How inputs are laid out is described in ``_export_onnx_inputs``; the
layout is recorded in ``ExportResult.details["inputs"]``.

Classifiers are converted without ZipMap, so the graph's outputs are ``label`` and
``probabilities`` (a float tensor in ``classes_`` order). Target opsets: the newest skl2onnx
supports for the main domain, 3 for ``ai.onnx.ml`` (the newest onnxmltools' tree converters
accept).

Parity runs the export in ONNX Runtime on the example rows and compares it with the original
model (see ``_export_parity``). Inference is float32, so differences near 1e-7 are normal; tree
models after float preprocessing can also send a row down another branch when a value rounds
across a threshold, which parity reports as a failure rather than hiding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.packaging._export_onnx_inputs import (
    feeds,
    initial_types,
    plan_inputs,
    register_tree_converters,
    without_xgboost_feature_names,
)
from modelcycle.services.packaging._export_parity import compare_classifier, compare_regressor
from modelcycle.services.packaging._export_result import ExportResult
from modelcycle.services.packaging._export_steps import (
    culprit,
    example_rows,
    final_estimator,
    is_classifier,
    native_answers,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._export_parity import Parity

ONNX_MEDIA_TYPE = "application/onnx"
ML_OPSET = 3
_MESSAGE_LIMIT = 600


def export_onnx(
    model: Any,
    *,
    signature: Signature,
    example: pd.DataFrame | NDArray[Any],
    tolerance: float | None = None,
) -> ExportResult:
    """Convert a fitted model to ONNX and check it against the model on ``example``.

    Args:
        model: the fitted estimator or pipeline (left untouched).
        signature: the model's input signature; decides the graph inputs.
        example: rows in the signature's layout (the input example or evaluation data).
        tolerance: overrides the default parity tolerance (``PROBA_ATOL`` for classifiers,
            ``REGRESSION_RTOL`` for regressors).

    Returns:
        The ONNX bytes with their parity; a failed parity is returned, not raised.

    Raises:
        InvalidInput: ONNX cannot express a step (named, with the converter's message), a
            column type has no ONNX input, or the example does not fit the signature.
        MissingDependency: skl2onnx, onnxmltools or onnxruntime is not installed.
    """
    try:
        import onnxruntime
        import skl2onnx
    except ImportError as exc:
        raise MissingDependency(exc.name or "skl2onnx", "onnx") from exc
    rows = example_rows(signature, example)
    layout, inputs = plan_inputs(signature, model)
    register_tree_converters(model)
    classifier = is_classifier(model)
    data = _convert(model, initial_types(inputs), classifier=classifier)
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        outputs = session.run(None, feeds(layout, inputs, rows))
    except Exception as exc:
        msg = f"ONNX Runtime could not run the converted model: {_short(exc)}"
        raise InvalidInput(msg) from exc
    parity = _parity(model, rows, outputs, classifier, tolerance, onnxruntime.__version__)
    details = {
        "layout": layout,
        "inputs": [item.to_dict() for item in inputs],
        "outputs": [output.name for output in session.get_outputs()],
        "converter": f"skl2onnx {skl2onnx.__version__}",
    }
    return ExportResult("onnx", data, parity, ONNX_MEDIA_TYPE, ".onnx", details)


def _convert(model: Any, types: list[tuple[str, Any]], *, classifier: bool) -> bytes:
    from skl2onnx import __max_supported_opset__, convert_sklearn

    convertible = without_xgboost_feature_names(model)
    options = {id(final_estimator(convertible)): {"zipmap": False}} if classifier else None
    try:
        onx = convert_sklearn(
            convertible,
            initial_types=types,
            options=options,
            target_opset={"": __max_supported_opset__, "ai.onnx.ml": ML_OPSET},
        )
    except Exception as exc:
        message = _short(exc)
        step = culprit(model, message)
        msg = f"ONNX cannot express {step.describe()}: {message}"
        raise InvalidInput(msg) from exc
    data: bytes = onx.SerializeToString()
    return data


def _parity(
    model: Any,
    rows: Any,
    outputs: list[Any],
    classifier: bool,
    tolerance: float | None,
    runtime_version: str,
) -> Parity:
    native = native_answers(model, rows, classifier)
    checked_with = f"onnxruntime {runtime_version}"
    if not classifier:
        return compare_regressor(
            original=native.predictions,
            exported=outputs[0],
            tolerance=tolerance,
            checked_with=checked_with,
        )
    proba = None
    if native.proba is not None and len(outputs) > 1:
        proba = (native.proba, np.asarray(outputs[1]))
    return compare_classifier(
        labels=(native.predictions, np.asarray(outputs[0])),
        proba=proba,
        tolerance=tolerance,
        checked_with=checked_with,
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."
