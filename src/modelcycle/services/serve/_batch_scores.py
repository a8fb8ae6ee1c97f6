"""The scores' columns of a chunk: prediction ids, the prediction, one column per class probability.

``score_columns`` builds them as an Arrow table; ``encoded_scores`` as the bytes of a Parquet
file of one row group, which is how a worker hands a whole input row group's scores back for
the output file to splice in (``_batch_output.SplicedParquet.write_encoded``). Both give the
same columns, so the output is the same wherever the scores were put together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._batch_output import encode_scores

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

ID_COLUMN = "prediction_id"
PREDICTION_COLUMN = "prediction"
PROBA_PREFIX = "proba_"
PLAIN_COLUMNS = (ID_COLUMN,)
"""Columns written without dictionary encoding (every id is unique)."""


def score_columns(
    ids: pa.StringArray,
    predictions: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    proba_names: Sequence[str],
) -> pa.Table:
    """The scores of a chunk as a table: ids, prediction, then ``proba_names`` in order.

    Raises:
        InvalidInput: the model gave more than one prediction per row.
    """
    if predictions.ndim != 1:
        raise InvalidInput(
            f"the model returned predictions of shape {predictions.shape}; batch scoring takes "
            "one prediction per row"
        )
    columns: dict[str, Any] = {ID_COLUMN: ids, PREDICTION_COLUMN: pa.array(predictions)}
    if proba is not None:
        for index, name in enumerate(proba_names):
            columns[name] = pa.array(proba[:, index])
    return pa.table(columns)


def encoded_scores(
    ids: pa.StringArray,
    predictions: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    proba_names: Sequence[str],
) -> bytes:
    """``score_columns`` as a Parquet file of one row group.

    Raises:
        InvalidInput: the model gave more than one prediction per row.
    """
    return encode_scores(score_columns(ids, predictions, proba, proba_names), PLAIN_COLUMNS)
