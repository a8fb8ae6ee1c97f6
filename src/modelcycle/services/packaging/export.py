"""Model export to ONNX, PMML or pickle, each checked for parity: the one entry point.

A library with no store access: the caller reads the model and its bytes from the store, calls
``export_model``, stores ``result.to_dict()`` beside the model version, and writes
``result.data`` where the user asked (``result.write(path)`` is atomic). Nothing is written
when an export fails.

Formats (details in each module):

- ``onnx`` (``export_onnx``): scikit-learn estimators and pipelines, LightGBM and XGBoost;
  checked in ONNX Runtime.
- ``pmml`` (``export_pmml``): what sklearn2pmml converts; needs Java 11+; checked with
  jpmml-evaluator.
- ``pickle`` (``export_pickle``): the stored bytes themselves, verified against their recorded
  digest; ``data`` and ``digest`` must be given.

Parity failures are returned (``result.parity.passed`` is ``False``), not raised: whether an
unfaithful export is acceptable is the caller's decision. Errors raised are for exports that
cannot be made at all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._export_parity import (
    MAX_PARITY_ROWS,
    PROBA_ATOL,
    REGRESSION_RTOL,
    Parity,
)
from modelcycle.services.packaging._export_result import ExportResult

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from modelcycle.core.entities.model import Signature

__all__ = [
    "MAX_PARITY_ROWS",
    "PROBA_ATOL",
    "REGRESSION_RTOL",
    "ExportFormat",
    "ExportResult",
    "Parity",
    "export_model",
]


class ExportFormat(StrEnum):
    """The formats a model can be exported to."""

    ONNX = "onnx"
    PMML = "pmml"
    PICKLE = "pickle"


def export_model(
    model: Any,
    format: str,
    *,
    signature: Signature,
    example: pd.DataFrame | NDArray[Any],
    tolerance: float | None = None,
    data: bytes | None = None,
    digest: str | None = None,
) -> ExportResult:
    """Export a fitted model and check the export for parity.

    Args:
        model: the fitted estimator or pipeline (scikit-learn, LightGBM, XGBoost).
        format: ``"onnx"``, ``"pmml"`` or ``"pickle"``.
        signature: the model's input signature.
        example: rows in the signature's layout to check parity on (at most
            ``MAX_PARITY_ROWS`` are used).
        tolerance: overrides the default parity tolerance (``PROBA_ATOL`` absolute on
            probabilities for classifiers, ``REGRESSION_RTOL`` relative for regressors).
        data: for ``pickle``, the stored model bytes.
        digest: for ``pickle``, their recorded sha256.

    Returns:
        The exported bytes with their parity.

    Raises:
        InvalidInput: an unknown format, a step the format cannot express (named), an example
            that does not fit the signature, or ``pickle`` without ``data`` and ``digest``.
        IntegrityError: ``pickle`` bytes that do not match ``digest``.
        MissingDependency: the format's extra (``onnx`` or ``pmml``) or Java is missing.
    """
    try:
        chosen = ExportFormat(format)
    except ValueError:
        known = ", ".join(repr(f.value) for f in ExportFormat)
        raise InvalidInput(f"unknown export format {format!r}; use one of {known}") from None
    if chosen is ExportFormat.ONNX:
        from modelcycle.services.packaging.export_onnx import export_onnx

        return export_onnx(model, signature=signature, example=example, tolerance=tolerance)
    if chosen is ExportFormat.PMML:
        from modelcycle.services.packaging.export_pmml import export_pmml

        return export_pmml(model, signature=signature, example=example, tolerance=tolerance)
    if data is None or digest is None:
        msg = "a pickle export returns the stored model bytes: pass data= and digest="
        raise InvalidInput(msg)
    from modelcycle.services.packaging.export_pickle import export_pickle

    return export_pickle(data, digest)
