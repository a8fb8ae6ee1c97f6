"""Export to PMML through sklearn2pmml, checked with jpmml-evaluator.

Supported: what the JPMML-SkLearn converter bundled with sklearn2pmml expresses: scikit-learn
linear models, trees, forests and gradient boosting, common preprocessing (scalers, encoders,
imputers, ``ColumnTransformer``, feature selection), and LightGBM and XGBoost estimators. The
fitted model is wrapped with ``make_pmml_pipeline`` (active fields = the signature's inputs,
target field ``y``, or ``target`` when an input is already called ``y``); the caller's model is
never changed: a deep copy is wrapped.

Conversion and evaluation both need a Java 11+ runtime (see ``_export_jvm`` for how Java is
found, which JVM bridge evaluates, and the scikit-learn version the conversion declares). Files
exist only in a temporary folder removed before returning.

Parity evaluates the PMML with ``evaluateAll`` on the example rows and compares it with the
original model by the rules of ``_export_parity``. PMML evaluates in double precision, so
differences are usually below 1e-12.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.packaging._export_jvm import (
    check_java,
    convert,
    declared_sklearn_version,
    evaluator_backend,
)
from modelcycle.services.packaging._export_parity import compare_classifier, compare_regressor
from modelcycle.services.packaging._export_result import ExportResult
from modelcycle.services.packaging._export_steps import (
    as_frame,
    example_rows,
    is_classifier,
    native_answers,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature
    from modelcycle.services.packaging._export_parity import Parity

PMML_MEDIA_TYPE = "application/xml"
_PROBABILITY_PREFIX = "probability("


def export_pmml(
    model: Any,
    *,
    signature: Signature,
    example: pd.DataFrame | NDArray[Any],
    tolerance: float | None = None,
) -> ExportResult:
    """Convert a fitted model to PMML and check it against the model on ``example``.

    Args:
        model: the fitted estimator or pipeline (left untouched).
        signature: the model's input signature; its names become the PMML fields.
        example: rows in the signature's layout (the input example or evaluation data).
        tolerance: overrides the default parity tolerance (``PROBA_ATOL`` for classifiers,
            ``REGRESSION_RTOL`` for regressors).

    Returns:
        The PMML bytes with their parity; a failed parity is returned, not raised.

    Raises:
        InvalidInput: PMML cannot express a step (named, with the converter's message), or
            the example does not fit the signature.
        MissingDependency: sklearn2pmml, jpmml-evaluator or a JVM bridge is not installed, or
            no Java 11+ runtime is found (``JavaRuntimeMissing``).
    """
    try:
        import jpmml_evaluator
        import sklearn2pmml
    except ImportError as exc:
        raise MissingDependency(exc.name or "sklearn2pmml", "pmml") from exc
    rows = example_rows(signature, example)
    java = check_java()
    backend = evaluator_backend()
    target = "target" if "y" in signature.input_names else "y"
    pipeline = sklearn2pmml.make_pmml_pipeline(
        copy.deepcopy(model), active_fields=list(signature.input_names), target_fields=[target]
    )
    escape = getattr(sklearn2pmml, "_escape", None)  # what sklearn2pmml applies to objects
    if escape is not None:
        pipeline = escape(pipeline, escape_func=escape)
    with tempfile.TemporaryDirectory(prefix="mc-pmml-") as folder:
        data = convert(pipeline, model, Path(folder))
    try:
        evaluator = jpmml_evaluator.make_evaluator(data, backend=backend).verify()
        results = evaluator.evaluateAll(as_frame(signature, rows))
    except Exception as exc:
        msg = f"jpmml-evaluator could not evaluate the converted model: {exc}"
        raise InvalidInput(msg) from exc
    checked_with = f"jpmml-evaluator {jpmml_evaluator.__version__} ({backend})"
    parity = _parity(model, rows, results, target, tolerance, checked_with)
    details = {
        "converter": f"sklearn2pmml {sklearn2pmml.__version__}",
        "java": java,
        "target_field": target,
        "declared_sklearn_version": declared_sklearn_version(),
    }
    return ExportResult("pmml", data, parity, PMML_MEDIA_TYPE, ".pmml", details)


def _parity(
    model: Any,
    rows: Any,
    results: pd.DataFrame,
    target: str,
    tolerance: float | None,
    checked_with: str,
) -> Parity:
    classifier = is_classifier(model)
    native = native_answers(model, rows, classifier)
    predicted = results[target].to_numpy()
    if not classifier:
        return compare_regressor(
            original=native.predictions,
            exported=predicted,
            tolerance=tolerance,
            checked_with=checked_with,
        )
    columns = [c for c in results.columns if str(c).startswith(_PROBABILITY_PREFIX)]
    proba = None
    if native.proba is not None:
        if len(columns) != native.proba.shape[1]:
            msg = (
                f"the PMML gives probability columns {columns} for {native.proba.shape[1]} classes"
            )
            raise InvalidInput(msg)
        proba = (native.proba, results[columns].to_numpy(dtype=np.float64))
    return compare_classifier(
        labels=(native.predictions, predicted),
        proba=proba,
        tolerance=tolerance,
        checked_with=checked_with,
    )
