"""Model evaluation: metrics, plots, slices, failure cases and explanations, with a report.

``evaluate_model(model, frame, target)`` predicts once on the whole frame and returns an
``Evaluation``; ``Evaluation.to_html(path)`` writes a self-contained report that works offline
(plotly.js inline), ``Evaluation.to_json()`` its JSON form, and ``Evaluation.from_dict`` reloads
a stored one. This package touches no store: the caller loads the model and the data and logs
the results.
"""

from __future__ import annotations

from modelcycle.services.evaluate._engine import evaluate_model
from modelcycle.services.evaluate._model import (
    Contribution,
    Evaluation,
    FeatureImportance,
    LocalExplanation,
    SliceResult,
)
from modelcycle.services.evaluate._slices import MAX_DROP, MAX_RISE, MIN_SLICE_ROWS

__all__ = [
    "MAX_DROP",
    "MAX_RISE",
    "MIN_SLICE_ROWS",
    "Contribution",
    "Evaluation",
    "FeatureImportance",
    "LocalExplanation",
    "SliceResult",
    "evaluate_model",
]
