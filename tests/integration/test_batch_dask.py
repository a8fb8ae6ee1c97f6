"""Batch scoring scaled out on a real Dask cluster, and ``modelcycle predict`` end to end.

The cluster is a ``distributed.LocalCluster`` of two worker processes; its output must equal the
local run's bit for bit. The command runs on a real SQLite store holding a registered model.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli import app as cli_app
from modelcycle.cli._errors import ErrorHandlingGroup
from modelcycle.cli.predict import predict
from modelcycle.sdk import session
from modelcycle.sdk.batch import predict_batch
from modelcycle.services.packaging.package import load_packaged, package_model
from modelcycle.services.serve.batch import BatchResult, score_batch
from modelcycle.services.serve.executors import open_executor

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.services.packaging.loaded import LoadedModel

pytestmark = [pytest.mark.dask, pytest.mark.slow]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def gbm(data: tuple[pd.DataFrame, pd.Series]) -> GradientBoostingClassifier:
    X, y = data
    return GradientBoostingClassifier(n_estimators=25, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def rows(data: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    X, _ = data
    picks = np.random.default_rng(3).integers(0, len(X), 60_000)
    frame: pd.DataFrame = X.iloc[picks].reset_index(drop=True)
    return frame


@pytest.fixture(scope="module")
def model(gbm: GradientBoostingClassifier, data: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    """``gbm`` packaged and loaded back, as the registry hands it to ``score_batch``."""
    packaged = package_model(gbm, input_example=data[0].head(20))
    return load_packaged(
        packaged.data,
        flavor=packaged.flavor,
        digest=packaged.digest,
        signature=packaged.signature,
    )


def test_two_dask_workers_give_the_local_output(model: LoadedModel, rows: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    local = score_batch(model, table, chunk_rows=7_000).table
    seen: list[int] = []
    with open_executor(workers=2) as executor:
        assert executor is not None
        remote = score_batch(
            model,
            table.to_batches(max_chunksize=5_000),
            executor=executor,
            chunk_rows=7_000,
            max_in_flight=3,
            on_chunk=lambda ids, inputs, scores: seen.append(len(ids)),
        ).table
    assert local is not None
    assert remote is not None
    assert remote.drop(["prediction_id"]).equals(local.drop(["prediction_id"]))
    assert seen == [7_000] * 8 + [4_000]
    ids = remote.column("prediction_id").to_pylist()
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_local_cluster_starts_while_the_default_dashboard_port_is_taken() -> None:
    """Two jobs (or parallel tests) at once: the second cluster must not need port 8787."""
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        except OSError:
            pass  # already taken by something else: the case under test
        with open_executor(workers=1) as executor:
            assert executor is not None
            assert executor.submit(int, "41").result() + 1 == 42


def test_two_dask_workers_read_a_parquet_file_themselves_and_match_the_local_file(
    gbm: GradientBoostingClassifier, model: LoadedModel, rows: pd.DataFrame, tmp_path: Path
) -> None:
    table = pa.Table.from_pandas(rows, preserve_index=False).append_column(
        "customer", pa.array([f"c{i}" for i in range(len(rows))])
    )
    source = tmp_path / "rows.parquet"
    pq.write_table(table, source, compression="zstd", use_dictionary=False, row_group_size=7_000)
    score_batch(model, source, tmp_path / "local.parquet", chunk_rows=5_000)
    with open_executor(workers=2) as executor:
        assert executor is not None
        remote = score_batch(
            model, source, tmp_path / "remote.parquet", executor=executor, chunk_rows=5_000
        )
        logged: list[int] = []
        returned = score_batch(
            model,
            source,
            executor=executor,
            on_chunk=lambda ids, inputs, scores: logged.append(inputs.num_rows),
        ).table
    local_rows = pq.read_table(tmp_path / "local.parquet").drop(["prediction_id"])
    remote_rows = pq.read_table(tmp_path / "remote.parquet")
    assert remote_rows.drop(["prediction_id"]).equals(local_rows)
    assert remote.rows == len(rows)
    np.testing.assert_array_equal(remote_rows.column("prediction").to_numpy(), gbm.predict(rows))
    assert remote_rows.column("customer").equals(table.column("customer"))
    ids = remote_rows.column("prediction_id").to_pylist()
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert returned is not None
    assert returned.drop(["prediction_id"]).equals(local_rows)
    # One chunk per row group, except the last two, halved so that both workers share the end.
    assert logged == [7_000] * 7 + [3_500, 3_500, 2_000, 2_000]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "store"
    mc.configure(uri=str(folder))
    mc.set_project("bc", task="classification", target="target")
    yield folder
    session.configure()


def _register(gbm: GradientBoostingClassifier, X: pd.DataFrame) -> str:
    with mc.start_run(name="train") as run:
        mc.log_model(gbm, input_example=X.head(20))
    return mc.models.register(run, "bc-gbm").ref


def _cli() -> typer.Typer:
    """The root app, with ``predict`` added when the root does not list it yet."""
    root = cli_app.app
    if any(c.name == "predict" for c in root.registered_commands):
        return root
    app = typer.Typer(cls=ErrorHandlingGroup, pretty_exceptions_enable=False)
    app.callback()(cli_app.root)
    app.command()(predict)
    return app


def test_the_predict_command_scores_a_file_on_a_real_store(
    store: Path,
    tmp_path: Path,
    gbm: GradientBoostingClassifier,
    data: tuple[pd.DataFrame, pd.Series],
    rows: pd.DataFrame,
) -> None:
    ref = _register(gbm, data[0])
    source = tmp_path / "to-score.parquet"
    rows.head(25_000).to_parquet(source, index=False)
    target = tmp_path / "scores.parquet"
    args = ["--uri", str(store), "predict", ref, "--input", str(source), "--output", str(target)]
    result = CliRunner().invoke(_cli(), [*args, "-p", "bc", "--chunk-rows", "4000", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 25_000
    written = pq.read_table(target).to_pandas()
    np.testing.assert_array_equal(written["prediction"].to_numpy(), gbm.predict(rows.head(25_000)))
    assert written["prediction_id"].iloc[0] == summary["first_id"]
    assert written["prediction_id"].iloc[-1] == summary["last_id"]

    on_workers = tmp_path / "scores-workers.parquet"
    args[-1] = str(on_workers)
    result = CliRunner().invoke(_cli(), [*args, "-p", "bc", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    remote = pq.read_table(on_workers).drop(["prediction_id"])
    assert remote.equals(pq.read_table(target).drop(["prediction_id"]))


def test_the_predict_command_names_a_missing_model(store: Path, tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("a\n1\n")
    args = ["--uri", str(store), "predict", "nope@1", "-i", str(source), "-o", "out.parquet"]
    result = CliRunner().invoke(_cli(), [*args, "-p", "bc"])
    assert result.exit_code == 1
    assert "nope" in result.stderr
    assert "modelcycle models list" in result.stderr


def test_predict_batch_reads_a_dataset_ref_and_returns_a_frame(
    store: Path,
    gbm: GradientBoostingClassifier,
    data: tuple[pd.DataFrame, pd.Series],
    rows: pd.DataFrame,
) -> None:
    ref = _register(gbm, data[0])
    version = mc.data.register("to-score", rows.head(3_000))
    scored = predict_batch(ref, version.ref, chunk_rows=1_000)
    assert isinstance(scored, pd.DataFrame)
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), gbm.predict(rows.head(3_000)))
    from_frame = predict_batch(ref, rows.head(3_000), with_proba=False)
    assert isinstance(from_frame, pd.DataFrame)
    assert list(from_frame.columns[:2]) == ["prediction_id", "prediction"]
    written = predict_batch(ref, rows.head(3_000), store / "out.parquet")
    assert isinstance(written, BatchResult)
    assert written.rows == 3_000
