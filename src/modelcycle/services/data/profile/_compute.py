"""``compute_profile``: kinds, statistics, correlations, duplicates and warnings of a frame."""

from __future__ import annotations

import datetime as dt
import numbers

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.profile._correlations import correlations as compute_correlations
from modelcycle.services.data.profile._duplicates import duplicates as compute_duplicates
from modelcycle.services.data.profile._kinds import count_kinds, infer_kinds
from modelcycle.services.data.profile._model import Overview, Profile
from modelcycle.services.data.profile._stats import column_profiles
from modelcycle.services.data.profile._warnings import all_warnings


def _positive_int(value: object) -> bool:
    return type(value) is not bool and isinstance(value, numbers.Integral) and int(value) >= 1


def _check(frame: object, target: str | None, max_rows: int | None) -> None:
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInput(
            f"compute_profile takes a polars.DataFrame, not {type(frame).__name__}; "
            "convert with polars.from_pandas(df) or polars.from_arrow(table)"
        )
    if target is not None and target not in frame.columns:
        raise InvalidInput(
            f"target {target!r} is not a column of the frame; columns: {frame.columns}"
        )
    if max_rows is not None and not _positive_int(max_rows):
        raise InvalidInput(f"max_rows must be a positive number of rows or None, not {max_rows!r}")


def compute_profile(
    frame: pl.DataFrame,
    *,
    target: str | None = None,
    title: str = "",
    max_rows: int | None = None,
    seed: int = 0,
    correlations: bool = True,
) -> Profile:
    """Profile ``frame``: per-column statistics, correlations, duplicates and warnings.

    Args:
        frame: the data; any polars dtypes (nested ones are counted, not described).
        target: the column a model would predict; it gets the class-imbalance check.
        title: shown at the top of the HTML report.
        max_rows: profile a seeded random sample of this many rows when the frame is taller;
            ``None`` profiles every row. The profile records ``sampled_rows``/``total_rows``.
        seed: seed of every sample taken.
        correlations: whether to compute the association matrices.

    Returns:
        The profile; ``.to_html(path)`` and ``.to_json()`` write its reports.

    Raises:
        InvalidInput: ``frame`` is not a polars DataFrame, ``target`` is not one of its
            columns, or ``max_rows`` is not a positive integer.
    """
    _check(frame, target, max_rows)
    total = frame.height
    if max_rows is not None and total > max_rows:
        frame = frame.sample(n=max_rows, seed=seed)
    kinds, distinct = infer_kinds(frame)
    columns = column_profiles(frame, kinds, target, distinct)
    assoc = compute_correlations(frame, columns, seed=seed) if correlations else None
    dups = compute_duplicates(frame)
    missing_cells = sum(c.missing for c in columns.values())
    cells = frame.height * frame.width
    overview = Overview(
        columns=frame.width,
        missing_cells=missing_cells,
        missing_cells_share=missing_cells / cells if cells else 0.0,
        memory_bytes=int(frame.estimated_size()),
        kinds=count_kinds(kinds),
    )
    return Profile(
        title=title,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        total_rows=total,
        sampled_rows=frame.height,
        seed=seed,
        target=target,
        overview=overview,
        columns=columns,
        correlations=assoc,
        duplicates=dups,
        warnings=all_warnings(columns, dups, assoc, target),
    )
