"""How each pooled PostgreSQL connection is set up for the bulk write path."""

from __future__ import annotations

import json

from sqlalchemy import text

from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, _bulk, open_metadata_store
from modelcycle.store.metadata._engine import create_store_engine


def test_every_connection_sends_encoded_arrays_and_prefers_lz4(postgres_url: str) -> None:
    engine = create_store_engine(postgres_url)
    try:
        with engine.connect() as a, engine.connect() as b:  # two distinct pooled connections
            for conn in (a, b):
                assert conn.execute(text("SHOW default_toast_compression")).scalar() == "lz4"
                rows = _bulk.run(
                    conn,
                    "SELECT * FROM unnest(%b::int8[])",
                    [_bulk.encode_array(_bulk.INT8, [3, 4])],
                ).rows
                assert rows == [(3,), (4,)]
                driver = conn.connection.driver_connection
                assert driver is not None
                assert driver.autocommit is False  # the setting was made outside a transaction
    finally:
        engine.dispose()


def test_a_large_summary_is_stored_with_lz4_and_reads_back(postgres_url: str) -> None:
    store = open_metadata_store(postgres_url)
    try:
        project = store.projects.upsert("p", None)
        run_id = new_id()
        store.runs.create(
            NewRun(run_id, project.id, None, None, 1, None, None, CodeVersion(), None, {})
        )
        points = [(f"metric_{i:04d}", i / 7, 0, 5) for i in range(1_000)]
        store.runs.log_batch(run_id, metrics=points)
        with store.uow.read() as conn:
            method, stored = conn.execute(
                text("SELECT pg_column_compression(metrics_json), metrics_json FROM runs")
            ).one()
        assert method == "lz4"
        assert json.loads(stored) == {key: value for key, value, _, _ in points}
        assert store.runs.get(run_id).metrics == {key: value for key, value, _, _ in points}
    finally:
        store.close()
