"""Writes queued in a pipelined transaction go to PostgreSQL as few statements.

Writes to distinct tables travel as one statement (``WITH`` items of the last); a second write
to a table starts another statement, so that it sees the first. On SQLite nothing is queued.
"""

from __future__ import annotations

from modelcycle.core.entities.run import CodeVersion
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore
from modelcycle.store.metadata._bulk import Piped, quote, run, update_sql
from modelcycle.store.metadata._run_writes import run_pk


def test_writes_to_distinct_tables_are_one_statement_with_their_parameters_in_order() -> None:
    piped = Piped(None)
    piped.queue("INSERT INTO a (x) VALUES (%s)", (1,))
    piped.queue("UPDATE b SET y = %s WHERE z = %s", [2, 3])
    piped.queue("INSERT INTO a (x) VALUES (%s)", (4,))  # a again: a statement of its own
    piped.queue("SELECT pg_notify(%s, %s)", ("c", "d"))  # not a write: alone
    piped.queue("DELETE FROM c WHERE x = %s", (5,))
    assert piped.take() == [
        ("WITH w0 AS (INSERT INTO a (x) VALUES (%s)) UPDATE b SET y = %s WHERE z = %s", [1, 2, 3]),
        ("INSERT INTO a (x) VALUES (%s)", [4]),
        ("SELECT pg_notify(%s, %s)", ["c", "d"]),
        ("DELETE FROM c WHERE x = %s", [5]),
    ]
    assert piped.take() == []


def _run(store: SqlMetadataStore) -> str:
    project = store.projects.upsert("p", None)
    run_id = new_id()
    store.runs.create(
        NewRun(run_id, project.id, None, None, 1, None, None, CodeVersion(), None, {})
    )
    return run_id


def test_queued_writes_land_in_order_and_a_later_write_sees_an_earlier_one(
    store: SqlMetadataStore,
) -> None:
    run_id = _run(store)
    dialect = store.dialect
    mark = "%s" if dialect == "postgresql" else "?"
    insert = f"INSERT INTO tags (run_pk, {quote(dialect, 'key')}, value) "
    with store.uow.pipelined() as conn:
        pk = run_pk(conn, run_id)
        run(conn, f"{insert}VALUES ({mark}, 't', 'first')", (pk,), wait=False)
        run(conn, update_sql(dialect, "runs", ("name",), "pk"), ("renamed", pk), wait=False)
        # the same table again: must see the row queued above
        run(conn, f"UPDATE tags SET value = 'second' WHERE run_pk = {mark}", (pk,), wait=False)
        run(conn, update_sql(dialect, "runs", ("tags_json",), "pk"), ('{"t": "second"}', pk))
    stored = store.runs.get(run_id)
    assert stored.name == "renamed"
    assert stored.tags == {"t": "second"}
    with store.uow.read() as conn:
        rows = run(conn, f"SELECT value FROM tags WHERE run_pk = {mark}", (pk,)).rows
    assert [tuple(r) for r in rows] == [("second",)]
