"""Dataset versions over a real SQLite store and artifact folder, and through ``mc.data``."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import modelcycle as mc
from modelcycle.core.entities.dataset import ColumnKind, DatasetVersion, Lineage, Operation
from modelcycle.core.errors import IntegrityError, InvalidInput, NotFound
from modelcycle.sdk import session
from modelcycle.services.data.sources import SourceOptions
from modelcycle.services.data.versions import DatasetVersions
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT = "demo"


@pytest.fixture
def artifact_folder(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def versions(tmp_path: Path, artifact_folder: Path) -> Iterator[DatasetVersions]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'meta.db'}")
    yield DatasetVersions(metadata, open_artifact_store(str(artifact_folder)))
    metadata.close()


def _blobs(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "sha256").rglob("*") if p.is_file())


def _blob_of(folder: Path, version: DatasetVersion) -> Path:
    found = [p for p in _blobs(folder) if p.name == version.snapshot_digest]
    assert len(found) == 1
    return found[0]


def _frame(n: int = 5, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(offset, offset + n),
            "colour": [["red", "green", "blue"][i % 3] for i in range(n)],
            "score": [float(i) / 2 for i in range(n)],
        }
    )


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


# -- registering -----------------------------------------------------------------------------


def test_register_makes_version_one(versions: DatasetVersions, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", _frame())
    version = versions.register(PROJECT, "churn", path, description="first cut")
    assert version.version == 1
    assert version.ref == "churn@1"
    assert version.name == "churn"
    assert version.project == PROJECT
    assert version.num_rows == 5
    assert version.num_columns == 3
    assert version.size_bytes > 0
    assert len(version.digest) == 64
    assert version.description == "first cut"
    assert version.lineage.operation is Operation.REGISTER
    assert version.lineage.source["kind"] == "files"
    assert version.lineage.source["location"].endswith("d.csv")


def test_same_content_returns_the_same_version_and_stores_nothing_new(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    path = _write_csv(tmp_path / "d.csv", _frame(100))
    first = versions.register(PROJECT, "churn", path)
    blobs = _blobs(artifact_folder)
    assert len(blobs) == 1
    again = versions.register(PROJECT, "churn", path)
    assert again.id == first.id
    assert again.version == 1
    assert _blobs(artifact_folder) == blobs
    assert [v.version for v in versions.list_versions(PROJECT, "churn")] == [1]


def test_same_data_from_csv_pandas_polars_and_batch_sizes_has_one_digest(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    frame = _frame(300_000)  # more than two row groups
    path = _write_csv(tmp_path / "d.csv", frame)
    from_csv = versions.register(PROJECT, "a", path)
    from_pandas = versions.register(PROJECT, "b", frame)
    from_polars = versions.register(PROJECT, "c", pl.from_pandas(frame))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    small = pa.Table.from_batches(table.to_batches(max_chunksize=7_777))
    from_batches = versions.register(PROJECT, "d", small)
    digests = {v.digest for v in (from_csv, from_pandas, from_polars, from_batches)}
    assert len(digests) == 1
    snapshots = {v.snapshot_digest for v in (from_csv, from_pandas, from_polars, from_batches)}
    assert len(snapshots) == 1
    assert len(_blobs(artifact_folder)) == 1


def test_same_rows_from_sqlite_in_small_batches_has_the_same_digest(
    versions: DatasetVersions, tmp_path: Path
) -> None:
    frame = _frame(1_000)
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        frame.to_sql("t", conn, index=False)
    from_sql = versions.register(
        PROJECT,
        "sql",
        f"sqlite:///{db}",
        options=SourceOptions(query="select id, colour, score from t", batch_rows=10),
    )
    from_pandas = versions.register(PROJECT, "frame", frame)
    assert from_sql.digest == from_pandas.digest
    assert from_sql.lineage.source["kind"] == "sql"


def test_different_content_makes_version_two(
    versions: DatasetVersions, artifact_folder: Path
) -> None:
    first = versions.register(PROJECT, "churn", _frame(5))
    second = versions.register(PROJECT, "churn", _frame(6))
    assert (first.version, second.version) == (1, 2)
    assert first.digest != second.digest
    assert len(_blobs(artifact_folder)) == 2
    # Registering the first content again still returns version 1.
    assert versions.register(PROJECT, "churn", _frame(5)).version == 1


def test_same_content_under_another_name_is_its_own_version_one(
    versions: DatasetVersions, artifact_folder: Path
) -> None:
    a = versions.register(PROJECT, "a", _frame())
    b = versions.register(PROJECT, "b", _frame())
    assert (a.name, a.version, b.name, b.version) == ("a", 1, "b", 1)
    assert a.id != b.id
    assert len(_blobs(artifact_folder)) == 1  # one blob: the store is content-addressed


def test_invalid_dataset_name_is_refused(versions: DatasetVersions) -> None:
    with pytest.raises(InvalidInput, match=r"dataset name 'bad name!' is not valid"):
        versions.register(PROJECT, "bad name!", _frame())


# -- resolving references ----------------------------------------------------------------------


@pytest.fixture
def two_versions(versions: DatasetVersions) -> tuple[DatasetVersion, DatasetVersion]:
    return versions.register(PROJECT, "churn", _frame(3)), versions.register(
        PROJECT, "churn", _frame(4)
    )


def test_get_by_number_latest_name_and_version(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    first, second = two_versions
    assert versions.get(PROJECT, "churn@1").id == first.id
    assert versions.get(PROJECT, "churn@2").id == second.id
    assert versions.get(PROJECT, "churn@latest").id == second.id
    assert versions.get(PROJECT, "churn").id == second.id
    assert versions.get(PROJECT, first).id == first.id
    assert versions.get_by_id(second.id).ref == "churn@2"


def test_unknown_version_lists_what_exists(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    with pytest.raises(NotFound, match=r"dataset 'churn' has no version 7 \(versions 1 to 2\)"):
        versions.get(PROJECT, "churn@7")


def test_unknown_name_lists_the_datasets(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    with pytest.raises(NotFound, match=r"no dataset named 'chrun' .*\(datasets: churn\)"):
        versions.get(PROJECT, "chrun@1")


def test_unknown_project_is_not_found(versions: DatasetVersions) -> None:
    with pytest.raises(NotFound, match=r"nowhere"):
        versions.get("nowhere", "churn")


def test_alias_refs_are_refused(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    with pytest.raises(InvalidInput, match=r"not aliases: use 'churn@<number>'.*'churn@prod'"):
        versions.get(PROJECT, "churn@prod")


def test_malformed_ref_is_refused(versions: DatasetVersions) -> None:
    with pytest.raises(InvalidInput, match=r"churn@"):
        versions.get(PROJECT, "churn@")
    with pytest.raises(InvalidInput, match=r"got int"):
        versions.get(PROJECT, 3)


def test_list_datasets_and_versions(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    versions.register(PROJECT, "alpha", _frame())
    listed = versions.list_datasets(PROJECT)
    assert [(d.name, d.latest_version, d.version_count) for d in listed] == [
        ("alpha", 1, 1),
        ("churn", 2, 2),
    ]
    assert [v.version for v in versions.list_versions(PROJECT, "churn")] == [2, 1]
    assert versions.list_datasets("empty-project") == []


# -- schema and lineage ------------------------------------------------------------------------


def test_schema_types_kinds_nulls_and_categories(versions: DatasetVersions) -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3, 4],
            "x": [0.5, None, 1.5, None],
            "colour": ["red", "blue", None, "red"],
            "flag": [True, False, True, True],
            "when": pd.to_datetime(pd.Series(["2026-01-01", "2026-01-02", None, "2026-01-04"])),
            "note": pd.Series([f"free text {i}" for i in range(4)], dtype="object"),
            "cat": pd.Categorical(["a", "b", "a", "a"]),
        }
    )
    many = [f"text number {i}" for i in range(60)]
    version = versions.register(PROJECT, "typed", frame)
    schema = version.schema
    assert schema.names == ("n", "x", "colour", "flag", "when", "note", "cat")
    assert (schema["n"].dtype, schema["n"].kind, schema["n"].nullable) == (
        "int64",
        ColumnKind.NUMERIC,
        False,
    )
    assert (schema["x"].dtype, schema["x"].null_count, schema["x"].nullable) == ("double", 2, True)
    assert schema["colour"].dtype == "string"
    assert schema["colour"].kind is ColumnKind.CATEGORICAL
    assert schema["colour"].categories == ("blue", "red")
    assert schema["colour"].null_count == 1
    assert schema["flag"].kind is ColumnKind.BOOLEAN
    assert schema["flag"].categories is None
    assert schema["when"].kind is ColumnKind.DATETIME
    assert schema["when"].dtype.startswith("timestamp")
    assert schema["when"].null_count == 1
    assert schema["cat"].kind is ColumnKind.CATEGORICAL
    assert schema["cat"].categories == ("a", "b")
    assert schema["n"].categories is None

    texts = versions.register(PROJECT, "texts", pd.DataFrame({"t": many}))
    assert texts.schema["t"].kind is ColumnKind.TEXT
    assert texts.schema["t"].categories is None
    # The schema survives the store round trip.
    assert versions.get(PROJECT, "typed@1").schema == schema


def test_lineage_from_a_database_url_hides_the_password(
    versions: DatasetVersions, tmp_path: Path
) -> None:
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        _frame().to_sql("t", conn, index=False)
    version = versions.register(PROJECT, "sql", f"sqlite:///{db}", options=SourceOptions(table="t"))
    assert version.lineage.source["table"] == "t"
    # A PostgreSQL URL with a password: the read fails (nothing listens), but the error and
    # nothing stored may show the password.
    with pytest.raises(InvalidInput, match=r"alice:\*\*\*@127\.0\.0\.1:1") as info:
        versions.register(
            PROJECT,
            "pg",
            "postgresql+psycopg://alice:hunter2@127.0.0.1:1/db",
            options=SourceOptions(query="select 1"),
        )
    assert "hunter2" not in str(info.value)


@pytest.mark.postgres
def test_lineage_of_a_postgres_source_shows_no_password(
    versions: DatasetVersions, postgres_url: str
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("create role reader login password 'hunter2'"))
        conn.execute(sa.text("create table t (a int)"))
        conn.execute(sa.text("insert into t values (1), (2)"))
        conn.execute(sa.text("grant select on t to reader"))
    engine.dispose()
    url = sa.engine.make_url(postgres_url).set(username="reader", password="hunter2")  # noqa: S106 - a throwaway role
    try:
        version = versions.register(
            PROJECT,
            "pg",
            url.render_as_string(hide_password=False),
            options=SourceOptions(query="select a from t order by a"),
        )
        stored = versions.get(PROJECT, "pg@1")
        assert version.num_rows == 2
        assert "hunter2" not in repr(stored.lineage.source)
        assert "reader:***@" in stored.lineage.source["location"]
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text("drop table t"))
            conn.execute(sa.text("drop role reader"))
        engine.dispose()


def test_add_table_records_parents_and_children(
    versions: DatasetVersions, two_versions: tuple[DatasetVersion, DatasetVersion]
) -> None:
    first, second = two_versions
    table = pa.table({"id": [1, 2]})
    lineage = Lineage(Operation.CLEAN, recipe={"steps": ["drop"]}, details={"seed": 1})
    child = versions.add_table(PROJECT, "churn-clean", table, lineage, parents=[first, second])
    assert child.lineage.parents == ("churn@1", "churn@2")
    assert child.lineage.operation is Operation.CLEAN
    stored = versions.get(PROJECT, "churn-clean")
    assert stored.lineage.parents == ("churn@1", "churn@2")
    assert stored.lineage.recipe == {"steps": ["drop"]}
    assert [c.id for c in versions.children(first)] == [child.id]
    assert [c.id for c in versions.children(second)] == [child.id]
    assert versions.children(child) == []


def test_add_table_with_no_rows_keeps_the_columns(versions: DatasetVersions) -> None:
    table = pa.table({"id": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    version = versions.add_table(PROJECT, "empty", table, Lineage(Operation.SPLIT))
    assert version.num_rows == 0
    loaded = version.load("arrow")
    assert loaded.schema.names == ["id", "s"]
    assert loaded.num_rows == 0


# -- loading -----------------------------------------------------------------------------------


def test_load_pandas_polars_arrow_and_columns(versions: DatasetVersions) -> None:
    frame = _frame(10)
    version = versions.register(PROJECT, "churn", frame)
    loaded = version.load()
    assert isinstance(loaded, pd.DataFrame)
    assert loaded["id"].tolist() == frame["id"].tolist()
    assert loaded["colour"].tolist() == frame["colour"].tolist()
    as_polars = version.load("polars")
    assert isinstance(as_polars, pl.DataFrame)
    assert as_polars["score"].to_list() == frame["score"].tolist()
    as_arrow = version.load("arrow", columns=("score", "id"))
    assert isinstance(as_arrow, pa.Table)
    assert as_arrow.schema.names == ["score", "id"]
    assert versions.load(version, "pandas", ("colour",)).columns.tolist() == ["colour"]


def test_load_unknown_column_or_output(versions: DatasetVersions) -> None:
    version = versions.register(PROJECT, "churn", _frame())
    with pytest.raises(InvalidInput, match=r"no column 'nope' in this dataset \(columns: id"):
        version.load(columns=("id", "nope"))
    with pytest.raises(InvalidInput, match=r"output must be one of pandas, polars, arrow"):
        version.load("excel")


def _writable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_damaged_snapshot_is_reported_never_returned(
    versions: DatasetVersions, artifact_folder: Path
) -> None:
    version = versions.register(PROJECT, "churn", _frame(1_000))
    blob = _blob_of(artifact_folder, version)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    _writable(blob)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"the snapshot of demo/churn@1 is damaged"):
        version.load()
    with pytest.raises(IntegrityError, match=r"damaged"):
        versions.read_table(versions.get(PROJECT, "churn@1"), ("id",))


def test_snapshot_replaced_by_other_valid_parquet_is_reported(
    versions: DatasetVersions, artifact_folder: Path
) -> None:
    version = versions.register(PROJECT, "churn", _frame(5))
    other = versions.register(PROJECT, "other", _frame(6))
    blob = _blob_of(artifact_folder, version)
    _writable(blob)
    blob.write_bytes(_blob_of(artifact_folder, other).read_bytes())
    with pytest.raises(IntegrityError, match=r"churn@1 is damaged"):
        version.load("arrow")


def test_missing_snapshot_is_not_found(versions: DatasetVersions, artifact_folder: Path) -> None:
    version = versions.register(PROJECT, "churn", _frame())
    blob = _blob_of(artifact_folder, version)
    _writable(blob)
    blob.unlink()
    with pytest.raises(NotFound, match=r"the snapshot of demo/churn@1 .* is missing"):
        version.load()


# -- failures leave nothing behind -------------------------------------------------------------


def _assert_nothing_registered(versions: DatasetVersions, artifact_folder: Path, name: str) -> None:
    assert name not in [d.name for d in versions.list_datasets(PROJECT)]
    with pytest.raises(NotFound, match=rf"no dataset named '{name}'"):
        versions.get(PROJECT, name)
    assert _blobs(artifact_folder) == []
    staging = artifact_folder / "tmp"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_malformed_csv_half_way_leaves_nothing(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    versions.project_id(PROJECT, create=True)
    path = tmp_path / "half.csv"
    good = 200_000
    with path.open("w") as out:
        out.write("a,b,c\n")
        out.writelines(f"{i},{i % 5},x{i % 3}\n" for i in range(good))
        out.write("1,2\n")
        out.writelines(f"{i},{i % 5},x\n" for i in range(100))
    temp = Path(tempfile.gettempdir())
    before = {p.name for p in temp.iterdir()}
    with pytest.raises(InvalidInput, match=rf"half\.csv: line {good + 2} has 2 fields"):
        versions.register(PROJECT, "half", path)
    after = {p.name for p in temp.iterdir()}
    assert not [n for n in after - before if n.startswith("modelcycle-snapshot-")]
    _assert_nothing_registered(versions, artifact_folder, "half")


def test_wrong_sql_query_leaves_nothing(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    versions.project_id(PROJECT, create=True)
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (a int)")
    with pytest.raises(InvalidInput, match=r"no such column: b"):
        versions.register(PROJECT, "q", f"sqlite:///{db}", options=SourceOptions(query="select b"))
    _assert_nothing_registered(versions, artifact_folder, "q")


def test_missing_file_leaves_nothing(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    versions.project_id(PROJECT, create=True)
    with pytest.raises(NotFound, match=r"no file at .*gone\.csv"):
        versions.register(PROJECT, "gone", tmp_path / "gone.csv")
    _assert_nothing_registered(versions, artifact_folder, "gone")


def test_failed_version_two_leaves_version_one_alone(
    versions: DatasetVersions, tmp_path: Path, artifact_folder: Path
) -> None:
    versions.register(PROJECT, "churn", _frame())
    blobs = _blobs(artifact_folder)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,colour,score\n1,red\n")
    with pytest.raises(InvalidInput, match=r"bad\.csv: line 2"):
        versions.register(PROJECT, "churn", bad)
    assert [v.version for v in versions.list_versions(PROJECT, "churn")] == [1]
    assert _blobs(artifact_folder) == blobs


# -- concurrency -------------------------------------------------------------------------------


def _register_in_child(metadata_url: str, artifacts: str, seed: int) -> None:
    metadata = open_metadata_store(metadata_url)
    try:
        store = DatasetVersions(metadata, open_artifact_store(artifacts))
        store.register(PROJECT, "shared", _frame(50, offset=seed * 1_000))
    finally:
        metadata.close()


def _register_concurrently(metadata_url: str, artifacts: str) -> list[int]:
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_register_in_child, args=(metadata_url, artifacts, seed))
        for seed in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    metadata = open_metadata_store(metadata_url)
    try:
        store = DatasetVersions(metadata, open_artifact_store(artifacts))
        listed = store.list_versions(PROJECT, "shared")
    finally:
        metadata.close()
    assert len({v.digest for v in listed}) == 4
    return sorted(v.version for v in listed)


@pytest.mark.slow
def test_concurrent_registration_numbers_without_gaps_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    open_metadata_store(url).close()  # create the schema once, before the race
    assert _register_concurrently(url, str(tmp_path / "artifacts")) == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_registration_numbers_without_gaps_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    open_metadata_store(postgres_url).close()
    assert _register_concurrently(postgres_url, str(tmp_path / "artifacts")) == [1, 2, 3, 4]


# -- the SDK -----------------------------------------------------------------------------------


@pytest.fixture
def sdk_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder store for the process-wide SDK, reset afterwards."""
    monkeypatch.setenv("MODELCYCLE_FLUSH_INTERVAL", "3600")
    folder = tmp_path / "store"
    mc.configure(str(folder))
    yield folder
    while mc.active_run() is not None:
        mc.end_run()
    session.configure()


