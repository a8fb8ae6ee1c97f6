"""Batch scoring in this process: predictions, chunking, ids, atomic output, callbacks, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression
from tests.unit.serve.apps import cancer_rows, estimator

from modelcycle.core.errors import InvalidInput
from modelcycle.core.ids import check_id
from modelcycle.services.packaging.flavors import get_flavor
from modelcycle.services.packaging.loaded import LoadedModel
from modelcycle.services.packaging.package import load_packaged, package_model
from modelcycle.services.serve.batch import score_batch
from modelcycle.services.serve.executors import open_executor

if TYPE_CHECKING:
    from pathlib import Path


def _load(model: object, example: pd.DataFrame) -> LoadedModel:
    packaged = package_model(model, input_example=example)
    return load_packaged(
        packaged.data,
        flavor=packaged.flavor,
        digest=packaged.digest,
        signature=packaged.signature,
    )


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame: pd.DataFrame = cancer_rows(7, 5_000)
    return frame


@pytest.fixture(scope="module")
def gbm() -> LoadedModel:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = GradientBoostingClassifier(n_estimators=15, random_state=0).fit(X, y)
    return _load(model, X.head(20))


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_predictions_equal_the_raw_model_exactly(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    result = score_batch(gbm, _table(rows), chunk_rows=1_000)
    assert result.table is not None
    scored = result.table.to_pandas()
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), estimator(gbm).predict(rows))
    proba = estimator(gbm).predict_proba(rows)
    for index, label in enumerate(gbm.classes or ()):
        np.testing.assert_array_equal(scored[f"proba_{label}"].to_numpy(), proba[:, index])
    pd.testing.assert_frame_equal(scored[list(rows.columns)], rows)
    assert result.rows == len(rows)


@pytest.mark.parametrize("chunk_rows", [1, 333, 4_999, 5_000, 100_000])
def test_output_does_not_depend_on_chunking(
    gbm: LoadedModel, rows: pd.DataFrame, chunk_rows: int
) -> None:
    small = rows.head(700) if chunk_rows == 1 else rows
    reference = score_batch(gbm, _table(small), chunk_rows=1_000).table
    batches = _table(small).to_batches(max_chunksize=97)  # uneven input batches
    scored = score_batch(gbm, batches, chunk_rows=chunk_rows).table
    assert reference is not None
    assert scored is not None
    assert scored.drop(["prediction_id"]).equals(reference.drop(["prediction_id"]))


def test_ids_are_unique_time_ordered_and_in_row_order(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    result = score_batch(gbm, _table(rows), chunk_rows=512)
    assert result.table is not None
    ids = result.table.column("prediction_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(check_id(i, "prediction id") for i in ids)
    assert (result.first_id, result.last_id) == (ids[0], ids[-1])
    again = score_batch(gbm, _table(rows.head(10))).first_id
    assert again > result.last_id  # a later job sorts after


def test_on_chunk_gets_each_chunk_with_its_ids(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    seen: list[tuple[list[str], pa.Table, pa.Table]] = []
    result = score_batch(
        gbm,
        _table(rows),
        chunk_rows=2_000,
        on_chunk=lambda ids, inputs, scores: seen.append((ids.to_pylist(), inputs, scores)),
    )
    assert [len(ids) for ids, _, _ in seen] == [2_000, 2_000, 1_000]
    assert result.table is not None
    all_ids = [i for ids, _, _ in seen for i in ids]
    assert all_ids == result.table.column("prediction_id").to_pylist()
    for ids, inputs, scores in seen:
        assert scores.column("prediction_id").to_pylist() == ids
        assert inputs.num_rows == len(ids)
        expected = estimator(gbm).predict(inputs.to_pandas())
        np.testing.assert_array_equal(scores.column("prediction").to_numpy(), expected)


def test_progress_reports_rows_done_and_total(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    reports: list[tuple[int, int | None]] = []
    score_batch(gbm, _table(rows), chunk_rows=2_000, progress=lambda d, t: reports.append((d, t)))
    assert reports == [(2_000, 5_000), (4_000, 5_000), (5_000, 5_000)]


def test_parquet_output_is_written_with_the_rows(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "scores.parquet"
    result = score_batch(gbm, _table(rows), target, chunk_rows=1_500)
    assert result.output == target
    assert result.table is None
    written = pq.read_table(target)
    assert written.num_rows == len(rows)
    assert written.column_names[:4] == ["prediction_id", "prediction", "proba_0", "proba_1"]
    np.testing.assert_array_equal(
        written.column("prediction").to_numpy(), estimator(gbm).predict(rows)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


class _FailsOnThirdChunk:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def predict(self, data: Any) -> Any:
        self.calls += 1
        if self.calls == 3:
            raise ValueError("the scoring backend went away")
        return self.inner.predict(pd.DataFrame(data, columns=self.inner.feature_names_in_))


def test_a_failing_chunk_leaves_no_output_and_keeps_an_old_file(
    gbm: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"the previous results")
    failing = LoadedModel(
        _FailsOnThirdChunk(gbm.raw), flavor=get_flavor("python"), signature=gbm.signature
    )
    with pytest.raises(InvalidInput, match="scoring backend went away"):
        score_batch(failing, _table(rows), target, chunk_rows=1_000)
    assert estimator(failing).calls == 3
    assert target.read_bytes() == b"the previous results"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_proba_columns_only_for_classifiers_and_on_request(
    gbm: LoadedModel, rows: pd.DataFrame
) -> None:
    without = score_batch(gbm, _table(rows), with_proba=False).table
    assert without is not None
    assert without.column_names[:2] == ["prediction_id", "prediction"]
    assert "proba_0" not in without.column_names
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    regressor = _load(LinearRegression().fit(X, y), X.head(20))
    scored = score_batch(regressor, _table(rows)).table
    assert scored is not None
    assert not [c for c in scored.column_names if c.startswith("proba_")]
    # A linear model's dot products round by memory layout (BLAS), so equal to ~1 ulp here;
    # tree models (above) are compared bit for bit.
    np.testing.assert_allclose(
        scored.column("prediction").to_numpy(),
        estimator(regressor).predict(rows),
        rtol=0,
        atol=1e-12,
    )


def test_extra_input_columns_are_carried_through(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    frame = rows.assign(customer=[f"c{i}" for i in range(len(rows))])
    scored = score_batch(gbm, _table(frame)).table
    assert scored is not None
    assert scored.column("customer").to_pylist() == frame["customer"].tolist()
    np.testing.assert_array_equal(
        scored.column("prediction").to_numpy(), estimator(gbm).predict(rows)
    )


def test_a_missing_column_is_named(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="lacks column 'mean radius'"):
        score_batch(gbm, _table(rows.drop(columns=["mean radius"])))


def test_a_wrongly_typed_column_is_named(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    frame = rows.assign(**{"mean area": rows["mean area"].astype(str) + "sq"})
    with pytest.raises(InvalidInput, match="column 'mean area': expected float"):
        score_batch(gbm, _table(frame))


def test_missing_values_in_a_later_chunk_are_named(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    frame = rows.copy()
    frame.loc[4_500, "worst texture"] = np.nan
    with pytest.raises(InvalidInput, match="column 'worst texture': 1 missing value"):
        score_batch(gbm, _table(frame), chunk_rows=1_000)


def test_an_input_column_named_like_an_output_is_refused(
    gbm: LoadedModel, rows: pd.DataFrame
) -> None:
    with pytest.raises(InvalidInput, match="'prediction' would clash"):
        score_batch(gbm, _table(rows.assign(prediction=1)))


def test_empty_input_and_bad_options_are_refused(gbm: LoadedModel, rows: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        score_batch(gbm, [])
    with pytest.raises(InvalidInput, match="chunk_rows"):
        score_batch(gbm, _table(rows), chunk_rows=0)


def test_open_executor_without_options_scores_here() -> None:
    with open_executor() as executor:
        assert executor is None
    with pytest.raises(InvalidInput, match="not both"), open_executor(dask="tcp://x:1", workers=2):
        pass
    with pytest.raises(InvalidInput, match="at least 1"), open_executor(workers=0):
        pass
