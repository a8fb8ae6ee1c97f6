"""Per-column statistics of the profile against independent numpy/pandas computations."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.profile import ColumnKind, Profile, compute_profile


@pytest.fixture
def mixed() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 2_000
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < 0.1] = np.nan
    ints = rng.integers(-3, 9, n)
    start = dt.datetime(2024, 1, 1)  # noqa: DTZ001 - a column without time zone
    return pl.DataFrame(
        {
            "x": x,
            "ints": ints,
            "cat": rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.random(n) < 0.3,
            "when": [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 10**6, n)],
            "note": [f"a free text remark number {i} about row {i * 7}" for i in range(n)],
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 13 == 0).then(None).otherwise(pl.col("cat")).alias("cat")
    )


def test_numeric_statistics_match_pandas(mixed: pl.DataFrame) -> None:
    prof = compute_profile(mixed)
    col = prof.columns["x"]
    s = pd.Series(mixed["x"].to_numpy())
    present = s.dropna()
    assert col.kind is ColumnKind.NUMERIC
    assert col.count == len(present)
    assert col.missing == int(s.isna().sum())
    assert col.missing_share == pytest.approx(s.isna().mean())
    assert col.distinct == present.nunique()
    stats = col.numeric
    assert stats is not None
    assert stats.mean == pytest.approx(present.mean(), rel=1e-12)
    assert stats.std == pytest.approx(present.std(), rel=1e-12)
    assert stats.min == present.min()
    assert stats.max == present.max()
    for key, q in (("p5", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)):
        assert getattr(stats, key) == pytest.approx(present.quantile(q), rel=1e-12), key
    assert stats.skewness == pytest.approx(present.skew(), rel=1e-9)
    assert stats.kurtosis == pytest.approx(present.kurt(), rel=1e-9)
    assert stats.negatives == int((present < 0).sum())
    assert stats.zeros == 0


def test_numeric_histogram_matches_numpy(mixed: pl.DataFrame) -> None:
    stats = compute_profile(mixed).columns["x"].numeric
    assert stats is not None
    assert stats.histogram is not None
    present = mixed["x"].drop_nans().drop_nulls().to_numpy()
    counts, edges = np.histogram(present, bins=len(stats.histogram.counts))
    assert list(stats.histogram.counts) == counts.tolist()
    assert np.allclose(stats.histogram.edges, edges)
    assert sum(stats.histogram.counts) == len(present)


def test_small_integer_range_gets_one_bin_per_value(mixed: pl.DataFrame) -> None:
    col = compute_profile(mixed).columns["ints"]
    assert col.numeric is not None
    assert col.numeric.histogram is not None
    values = mixed["ints"].to_numpy()
    expected = [int((values == v).sum()) for v in range(values.min(), values.max() + 1)]
    assert list(col.numeric.histogram.counts) == expected
    assert col.numeric.histogram.edges[0] == values.min() - 0.5
    assert col.numeric.zeros == int((values == 0).sum())
    assert col.numeric.negatives == int((values < 0).sum())


def test_categorical_top_values_match_value_counts(mixed: pl.DataFrame) -> None:
    col = compute_profile(mixed).columns["cat"]
    counts = mixed["cat"].to_pandas().value_counts()
    assert col.kind is ColumnKind.CATEGORICAL
    assert [(v.value, v.count) for v in col.top_values] == list(counts.items())
    assert col.missing == mixed["cat"].null_count()
    assert col.distinct == 4


def test_boolean_datetime_and_text_columns(mixed: pl.DataFrame) -> None:
    prof = compute_profile(mixed)
    flag = prof.columns["flag"]
    assert flag.kind is ColumnKind.BOOLEAN
    trues = int(mixed["flag"].sum())
    assert {v.value: v.count for v in flag.top_values} == {True: trues, False: mixed.height - trues}

    when = prof.columns["when"]
    assert when.kind is ColumnKind.DATETIME
    assert when.datetime is not None
    lo, hi = mixed["when"].min(), mixed["when"].max()
    assert isinstance(lo, dt.datetime)
    assert isinstance(hi, dt.datetime)
    assert when.datetime.min == lo.isoformat()
    assert when.datetime.max == hi.isoformat()
    assert when.datetime.range_seconds == (hi - lo).total_seconds()
    assert when.datetime.histogram is not None
    assert sum(when.datetime.histogram.counts) == mixed.height
    assert when.datetime.histogram.edges[0] == lo.isoformat()

    note = prof.columns["note"]
    assert note.kind is ColumnKind.TEXT
    assert note.text is not None
    lengths = np.array([len(s) for s in mixed["note"].to_list()])
    assert note.text.min_length == lengths.min()
    assert note.text.max_length == lengths.max()
    assert note.text.mean_length == pytest.approx(lengths.mean())
    assert note.text.median_length == pytest.approx(float(np.median(lengths)))
    assert len(note.top_values) == 10


def test_short_identifiers_stay_categorical_and_long_repeated_strings_too() -> None:
    frame = pl.DataFrame(
        {
            "ident": [f"user_{i:05d}" for i in range(200)],
            "long_repeated": ["a rather long label that repeats often"] * 150 + ["short"] * 50,
        }
    )
    prof = compute_profile(frame)
    assert prof.columns["ident"].kind is ColumnKind.CATEGORICAL
    assert prof.columns["long_repeated"].kind is ColumnKind.CATEGORICAL


def test_nan_and_none_both_count_as_missing_and_infinities_apart() -> None:
    frame = pl.DataFrame({"v": [1.0, float("nan"), None, 3.0, float("inf"), -2.0]})
    col = compute_profile(frame).columns["v"]
    assert col.missing == 2
    assert col.count == 4
    assert col.numeric is not None
    assert col.numeric.infinite == 1
    assert col.numeric.mean == pytest.approx((1.0 + 3.0 - 2.0) / 3)
    assert col.numeric.max == 3.0
    assert col.numeric.negatives == 1


def test_empty_frame() -> None:
    frame = pl.DataFrame(
        {"a": pl.Series([], dtype=pl.Float64), "b": pl.Series([], dtype=pl.String)}
    )
    prof = compute_profile(frame)
    assert prof.total_rows == 0
    assert prof.sampled_rows == 0
    assert prof.columns["a"].count == 0
    assert prof.columns["a"].numeric is not None
    assert prof.columns["a"].numeric.mean is None
    assert prof.columns["a"].numeric.histogram is None
    assert prof.duplicates.count == 0
    assert prof.overview.missing_cells_share == 0.0


def test_frame_without_columns() -> None:
    prof = compute_profile(pl.DataFrame())
    assert prof.columns == {}
    assert prof.overview.columns == 0
    assert "<html" in prof.to_html()


def test_all_null_columns() -> None:
    frame = pl.DataFrame(
        {
            "nothing": [None, None, None],
            "no_floats": pl.Series([None, None, None], dtype=pl.Float64),
            "no_text": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    prof = compute_profile(frame)
    assert prof.columns["nothing"].kind is ColumnKind.OTHER
    for col in prof.columns.values():
        assert col.missing == 3
        assert col.count == 0
        assert col.distinct == 0
        assert col.missing_share == 1.0
    floats = prof.columns["no_floats"].numeric
    assert floats is not None
    assert floats.mean is None
    assert floats.histogram is None
    assert prof.columns["no_text"].kind is ColumnKind.CATEGORICAL
    assert prof.columns["no_text"].top_values == ()


def test_one_row_frame() -> None:
    frame = pl.DataFrame({"x": [2.5], "s": ["a"], "d": [dt.date(2024, 5, 1)]})
    prof = compute_profile(frame)
    x = prof.columns["x"].numeric
    assert x is not None
    assert x.mean == 2.5
    assert x.p50 == 2.5
    assert x.std is None
    assert x.skewness is None
    assert x.histogram is not None
    assert x.histogram.counts == (1,)
    d = prof.columns["d"].datetime
    assert d is not None
    assert d.min == "2024-05-01"
    assert d.range_seconds == 0.0


def test_sampling_is_seeded_and_recorded() -> None:
    frame = pl.DataFrame({"x": np.arange(10_000, dtype=np.float64)})
    a = compute_profile(frame, max_rows=1_000, seed=3)
    b = compute_profile(frame, max_rows=1_000, seed=3)
    assert a.total_rows == 10_000
    assert a.sampled_rows == 1_000
    assert a.is_sampled
    assert a.columns["x"].count == 1_000
    assert a.columns["x"].numeric == b.columns["x"].numeric
    whole = compute_profile(frame, max_rows=20_000)
    assert not whole.is_sampled
    assert whole.sampled_rows == 10_000


def test_duplicates_are_counted_exactly_with_examples() -> None:
    frame = pl.DataFrame(
        {"a": [1, 1, 1, 2, 2, 3, None, None], "b": ["x", "x", "x", "y", "y", "z", None, None]}
    )
    dups = compute_profile(frame).duplicates
    assert dups.count == 2 + 1 + 1
    assert dups.share == pytest.approx(4 / 8)
    assert [(dict(e.values), e.count) for e in dups.examples] == [
        ({"a": 1, "b": "x"}, 3),
        ({"a": 2, "b": "y"}, 2),
        ({"a": None, "b": None}, 2),
    ]
    assert compute_profile(frame.unique(maintain_order=True)).duplicates.count == 0


def test_memory_and_overview() -> None:
    frame = pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", None]})
    prof = compute_profile(frame)
    assert prof.overview.memory_bytes == frame.estimated_size()
    assert prof.overview.missing_cells == 2
    assert math.isclose(prof.overview.missing_cells_share, 2 / 6)
    assert prof.overview.kinds == {"numeric": 1, "categorical": 1}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "nope"}, "target 'nope' is not a column"),
        ({"max_rows": 0}, "max_rows must be a positive number"),
        ({"max_rows": 2.5}, "max_rows must be a positive number"),
        ({"max_rows": True}, "max_rows must be a positive number"),
    ],
)
def test_bad_arguments_are_invalid_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        compute_profile(pl.DataFrame({"a": [1]}), **kwargs)  # type: ignore[arg-type]


def test_a_pandas_frame_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidInput, match=r"polars.from_pandas"):
        compute_profile(pd.DataFrame({"a": [1]}))  # type: ignore[arg-type]


def test_wide_integer_range_gets_bins_of_whole_integers() -> None:
    values = np.random.default_rng(9).integers(18, 90, 5_000)
    col = compute_profile(pl.DataFrame({"age": values})).columns["age"]
    assert col.numeric is not None
    hist = col.numeric.histogram
    assert hist is not None
    lo, hi = values.min(), values.max()
    width = int(np.ceil((hi - lo + 1) / 30))
    edges = np.arange(lo - 0.5, hi + 0.5 + width, width)[: len(hist.counts) + 1]
    assert np.allclose(hist.edges, edges)
    assert edges[-1] >= hi + 0.5
    assert list(hist.counts) == np.histogram(values, bins=edges)[0].tolist()


def test_every_other_dtype_is_profiled_without_error() -> None:
    from decimal import Decimal

    frame = pl.DataFrame(
        {
            "dec": pl.Series([Decimal("1.50"), Decimal("2.25"), None], dtype=pl.Decimal(10, 2)),
            "cat": pl.Series(["a", "b", "a"], dtype=pl.Categorical),
            "enum": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "time": [dt.time(1, 2), dt.time(3, 4), None],
            "span": [dt.timedelta(seconds=5), None, dt.timedelta(minutes=1)],
            "items": [[1, 2], [3], None],
            "pair": [{"k": 1}, {"k": 2}, {"k": 1}],
            "raw": [b"x", b"y", None],
            "small": pl.Series([1, 2, 3], dtype=pl.UInt8),
        }
    )
    prof = compute_profile(frame, target="enum")
    kinds = {n: c.kind for n, c in prof.columns.items()}
    assert kinds == {
        "dec": ColumnKind.NUMERIC,
        "cat": ColumnKind.CATEGORICAL,
        "enum": ColumnKind.CATEGORICAL,
        "time": ColumnKind.OTHER,
        "span": ColumnKind.OTHER,
        "items": ColumnKind.OTHER,
        "pair": ColumnKind.OTHER,
        "raw": ColumnKind.OTHER,
        "small": ColumnKind.NUMERIC,
    }
    dec = prof.columns["dec"].numeric
    assert dec is not None
    assert dec.mean == pytest.approx(1.875)
    assert [(v.value, v.count) for v in prof.columns["cat"].top_values] == [("a", 2), ("b", 1)]
    assert prof.columns["items"].missing == 1
    assert prof.columns["pair"].distinct == 2
    assert prof.correlations is not None
    assert prof.correlations.cramers_v is not None
    assert Profile.from_dict(prof.to_dict()) == prof
    assert "<html" in prof.to_html()
