"""The prediction log: every served or batch-scored prediction, in Parquet segments.

``serve`` writes it through a ``PredictionLogWriter``; ``monitor`` and feedback joins read it
with ``read_predictions`` / ``find_prediction``, so neither imports the other. The segments are
blobs in the artifact store; the metadata store holds one index row per segment (model
version, time range, id range). The loss window on a crash is documented in
``modelcycle.store.predictions.writer``.
"""

from __future__ import annotations

from modelcycle.store.predictions.reader import find_prediction, read_predictions
from modelcycle.store.predictions.writer import PredictionLogWriter

__all__ = ["PredictionLogWriter", "find_prediction", "read_predictions"]
