"""Migrations: one head, tables and migrations agree, older stores upgrade in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from modelcycle.core.errors import SchemaOutdated, StoreError
from modelcycle.store.metadata import (
    HEAD_REVISION,
    SqlMetadataStore,
    current_revision,
    open_metadata_store,
    upgrade,
)
from modelcycle.store.metadata.schema import alembic_config
from tests.migrations.populate_store import (
    EXPECTED_DATASET,
    EXPECTED_LOSS,
    EXPECTED_MODEL,
    EXPECTED_PARAMS,
    EXPECTED_SEGMENT,
    EXPECTED_TAGS,
)

ASSETS = sorted((Path(__file__).parent.parent / "assets" / "stores").glob("*.db"))


def test_the_migrations_have_one_head_and_it_is_the_declared_one() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD_REVISION]


def test_every_revision_has_a_committed_store_asset() -> None:
    revisions = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    assert {path.stem for path in ASSETS} == revisions, "run `make store-asset` and commit it"


def _check(url: str) -> None:
    store = open_metadata_store(url)
    try:
        with store.engine.begin() as conn:
            command.check(alembic_config(conn))  # raises when tables and migrations differ
    finally:
        store.close()


def test_tables_and_migrations_agree_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'check.db'}")


@pytest.mark.postgres
def test_tables_and_migrations_agree_on_postgresql(postgres_url: str) -> None:
    _check(postgres_url)


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: p.stem)
def test_an_older_store_upgrades_in_place_and_keeps_its_data(asset: Path, tmp_path: Path) -> None:
    db = tmp_path / "modelcycle.db"
    shutil.copy(asset, db)
    engine = create_engine(f"sqlite:///{db}")
    before, after = upgrade(engine)
    engine.dispose()
    assert before == asset.stem
    assert after == HEAD_REVISION
    store = open_metadata_store(f"sqlite:///{db}")
    try:
        [parent] = [
            r
            for r in store.runs.search(project_ids=None, expr=None, order_by=(), limit=10, offset=0)
            if r.name == "parent"
        ]
        assert dict(parent.params) == EXPECTED_PARAMS
        assert dict(parent.tags) == EXPECTED_TAGS
        history = store.runs.metric_history(parent.id, "loss")
        assert len(history) == len(EXPECTED_LOSS)
        assert [v for v in history.values if v == v] == [v for v in EXPECTED_LOSS if v == v]
        assert store.runs.get(parent.id).inputs[0].role == "train"
        assert store.projects.get("asset").card.goal == 0.8
        if asset.stem >= "0002":
            _check_datasets(store)
        if asset.stem >= "0003":
            _check_models(store)
        if asset.stem >= "0004":
            _check_predictions(store)
    finally:
        store.close()


def test_downgrade_to_nothing_and_back_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    open_metadata_store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        assert current_revision(conn) is None
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION


def _set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()


def test_a_store_at_an_older_revision_asks_for_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_metadata_store(url).close()
    _set_revision(url, "0000")
    with pytest.raises(SchemaOutdated, match=r"revision 0000.*modelcycle db upgrade"):
        open_metadata_store(url)


def test_a_store_from_a_newer_modelcycle_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_metadata_store(url).close()
    _set_revision(url, "9999")
    with pytest.raises(SchemaOutdated, match=r"newer than this ModelCycle"):
        open_metadata_store(url)


def test_a_database_holding_other_tables_is_not_taken_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"not a ModelCycle store \(invoices\)"):
        open_metadata_store(url)


def _check_datasets(store: SqlMetadataStore) -> None:
    project_id = store.projects.get("asset").id
    [second, first] = store.datasets.list_versions(project_id, EXPECTED_DATASET)
    assert (first.version, first.num_rows, second.num_rows) == (1, 3, 2)
    assert first.schema["y"].null_count == 1
    assert first.lineage.run_id is not None
    assert [c.id for c in store.datasets.children(first.id)] == [second.id]
    assert store.datasets.latest_rules(project_id, EXPECTED_DATASET) == (1, {"rules": []})


def _check_models(store: SqlMetadataStore) -> None:
    project_id = store.projects.get("asset").id
    version = store.registry.get_version(project_id, EXPECTED_MODEL, "production")
    assert (version.version, version.approval.value) == (1, "approved")
    assert version.model.signature.input_names == ("x",)
    actions = [e.action for e in store.registry.events(project_id, EXPECTED_MODEL)]
    assert actions == ["register", "approved", "alias"]


def _check_predictions(store: SqlMetadataStore) -> None:
    version = EXPECTED_SEGMENT.model_version_id
    assert store.predictions.find_segments(model_version_id=version) == [EXPECTED_SEGMENT]
    inside = "018bcfe60000" + "a" * 20
    assert store.predictions.segments_containing(inside) == [EXPECTED_SEGMENT]
    assert store.predictions.segments_containing("018bcfe65261" + "0" * 20) == []


def _without_rowid(db: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE :marker"),
                {"marker": "%WITHOUT ROWID%"},
            )
            return {name for (name,) in rows}
    finally:
        engine.dispose()


def test_revision_0007_clusters_the_key_tables_and_goes_back_with_their_rows(
    tmp_path: Path,
) -> None:
    db = tmp_path / "modelcycle.db"
    shutil.copy(ASSETS[-1], db)
    assert ASSETS[-1].stem >= "0007"
    assert _without_rowid(db) == {"params", "tags", "latest_metrics"}
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            counts = [
                conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("params", "tags", "latest_metrics")
            ]
            command.downgrade(alembic_config(conn), "0006")
    finally:
        engine.dispose()
    assert _without_rowid(db) == set()
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            assert [
                conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("params", "tags", "latest_metrics")
            ] == counts
            assert all(counts)
    finally:
        engine.dispose()
    engine = create_engine(f"sqlite:///{db}")
    assert upgrade(engine) == ("0006", HEAD_REVISION)
    engine.dispose()
    _check(f"sqlite:///{db}")  # back at the head, tables and migrations agree
    assert _without_rowid(db) == {"params", "tags", "latest_metrics"}