def test_sdk_register_get_load_and_list(sdk_store: Path, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", _frame(8))
    version = mc.data.register("churn", path, dtypes={"score": "float"})
    assert version.ref == "churn@1"
    assert mc.data.get("churn@latest").id == version.id
    assert mc.data.get(version).id == version.id
    assert mc.data.load("churn@1")["id"].tolist() == list(range(8))
    assert mc.data.load("churn", output="polars").height == 8
    assert [d.name for d in mc.data.list_datasets()] == ["churn"]
    assert [v.ref for v in mc.data.versions("churn")] == ["churn@1"]
    assert version.lineage.source["options"] == {"dtypes": {"score": "float"}}
    assert list((sdk_store / "artifacts").rglob(version.snapshot_digest))


def test_sdk_register_inside_a_run_records_the_run(sdk_store: Path) -> None:
    with mc.start_run() as run:
        version = mc.data.register("churn", _frame())
    assert version.lineage.run_id == run.id
    assert mc.data.get("churn@1").lineage.run_id == run.id
    outside = mc.data.register("other", _frame(3))
    assert outside.lineage.run_id is None


def test_sdk_run_records_its_inputs(sdk_store: Path) -> None:
    version = mc.data.register("churn", _frame())
    with mc.start_run() as run:
        mc.log_input(mc.data.get("churn@1"), role="train")
    inputs = mc.get_run(run.id).inputs
    assert [(i.dataset_version_id, i.role) for i in inputs] == [(version.id, "train")]


def test_sdk_progress_reports_bytes_of_a_file(sdk_store: Path, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", _frame(1_000))
    seen: list[tuple[int, int | None, str]] = []
    mc.data.register(
        "churn", path, progress=lambda done, total, unit: seen.append((done, total, unit))
    )
    assert seen
    assert seen[-1] == (path.stat().st_size, path.stat().st_size, "bytes")
