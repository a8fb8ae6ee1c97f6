from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.splits import SplitMethod, split_frame

THREE = {"train": 0.7, "val": 0.2, "test": 0.1}


@pytest.fixture
def events() -> pl.DataFrame:
    n = 1000
    return pl.DataFrame(
        {
            "row": range(n),
            "label": ["a"] * 600 + ["b"] * 300 + ["c"] * 90 + ["d"] * 8 + ["e"] * 2,
            "user": [f"u{i % 37}" for i in range(n)],
            "at": [
                dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=(i * 7919) % n)
                for i in range(n)
            ],
        }
    )


def _rows(parts: dict[str, pl.DataFrame]) -> dict[str, list[int]]:
    return {name: part["row"].to_list() for name, part in parts.items()}


def _assert_partition(frame: pl.DataFrame, parts: dict[str, pl.DataFrame]) -> None:
    rows = [row for part in parts.values() for row in part["row"].to_list()]
    assert len(rows) == frame.height
    assert sorted(rows) == sorted(frame["row"].to_list())
    assert all(part.columns == frame.columns for part in parts.values())


@pytest.mark.parametrize(
    ("method", "column"),
    [("random", None), ("stratified", "label"), ("time", "at"), ("group", "user")],
)
def test_every_method_partitions_the_rows(
    events: pl.DataFrame, method: SplitMethod, column: str | None
) -> None:
    parts = split_frame(events, THREE, method=method, column=column, seed=3)
    assert list(parts) == ["train", "val", "test"]
    _assert_partition(events, parts)
    again = split_frame(events, THREE, method=method, column=column, seed=3)
    assert _rows(again) == _rows(parts)


@pytest.mark.parametrize(("method", "column"), [("random", None), ("stratified", "label")])
def test_exact_sizes_and_a_new_seed_draws_other_rows(
    events: pl.DataFrame, method: SplitMethod, column: str | None
) -> None:
    parts = split_frame(events, THREE, method=method, column=column, seed=1)
    assert {name: part.height for name, part in parts.items()} == {
        "train": 700,
        "val": 200,
        "test": 100,
    }
    other = split_frame(events, THREE, method=method, column=column, seed=2)
    assert set(_rows(other)["test"]) != set(_rows(parts)["test"])
    # each part keeps the input's order
    assert all(part["row"].is_sorted() for part in parts.values())


