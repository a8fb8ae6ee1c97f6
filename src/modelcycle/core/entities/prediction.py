"""Predictions: one logged call of a served or batch-scored model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

PredictionSource = Literal["http", "batch"]
"""Where a prediction was made: an HTTP endpoint or a batch scoring job."""


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One prediction, as the prediction log stores it.

    Attributes:
        id: 32-hex time-ordered id (``modelcycle.core.ids.new_id()``), returned to the caller
            so that feedback can be joined to it later.
        at: When the prediction was made, in epoch milliseconds.
        model_version_id: The model version that answered.
        latency_ms: Time spent predicting, in milliseconds.
        inputs: The input features, JSON-encodable.
        outputs: What the model returned, JSON-encodable.
        source: ``"http"`` or ``"batch"``.
    """

    id: str
    at: int
    model_version_id: str
    latency_ms: float
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    source: PredictionSource = "http"
