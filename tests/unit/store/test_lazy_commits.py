"""Commits that do not wait for the disk (``UnitOfWork.write(durable=False)``).

On PostgreSQL such a transaction runs with ``synchronous_commit`` off, and only that one: the
setting never outlives it on the pooled connection. SQLite takes the flag and changes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore, open_metadata_store
from modelcycle.store.metadata._bulk import run


@pytest.fixture
def store(store: SqlMetadataStore) -> SqlMetadataStore:
    """The store, on a PostgreSQL database whose commits wait for the disk by default.

    The test cluster turns the wait off for the whole server, to run faster.
    """
    if store.dialect == "postgresql":
        name = store.engine.url.database
        with store.engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
            conn.commit()
        store.engine.dispose()  # the pool's connections took the server's setting
    return store


def _setting(store: SqlMetadataStore, *, pipelined: bool, durable: bool) -> str:
    sql = "SHOW synchronous_commit" if store.dialect == "postgresql" else "PRAGMA synchronous"
    uow = store.uow
    block = uow.pipelined(durable=durable) if pipelined else uow.write(durable=durable)
    with block as conn:
        return str(run(conn, sql).rows[0][0])


@pytest.mark.parametrize("pipelined", [True, False])
def test_only_the_transaction_asked_for_skips_the_wait(
    store: SqlMetadataStore, pipelined: bool
) -> None:
    durable = _setting(store, pipelined=pipelined, durable=True)
    lazy = _setting(store, pipelined=pipelined, durable=False)
    after = _setting(store, pipelined=pipelined, durable=True)
    if store.dialect == "postgresql":
        assert (durable, lazy, after) == ("on", "off", "on")
    else:
        assert durable == lazy == after == "1"  # NORMAL, the engine's default


def test_a_failed_lazy_transaction_leaves_the_connection_durable(store: SqlMetadataStore) -> None:
    with (
        pytest.raises(RuntimeError, match="failed"),
        store.uow.pipelined(durable=False),
    ):
        raise RuntimeError("the block failed")
    expected = "on" if store.dialect == "postgresql" else "1"
    assert _setting(store, pipelined=True, durable=True) == expected


def test_a_created_run_is_seen_at_once_by_another_store_and_ends_durably(
    store: SqlMetadataStore,
) -> None:
    project = store.projects.upsert("p", None)
    run_id = new_id()
    store.runs.create(
        NewRun(run_id, project.id, None, None, 1, None, None, CodeVersion(), None, {"t": "1"})
    )
    other = open_metadata_store(store.engine.url.render_as_string(hide_password=False))
    try:
        assert other.runs.get(run_id).tags == {"t": "1"}
        other.runs.log_batch(run_id, params={"p": "a"}, durable=False)
        assert store.runs.get(run_id).params == {"p": "a"}
    finally:
        other.close()