def test_sizes_round_so_that_they_add_up() -> None:
    frame = pl.DataFrame({"row": range(10)})
    parts = split_frame(frame, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert [part.height for part in parts.values()] == [4, 3, 3]
    parts = split_frame(frame, {"a": 0.05, "b": 0.95})
    assert [part.height for part in parts.values()] == [1, 9]


def test_stratified_keeps_class_proportions(events: pl.DataFrame) -> None:
    parts = split_frame(events, THREE, method="stratified", column="label", seed=5)
    counts = {name: dict(part["label"].value_counts().iter_rows()) for name, part in parts.items()}
    for label, total in {"a": 600, "b": 300, "c": 90}.items():
        for name, share in THREE.items():
            assert abs(counts[name][label] - total * share) <= 1, (label, name, counts)
    # a class with at least one row per part appears in every part; a rarer one cannot
    assert all(counts[name]["d"] >= 1 for name in THREE)
    assert sum(counts[name].get("e", 0) for name in THREE) == 2


def test_stratified_treats_missing_labels_as_a_class() -> None:
    frame = pl.DataFrame({"row": range(20), "y": [None, "x"] * 10})
    parts = split_frame(frame, {"a": 0.5, "b": 0.5}, method="stratified", column="y")
    for part in parts.values():
        assert part["y"].null_count() == 5


def test_time_split_puts_earlier_rows_first(events: pl.DataFrame) -> None:
    parts = split_frame(events, THREE, method="time", column="at")
    assert [part.height for part in parts.values()] == [700, 200, 100]
    train, val, test = parts.values()
    assert train["at"].max() < val["at"].min()  # type: ignore[operator]
    assert val["at"].max() < test["at"].min()  # type: ignore[operator]
    assert all(part["at"].is_sorted() for part in parts.values())
    # the order of the mapping decides which part is earlier
    flipped = split_frame(events, {"late": 0.5, "early": 0.5}, method="time", column="at")
    assert flipped["late"]["at"].max() < flipped["early"]["at"].min()  # type: ignore[operator]


def test_time_split_keeps_input_order_among_equal_times() -> None:
    frame = pl.DataFrame({"row": range(6), "t": [2, 1, 1, 1, 1, 0]})
    parts = split_frame(frame, {"a": 0.5, "b": 0.5}, method="time", column="t")
    assert _rows(parts) == {"a": [5, 1, 2], "b": [3, 4, 0]}


def test_group_split_keeps_each_group_in_one_part(events: pl.DataFrame) -> None:
    parts = split_frame(events, THREE, method="group", column="user", seed=11)
    groups = {name: set(part["user"].to_list()) for name, part in parts.items()}
    assert groups["train"].isdisjoint(groups["val"])
    assert groups["train"].isdisjoint(groups["test"])
    assert groups["val"].isdisjoint(groups["test"])
    assert set().union(*groups.values()) == set(events["user"].to_list())
    largest_group = events["user"].value_counts()["count"].max()
    for name, share in THREE.items():
        assert abs(parts[name].height - share * events.height) <= largest_group  # type: ignore[operator]
    other = split_frame(events, THREE, method="group", column="user", seed=12)
    assert {name: set(part["user"]) for name, part in other.items()} != groups


def test_group_split_gives_every_part_a_group() -> None:
    frame = pl.DataFrame({"row": range(103), "g": [0] * 100 + [1, 2, 3]})
    parts = split_frame(frame, THREE, method="group", column="g", seed=0)
    assert all(part.height > 0 for part in parts.values())
    _assert_partition(frame, parts)


def test_empty_frame_gives_empty_parts() -> None:
    frame = pl.DataFrame(
        {"row": pl.Series([], dtype=pl.Int64), "g": pl.Series([], dtype=pl.String)}
    )
    parts = split_frame(frame, THREE, method="group", column="g")
    assert [part.height for part in parts.values()] == [0, 0, 0]


@pytest.mark.parametrize(
    ("fractions", "kwargs", "message"),
    [
        ({"train": 0.8, "test": 0.3}, {}, "fractions must add up to 1, they add up to 1.1"),
        ({"train": 1.0, "test": 0.0}, {}, "fraction of part 'test' must be a number > 0"),
        ({"train": 0.5, "test": "half"}, {}, "must be a number > 0, got 'half'"),
        ({"train set": 1.0}, {}, "part name 'train set' must be an identifier"),
        ({}, {}, "fractions must be a non-empty mapping"),
        ({"a": 1.0}, {"method": "stratified"}, r"method='stratified' needs column=<the label"),
        ({"a": 1.0}, {"method": "group"}, r"method='group' needs column=<the group column>"),
        ({"a": 1.0}, {"method": "time", "column": "when"}, "time column 'when' is not in the data"),
        ({"a": 1.0}, {"column": "g"}, "a random split takes no column"),
        ({"a": 1.0}, {"method": "kfold"}, "unknown split method 'kfold'"),
        ({"a": 1.0}, {"method": "time", "column": "t"}, "time column 't' has 2 missing value"),
        ({"a": 1.0}, {"method": "group", "column": "g"}, "group column 'g' has 1 missing value"),
        ({"a": 1.0}, {"seed": -1}, "seed must be a whole number >= 0"),
        ({"a": 0.5, "b": 0.5}, {"method": "group", "column": "one"}, "1 group.*fewer than the 2"),
    ],
)
def test_bad_arguments_are_named(
    fractions: dict[str, float], kwargs: dict[str, object], message: str
) -> None:
    frame = pl.DataFrame({"t": [1, None, None], "g": ["x", None, "y"], "one": ["k", "k", "k"]})
    with pytest.raises(InvalidInput, match=message):
        split_frame(frame, fractions, **kwargs)  # type: ignore[arg-type]


_fractions = st.lists(st.integers(1, 20), min_size=1, max_size=5).map(
    lambda weights: {f"p{i}": w / sum(weights) for i, w in enumerate(weights)}
)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 120),
    fractions=_fractions,
    method=st.sampled_from(["random", "stratified", "time", "group"]),
    classes=st.integers(1, 9),
    seed=st.integers(0, 2**32),
)
def test_any_split_is_a_partition(
    size: int, fractions: dict[str, float], method: SplitMethod, classes: int, seed: int
) -> None:
    frame = pl.DataFrame(
        {
            "row": range(size),
            "k": [(i * 31) % classes for i in range(size)],
            "t": [i % 13 for i in range(size)],
        }
    )
    column = {"random": None, "stratified": "k", "time": "t", "group": "k"}[method]
    if method == "group" and len(set(frame["k"])) < len(fractions) and size:
        with pytest.raises(InvalidInput, match="fewer than"):
            split_frame(frame, fractions, method=method, column=column, seed=seed)
        return
    parts = split_frame(frame, fractions, method=method, column=column, seed=seed)
    assert list(parts) == list(fractions)
    _assert_partition(frame, parts)
    if method in ("random", "stratified", "time"):
        expected = [size * share for share in fractions.values()]
        assert all(
            abs(part.height - want) < 1 for part, want in zip(parts.values(), expected, strict=True)
        )
    if method == "group" and size:
        assert all(part.height > 0 for part in parts.values())
