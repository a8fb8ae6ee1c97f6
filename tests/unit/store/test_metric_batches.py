"""Batches of many keys stored as one row: histories, and revision 0006 up and down with data.

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math

from alembic import command
from sqlalchemy import func, select

from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore, open_metadata_store
from modelcycle.store.metadata._run_writes import BATCH_ROW_KEYS
from modelcycle.store.metadata._tables import metric_chunks
from modelcycle.store.metadata.schema import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    upgrade,
)

N_KEYS = BATCH_ROW_KEYS + 8


def _new_run(store: SqlMetadataStore) -> str:
    project = store.projects.upsert("p", None)
    run_id = new_id()
    store.runs.create(
        NewRun(run_id, project.id, None, None, 1, None, None, CodeVersion(), None, {})
    )
    return run_id


def _rows(store: SqlMetadataStore) -> list[tuple[str | None, int]]:
    with store.uow.read() as conn:
        query = select(metric_chunks.c.key, metric_chunks.c.count).order_by(metric_chunks.c.id)
        return [(key, count) for key, count in conn.execute(query)]


def _histories(store: SqlMetadataStore, run_id: str) -> dict[str, tuple[object, ...]]:
    histories: dict[str, tuple[object, ...]] = {}
    for key in [f"m{i}" for i in range(N_KEYS)] + ["loss", "m"]:
        history = store.runs.metric_history(run_id, key)
        histories[key] = (history.steps, history.timestamps, tuple(map(repr, history.values)))
    return histories


def _log(store: SqlMetadataStore, run_id: str) -> None:
    """A run logged with batches of both kinds, repeated keys, and keys that contain others."""
    many = [(f"m{i}", i / 7, 0, 100 + i) for i in range(N_KEYS)]
    store.runs.log_batch(run_id, metrics=many)
    store.runs.log_batch(run_id, metrics=[("loss", 0.5, 0, 1), ("loss", 0.25, 1, 2)])
    # many keys again, with "m1" twice (its later step wins) and a NaN, steps out of order
    again = [(f"m{i}", -float(i), 2, 300) for i in range(N_KEYS)]
    again += [("m1", math.nan, 1, 301), ("m", 9.0, 0, 5)]
    store.runs.log_batch(run_id, metrics=again)
    store.runs.log_batch(run_id, metrics=[("m1", 3.0, 3, 400)])


def test_a_batch_of_many_keys_is_one_row_and_each_history_reads_its_own_points(
    store: SqlMetadataStore,
) -> None:
    run_id = _new_run(store)
    _log(store, run_id)
    rows = _rows(store)
    assert rows == [(None, N_KEYS), ("loss", 2), (None, N_KEYS + 2), ("m1", 1)]
    m1 = store.runs.metric_history(run_id, "m1")
    assert m1.steps == (0, 1, 2, 3)
    assert m1.timestamps == (101, 301, 300, 400)
    assert m1.values[0] == 1 / 7
    assert math.isnan(m1.values[1])
    assert m1.values[2:] == (-1.0, 3.0)
    # "m" is a prefix of every other key and stored only in the second batch row
    assert store.runs.metric_history(run_id, "m").values == (9.0,)
    assert store.runs.metric_history(run_id, "m3").values == (3 / 7, -3.0)
    assert store.runs.metric_history(run_id, "loss").values == (0.5, 0.25)
    assert len(store.runs.metric_history(run_id, "absent")) == 0
    run = store.runs.get(run_id)
    assert run.metrics["m1"] == 3.0
    assert run.metrics["m2"] == -2.0
    assert run.metrics["m"] == 9.0


def test_a_batch_of_many_keys_of_another_run_is_not_read(store: SqlMetadataStore) -> None:
    first, second = _new_run(store), _new_run(store)
    store.runs.log_batch(first, metrics=[(f"m{i}", 1.0, 0, 1) for i in range(N_KEYS)])
    store.runs.log_batch(second, metrics=[(f"m{i}", 2.0, 0, 1) for i in range(N_KEYS)])
    assert store.runs.metric_history(first, "m0").values == (1.0,)
    assert store.runs.metric_history(second, "m0").values == (2.0,)


def test_revision_0006_goes_down_and_up_keeping_every_point(store: SqlMetadataStore) -> None:
    """Down to 0005 splits each batch row into chunks per key; up again reads the same."""
    run_id = _new_run(store)
    _log(store, run_id)
    before = _histories(store, run_id)
    url = store.engine.url.render_as_string(hide_password=False)
    store.engine.dispose()
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
        assert current_revision(conn) == "0005"
        keys = conn.execute(select(metric_chunks.c.key)).scalars().all()
        assert None not in keys
        assert len(keys) == 2 * N_KEYS + 3  # one chunk per key of each batch row, and two
        assert conn.execute(select(func.sum(metric_chunks.c.count))).scalar_one() == (
            2 * N_KEYS + 5
        )
    assert upgrade(store.engine) == ("0005", HEAD_REVISION)
    reopened = open_metadata_store(url)
    try:
        assert _histories(reopened, run_id) == before
        assert reopened.runs.get(run_id).metrics == store.runs.get(run_id).metrics
        _log(reopened, run_id)  # and the upgraded store takes batches of many keys again
        assert _rows(reopened)[-4:] == [(None, N_KEYS), ("loss", 2), (None, N_KEYS + 2), ("m1", 1)]
    finally:
        reopened.close()


def test_batch_rows_of_the_same_keys_and_of_others_read_alike(store: SqlMetadataStore) -> None:
    """Rows listing the same keys are cut on the server; a row in another order comes whole."""
    run_id = _new_run(store)
    keys = [f"m{i}" for i in range(N_KEYS)]
    for step in range(3):
        store.runs.log_batch(
            run_id, metrics=[(k, step + i / 100, step, 10) for i, k in enumerate(keys)]
        )
    reordered = list(reversed(keys))
    store.runs.log_batch(run_id, metrics=[(k, -1.0, 3, 10) for k in reordered])
    for i in (0, 7, N_KEYS - 1):
        history = store.runs.metric_history(run_id, f"m{i}")
        assert history.steps == (0, 1, 2, 3)
        assert history.values == (i / 100, 1 + i / 100, 2 + i / 100, -1.0)
