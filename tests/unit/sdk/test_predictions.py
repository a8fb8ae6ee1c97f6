"""mc.predictions reads back what mc.predict_batch logged, per version, in a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelcycle as mc

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def frame(tmp_path: Path) -> pd.DataFrame:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    for c in (1.0, 0.01):
        with mc.start_run() as run:
            mc.log_model(LogisticRegression(C=c, max_iter=5000).fit(X, y), input_example=X.head(5))
        mc.models.register(run, "bc")
    features: pd.DataFrame = X
    return features


def test_rows_scored_in_a_batch_come_back_with_their_ids_inputs_and_outputs(
    frame: pd.DataFrame,
) -> None:
    scored = mc.predict_batch("bc@1", frame.head(40))
    assert isinstance(scored, pd.DataFrame)
    logged = mc.predictions("bc@1")
    assert isinstance(logged, pd.DataFrame)
    assert isinstance(scored, pd.DataFrame)
    assert logged["id"].tolist() == scored["prediction_id"].tolist()
    assert set(logged["source"]) == {"batch"}
    assert logged["mean radius"].tolist() == frame["mean radius"].head(40).tolist()
    assert logged["output.prediction"].tolist() == scored["prediction"].tolist()
    assert len(mc.predictions("bc@1", last=7)) == 7
    assert mc.predictions("bc@1", last=7)["id"].tolist() == logged["id"].tolist()[-7:]


def test_each_version_and_window_reads_only_its_own_rows(frame: pd.DataFrame) -> None:
    mc.predict_batch("bc@1", frame.head(10))
    mc.predict_batch("bc@2", frame.head(3))
    assert len(mc.predictions("bc@2")) == 3
    polars_frame = mc.predictions("bc@1", output="polars")
    assert isinstance(polars_frame, pl.DataFrame)
    assert polars_frame.height == 10
    later = datetime.now(UTC) + timedelta(hours=1)
    empty = mc.predictions("bc@1", since=later)
    assert len(empty) == 0
    assert list(empty.columns)[:2] == ["id", "at"]


def test_bad_arguments_are_named(frame: pd.DataFrame) -> None:
    with pytest.raises(mc.NotFound, match="9"):
        mc.predictions("bc@9")
    with pytest.raises(mc.InvalidInput, match="since"):
        mc.predictions("bc@1", since="yesterday")  # type: ignore[call-overload]
    with pytest.raises(mc.InvalidInput, match="output"):
        mc.predictions("bc@1", output="arrow")  # type: ignore[call-overload]


def test_a_batch_larger_than_the_log_queue_is_logged_whole(frame: pd.DataFrame) -> None:
    # The writer holds 50,000 rows: a bigger job must wait for the log, not drop rows from it.
    rows = frame.sample(60_000, replace=True, random_state=0).reset_index(drop=True)
    scored = mc.predict_batch("bc@1", rows, chunk_rows=16_384)
    assert isinstance(scored, pd.DataFrame)
    logged = mc.predictions("bc@1", output="polars")
    assert isinstance(logged, pl.DataFrame)
    assert logged.height == 60_000
    assert logged["id"].to_list() == scored["prediction_id"].tolist()
    assert logged["mean texture"].to_list() == rows["mean texture"].tolist()


def test_a_local_parquet_file_is_scored_where_it_lies_like_a_frame(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    frame.head(300).to_parquet(source, row_group_size=128)
    from_file = mc.predict_batch("bc@1", str(source), tmp_path / "a.parquet")
    from_frame = mc.predict_batch("bc@1", frame.head(300), tmp_path / "b.parquet")
    a = pd.read_parquet(tmp_path / "a.parquet").drop(columns="prediction_id")
    b = pd.read_parquet(tmp_path / "b.parquet").drop(columns="prediction_id")
    pd.testing.assert_frame_equal(a, b)
    assert not isinstance(from_file, pd.DataFrame)
    assert not isinstance(from_frame, pd.DataFrame)
    assert from_file.rows == 300
    assert len(mc.predictions("bc@1")) == 600
