"""Duplicate rows: exact counts, found through row hashes so the whole frame is never grouped.

Rows are hashed (8 bytes each); only rows whose hash repeats can be duplicates, and those few
are grouped exactly, so a hash collision can never be counted as a duplicate.
"""

from __future__ import annotations

import polars as pl

from modelcycle.services.data.profile._model import DuplicateRow, Duplicates
from modelcycle.services.data.profile._values import json_scalar

DUPLICATE_EXAMPLES = 10
_COUNT = "__modelcycle_count__"


def duplicates(frame: pl.DataFrame) -> Duplicates:
    """How many rows repeat an earlier row, and the most repeated rows."""
    if frame.height == 0 or frame.width == 0:
        return Duplicates(count=0, share=0.0, examples=())
    candidates = frame.filter(frame.hash_rows(seed=0).is_duplicated())
    if candidates.height == 0:
        return Duplicates(count=0, share=0.0, examples=())
    groups = (
        candidates.group_by(frame.columns, maintain_order=True)
        .agg(pl.len().alias(_COUNT))
        .filter(pl.col(_COUNT) > 1)
    )
    count = int(groups[_COUNT].sum()) - groups.height if groups.height else 0
    top = groups.sort(_COUNT, descending=True, maintain_order=True).head(DUPLICATE_EXAMPLES)
    examples = tuple(
        DuplicateRow(
            values={k: json_scalar(v) for k, v in row.items() if k != _COUNT},
            count=int(row[_COUNT]),
        )
        for row in top.iter_rows(named=True)
    )
    return Duplicates(count=count, share=count / frame.height, examples=examples)
