"""Split a frame into named parts: random, stratified, by time or by group.

``split_frame(frame, {"train": 0.8, "test": 0.2}, method=..., column=..., seed=...)`` returns the
parts in the order of the mapping. Every method partitions the rows: parts add up to the input,
no row is lost or repeated, and random choices are drawn from ``numpy.random.default_rng(seed)``,
so the same frame, fractions and seed give the same parts.

- ``random``: part sizes are ``len(frame) * fraction`` rounded so they add up (largest
  remainder); rows are drawn at random; each part keeps the input's row order.
- ``stratified`` (``column`` is the label): part sizes as for ``random``, and each class is
  spread over the parts in proportion. A class with at least as many rows as there are parts
  appears in every part; a rarer class cannot, and its rows go where the proportions are
  furthest behind (a class of one row lands in one part). Missing labels form a class of their
  own.
- ``time`` (``column`` is the time or any ordered column): rows are sorted by it (ties keep
  their input order) and cut in order: earlier rows in earlier parts, in the order of the
  mapping. Rows sharing one timestamp at a cut may fall on both sides. Parts come out sorted.
- ``group`` (``column`` names the group): every group lands in exactly one part. Groups are
  shuffled, then laid end to end and each is put in the part where its middle falls, so part
  sizes are close to the fractions (off by less than one group at each cut). Every part gets at
  least one group when there are enough groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._split_sizes import IntArray, part_sizes, stratified_counts

__all__ = ["SplitMethod", "split_frame"]

SplitMethod = Literal["random", "stratified", "time", "group"]
_METHODS = ("random", "stratified", "time", "group")
_TOLERANCE = 1e-9


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    given: object = fractions
    if not isinstance(given, Mapping) or not given:
        raise InvalidInput(
            f"fractions must be a non-empty mapping such as {{'train': 0.8, 'test': 0.2}}, "
            f"got {fractions!r}"
        )
    checked: dict[str, float] = {}
    for name, value in given.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidInput(f"part name {name!r} must be an identifier such as 'train'")
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or number <= 0:
            raise InvalidInput(f"fraction of part {name!r} must be a number > 0, got {value!r}")
        checked[name] = float(number)
    total = math.fsum(checked.values())
    if abs(total - 1.0) > _TOLERANCE:
        raise InvalidInput(f"fractions must add up to 1, they add up to {total!r}: {checked}")
    return checked


def _check_column(frame: pl.DataFrame, method: str, column: str | None) -> None:
    if method not in _METHODS:
        raise InvalidInput(f"unknown split method {method!r}; use one of {', '.join(_METHODS)}")
    if method == "random":
        if column is not None:
            raise InvalidInput(
                f"a random split takes no column (got {column!r}); use method='stratified', "
                "'time' or 'group' to split by a column"
            )
        return
    role = {"stratified": "label", "time": "time", "group": "group"}[method]
    if column is None:
        raise InvalidInput(f"method={method!r} needs column=<the {role} column>")
    if column not in frame.columns:
        raise InvalidInput(
            f"{role} column {column!r} is not in the data (columns: {', '.join(frame.columns)})"
        )
    if method in ("time", "group"):
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise InvalidInput(
                f"{role} column {column!r} has {nulls} missing value(s) of {frame.height}; "
                "fill or drop them before splitting"
            )


def _codes(values: pl.Series) -> IntArray:
    # Dense 0-based codes for any type; through a struct, missing values form one more code.
    ranks = pl.select(pl.struct(values).rank("dense")).to_series()
    return np.asarray(ranks.to_numpy(), dtype=np.int64) - 1


def _assign_random(num_rows: int, sizes: IntArray, rng: np.random.Generator) -> IntArray:
    assignment = np.empty(num_rows, dtype=np.int64)
    assignment[rng.permutation(num_rows)] = np.repeat(np.arange(len(sizes)), sizes)
    return assignment


def _assign_stratified(
    labels: pl.Series, sizes: IntArray, fractions: np.ndarray, rng: np.random.Generator
) -> IntArray:
    codes = _codes(labels)
    class_sizes = np.bincount(codes).astype(np.int64)
    counts = stratified_counts(class_sizes, sizes, fractions)
    shuffled = rng.permutation(len(codes))
    grouped = shuffled[np.argsort(codes[shuffled], kind="stable")]
    parts = np.tile(np.arange(len(sizes)), len(class_sizes))
    assignment = np.empty(len(codes), dtype=np.int64)
    assignment[grouped] = np.repeat(parts, counts.ravel())
    return assignment


def _assign_time(times: pl.Series, sizes: IntArray) -> IntArray:
    try:
        indexed = times.to_frame().with_row_index("row")
        order = indexed.sort(times.name, maintain_order=True).get_column("row").to_numpy()
    except pl.exceptions.PolarsError:
        raise InvalidInput(
            f"time column {times.name!r} of type {times.dtype} cannot be ordered"
        ) from None
    assignment = np.empty(len(order), dtype=np.int64)
    assignment[order] = np.repeat(np.arange(len(sizes)), sizes)
    return assignment


def _assign_group(groups: pl.Series, fractions: np.ndarray, rng: np.random.Generator) -> IntArray:
    codes = _codes(groups)
    group_sizes = np.bincount(codes).astype(np.int64)
    num_groups, num_parts = len(group_sizes), len(fractions)
    if num_groups < num_parts:
        raise InvalidInput(
            f"group column {groups.name!r} has {num_groups} group(s), fewer than the "
            f"{num_parts} parts: every part needs at least one group"
        )
    order = rng.permutation(num_groups)
    ends = np.cumsum(group_sizes[order])
    middles = (ends - group_sizes[order] / 2) / max(int(ends[-1]), 1)
    cuts = np.cumsum(fractions)[:-1]
    part_of_group = np.empty(num_groups, dtype=np.int64)
    part_of_group[order] = np.searchsorted(cuts, middles, side="right")
    _give_every_part_a_group(part_of_group, group_sizes, num_parts)
    return part_of_group[codes]


def _give_every_part_a_group(part_of_group: IntArray, group_sizes: IntArray, parts: int) -> None:
    for empty in range(parts):
        if (part_of_group == empty).any():
            continue
        donor = int(np.argmax(np.bincount(part_of_group, minlength=parts)))
        candidates = np.nonzero(part_of_group == donor)[0]
        part_of_group[candidates[np.argmin(group_sizes[candidates])]] = empty


def split_frame(
    frame: pl.DataFrame,
    fractions: Mapping[str, float],
    *,
    method: SplitMethod = "random",
    column: str | None = None,
    seed: int = 0,
) -> dict[str, pl.DataFrame]:
    """Split ``frame`` into named parts (see the module docstring for each method).

    Args:
        frame: the rows to split.
        fractions: part name to share of the rows, in output order; each > 0, summing to 1.
        method: ``random``, ``stratified``, ``time`` or ``group``.
        column: the label (stratified), time (time) or group (group) column.
        seed: seeds every random choice; the same seed gives the same parts.

    Returns:
        Part name to frame, in the order of ``fractions``.

    Raises:
        InvalidInput: bad fractions or method, a missing or unneeded column, or missing values
            in a time or group column (counted in the message).
    """
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInput(f"expected a polars DataFrame, got {type(frame).__name__}")
    checked = _check_fractions(fractions)
    _check_column(frame, method, column)
    given_seed: object = seed
    if isinstance(given_seed, bool) or not isinstance(given_seed, int) or given_seed < 0:
        raise InvalidInput(f"seed must be a whole number >= 0, got {seed!r}")
    if frame.height == 0:
        return {name: frame.clear() for name in checked}
    shares = np.array(list(checked.values()), dtype=np.float64)
    sizes = part_sizes(frame.height, shares)
    rng = np.random.default_rng(seed)
    if method == "random" or column is None:
        assignment = _assign_random(frame.height, sizes, rng)
    elif method == "stratified":
        assignment = _assign_stratified(frame.get_column(column), sizes, shares, rng)
    elif method == "time":
        assignment = _assign_time(frame.get_column(column), sizes)
    else:
        assignment = _assign_group(frame.get_column(column), shares, rng)
    part = pl.Series("part", assignment)
    parts = {name: frame.filter(part == index) for index, name in enumerate(checked)}
    if method == "time" and column is not None:
        parts = {name: rows.sort(column, maintain_order=True) for name, rows in parts.items()}
    return parts
