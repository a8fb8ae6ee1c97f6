"""``mc.predictions``: what a model version answered, read back from the prediction log.

Every prediction the endpoint serves and every row ``mc.predict_batch`` scores is logged with
its id, inputs, outputs, latency and time; this reads a window of them as one frame.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal, overload

from modelcycle.core.errors import InvalidInput
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from modelcycle.core.entities.model import ModelVersion

__all__ = ["predictions"]


@overload
def predictions(
    model_ref: str | ModelVersion,
    *,
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    output: Literal["pandas"] = "pandas",
) -> pd.DataFrame: ...


@overload
def predictions(
    model_ref: str | ModelVersion,
    *,
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    output: Literal["polars"],
) -> pl.DataFrame: ...


def predictions(
    model_ref: str | ModelVersion,
    *,
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    output: Literal["pandas", "polars"] = "pandas",
) -> pd.DataFrame | pl.DataFrame:
    """The logged predictions of one model version, oldest first.

    Args:
        model_ref: The version: ``"churn-gbm@production"``, ``"churn-gbm@3"`` or a
            ``ModelVersion``.
        last: Only the newest ``last`` predictions (of those in the time range).
        since: Only predictions made at or after this time (a timezone-aware datetime; a
            naive one is taken as local time).
        until: Only predictions made before this time.
        output: ``"pandas"`` (default) or ``"polars"``.

    Returns:
        One row per prediction: ``id``, ``at`` (UTC), ``model_version_id``, ``latency_ms``,
        ``source`` (``http`` or ``batch``), one column per input feature and one per output
        (``output.prediction``, ``output.proba_<class>``...). Empty (with the first five
        columns) when the version has logged nothing in the window.

    Raises:
        NotFound: no such model version.
        InvalidInput: a bound is not a datetime, ``last`` is not positive, or ``output`` is
            neither ``"pandas"`` nor ``"polars"``.
    """
    from modelcycle.store.predictions.window import read_window

    if output not in ("pandas", "polars"):
        raise InvalidInput(f"output={output!r}: use 'pandas' or 'polars'")
    session = get_session()
    version = session.registry.get(session.project, model_ref)
    frame = read_window(
        session.metadata,
        session.artifacts,
        model_version_ids=version.id,
        last=last,
        since_ms=_epoch_ms("since", since),
        until_ms=_epoch_ms("until", until),
        allow_empty=True,
    )
    return frame if output == "polars" else frame.to_pandas()


def _epoch_ms(name: str, moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{name}={moment!r} must be a datetime (or None)")
    return int(moment.timestamp() * 1000)
