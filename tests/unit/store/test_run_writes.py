"""The run write path through the driver: latest values, chunking of many rows, conflicts.

Each test runs on SQLite and on PostgreSQL, and checks the stored rows and the run summary
(``Run.metrics``) against each other.
"""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select

from modelcycle.core.entities.run import CodeVersion, RunStatus
from modelcycle.core.errors import Conflict, NotFound, StoreError
from modelcycle.core.ids import new_id
from modelcycle.store.metadata import NewRun, SqlMetadataStore
from modelcycle.store.metadata._run_writes import BATCH_ROW_KEYS
from modelcycle.store.metadata._tables import latest_metrics, metric_chunks, params, tags


def _new_run(store: SqlMetadataStore, run_tags: dict[str, str] | None = None) -> str:
    project = store.projects.upsert("p", None)
    run_id = new_id()
    store.runs.create(
        NewRun(run_id, project.id, None, None, 1, None, None, CodeVersion(), None, run_tags or {})
    )
    return run_id


def _latest(store: SqlMetadataStore, key: str) -> tuple[float, int, int]:
    with store.uow.read() as conn:
        row = conn.execute(
            select(
                latest_metrics.c.value,
                latest_metrics.c.is_nan,
                latest_metrics.c.step,
                latest_metrics.c.timestamp,
            ).where(latest_metrics.c.key == key)
        ).one()
    return (math.nan if row.is_nan else row.value, row.step, row.timestamp)


def _count(store: SqlMetadataStore, table: object) -> int:
    with store.uow.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "latest"),
    [
        ((1.0, 5, 100), (2.0, 3, 200), (1.0, 5, 100)),  # an earlier step never wins
        ((1.0, 5, 100), (2.0, 6, 50), (2.0, 6, 50)),  # a later step wins, whatever the time
        ((1.0, 5, 100), (2.0, 5, 101), (2.0, 5, 101)),  # same step: the later time
        ((1.0, 5, 100), (0.5, 5, 100), (1.0, 5, 100)),  # same step and time: the larger value
        ((1.0, 5, 100), (3.0, 5, 100), (3.0, 5, 100)),
        ((math.nan, 5, 100), (-math.inf, 5, 100), (math.nan, 5, 100)),  # NaN is lowest
        ((math.nan, 5, 100), (-1.0, 5, 100), (-1.0, 5, 100)),
        ((2.0, 5, 100), (math.nan, 5, 100), (2.0, 5, 100)),
        ((math.inf, 1, 1), (math.nan, 2, 1), (math.nan, 2, 1)),
    ],
)
def test_the_latest_point_is_decided_across_batches(
    store: SqlMetadataStore,
    first: tuple[float, int, int],
    second: tuple[float, int, int],
    latest: tuple[float, int, int],
) -> None:
    run_id = _new_run(store)
    store.runs.log_batch(run_id, metrics=[("m", *first)])
    store.runs.log_batch(run_id, metrics=[("m", *second)])
    stored = _latest(store, "m")
    summary = store.runs.get(run_id).metrics["m"]
    assert stored[1:] == latest[1:]
    for value in (stored[0], summary):
        assert value == latest[0] or (math.isnan(value) and math.isnan(latest[0]))


def test_a_batch_where_only_some_keys_move_keeps_the_summary_exact(
    store: SqlMetadataStore,
) -> None:
    run_id = _new_run(store)
    store.runs.log_batch(run_id, metrics=[("a", 1.0, 10, 1), ("b", 1.0, 10, 1)])
    store.runs.log_batch(
        run_id,
        metrics=[("a", 2.0, 11, 1), ("b", 2.0, 9, 1), ("c", math.nan, 0, 1), ("b", 7.0, 8, 2)],
    )
    run = store.runs.get(run_id)
    assert run.metrics["a"] == 2.0
    assert run.metrics["b"] == 1.0
    assert math.isnan(run.metrics["c"])
    assert _latest(store, "b") == (1.0, 10, 1)
    history = store.runs.metric_history(run_id, "b")
    assert list(history.steps) == [8, 9, 10]
    assert list(history.values) == [7.0, 2.0, 1.0]


def test_a_batch_of_stored_keys_where_only_some_move_keeps_the_summary_exact(
    store: SqlMetadataStore,
) -> None:
    run_id = _new_run(store)
    first = [(f"k{i}", float(i), 10, 1) for i in range(50)]
    store.runs.log_batch(run_id, metrics=first)
    # Every key is stored: the even keys move (a later step), the odd ones do not.
    second = [(f"k{i}", -float(i), 11 if i % 2 == 0 else 9, 2) for i in range(50)]
    store.runs.log_batch(run_id, metrics=second)
    want = {f"k{i}": (-float(i) if i % 2 == 0 else float(i)) for i in range(50)}
    assert store.runs.get(run_id).metrics == want
    assert _latest(store, "k4") == (-4.0, 11, 2)
    assert _latest(store, "k5") == (5.0, 10, 1)
    assert _count(store, latest_metrics) == 50
    # All move: the summary is the batch.
    third = [(f"k{i}", math.inf if i == 7 else 100.0 + i, 12, 3) for i in range(50)]
    store.runs.log_batch(run_id, metrics=third)
    metrics = store.runs.get(run_id).metrics
    assert metrics == {key: value for key, value, _, _ in third}
    assert _latest(store, "k7") == (math.inf, 12, 3)


@pytest.mark.parametrize("n_keys", [1, 3, 16, 17, 128, 129, 300, 1000])
def test_many_keys_in_one_batch_are_all_stored(store: SqlMetadataStore, n_keys: int) -> None:
    """Rows go in statements of a few sizes; every row of every size lands, once."""
    run_id = _new_run(store)
    points = [(f"k{i:04d}", float(i), 0, 5) for i in range(n_keys)]
    store.runs.log_batch(
        run_id,
        metrics=points,
        params={f"p{i}": str(i) for i in range(n_keys)},
        tags={f"t{i}": "x" for i in range(n_keys)},
    )
    store.runs.log_batch(run_id, metrics=[(k, v + 0.5, 1, 6) for k, v, _, _ in points])
    run = store.runs.get(run_id)
    assert run.metrics == {f"k{i:04d}": i + 0.5 for i in range(n_keys)}
    assert run.params == {f"p{i}": str(i) for i in range(n_keys)}
    assert len(run.tags) == n_keys
    rows_per_batch = 1 if n_keys >= BATCH_ROW_KEYS else n_keys  # many keys: one row a batch
    assert _count(store, metric_chunks) == 2 * rows_per_batch
    assert _count(store, latest_metrics) == n_keys
    assert _count(store, params) == n_keys
    assert _count(store, tags) == n_keys
    for i in {0, n_keys // 2, n_keys - 1}:
        history = store.runs.metric_history(run_id, f"k{i:04d}")
        assert (list(history.values), list(history.steps)) == ([i, i + 0.5], [0, 1])


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_distinct_keys_keep_their_own_step_time_and_value(store: SqlMetadataStore) -> None:
    """One point per key with steps, times and values that all differ, non-finite among them."""
    run_id = _new_run(store)
    values = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e308, 2.5e-310]
    points = [(f"k{i}", v, 3 * i, 100 + 7 * i) for i, v in enumerate(values)]
    store.runs.log_batch(run_id, metrics=points)
    run = store.runs.get(run_id)
    for key, value, step, stamp in points:
        history = store.runs.metric_history(run_id, key)
        assert (history.steps, history.timestamps) == ((step,), (stamp,))
        assert _same(history.values[0], value)
        assert _same(run.metrics[key], value)
        latest = _latest(store, key)
        assert _same(latest[0], value)
        assert latest[1:] == (step, stamp)


def test_a_series_of_one_key_in_one_batch_is_one_chunk(store: SqlMetadataStore) -> None:
    run_id = _new_run(store)
    store.runs.log_batch(run_id, metrics=[("loss", 1.0 / (i + 1), i, 7) for i in range(500)])
    assert _count(store, metric_chunks) == 1
    history = store.runs.metric_history(run_id, "loss")
    assert list(history.steps) == list(range(500))
    assert store.runs.get(run_id).metrics["loss"] == 1.0 / 500


def test_a_conflicting_param_writes_nothing_of_its_batch(store: SqlMetadataStore) -> None:
    run_id = _new_run(store, {"t": "1"})
    store.runs.log_batch(run_id, params={"lr": "0.1"})
    with pytest.raises(Conflict, match="'lr'"):
        store.runs.log_batch(
            run_id, params={"depth": "3", "lr": "0.2"}, metrics=[("m", 1.0, 0, 1)], tags={"t": "2"}
        )
    run = store.runs.get(run_id)
    assert run.params == {"lr": "0.1"}
    assert run.metrics == {}
    assert run.tags == {"t": "1"}
    assert _count(store, metric_chunks) == 0
    store.runs.log_batch(run_id, params={"depth": "3"}, metrics=[("m", 1.0, 0, 1)])
    assert store.runs.get(run_id).params == {"lr": "0.1", "depth": "3"}


def test_tags_given_at_creation_are_stored_and_searchable(store: SqlMetadataStore) -> None:
    run_id = _new_run(store, {"team": "a", "size": "12"})
    assert store.runs.get(run_id).tags == {"team": "a", "size": "12"}
    assert _count(store, tags) == 2


def test_writing_to_an_unknown_run_is_not_found(store: SqlMetadataStore) -> None:
    with pytest.raises(NotFound, match="no run with id"):
        store.runs.log_batch(new_id(), metrics=[("m", 1.0, 0, 1)])
    with pytest.raises(NotFound, match="no run with id"):
        store.runs.end(new_id(), RunStatus.FINISHED, 1)


def test_ending_writes_the_last_batch_and_the_status_together(store: SqlMetadataStore) -> None:
    run_id = _new_run(store)
    store.runs.end(
        run_id, RunStatus.FAILED, 99, "boom", metrics=[("m", 1.0, 0, 1)], tags={"a": "b"}
    )
    run = store.runs.get(run_id)
    assert (run.status, run.end_time, run.error, run.heartbeat_at) == (
        RunStatus.FAILED,
        99,
        "boom",
        99,
    )
    assert run.metrics == {"m": 1.0}
    assert run.tags == {"a": "b"}


def test_driver_errors_are_translated(store: SqlMetadataStore) -> None:
    """Statements run on a driver cursor fail with the errors of the unit of work."""
    run_id = _new_run(store)
    project = store.projects.upsert("p", None)
    again = NewRun(run_id, project.id, None, None, 2, None, None, CodeVersion(), None, {})
    with pytest.raises(Conflict, match="refused a write"):
        store.runs.create(again)
    orphan = NewRun(new_id(), 10**9, None, None, 2, None, None, CodeVersion(), None, {})
    with pytest.raises(Conflict, match="refused a write"):
        store.runs.create(orphan)
    assert store.runs.get(run_id).start_time == 1
    # the pooled connections came back usable after the failed transactions
    store.runs.log_batch(run_id, metrics=[("m", 1.0, 0, 1)], params={"a": "1"})
    store.runs.end(run_id, RunStatus.FINISHED, 5)
    run = store.runs.get(run_id)
    assert (run.metrics, run.params, run.status) == ({"m": 1.0}, {"a": "1"}, RunStatus.FINISHED)


def test_a_statement_failing_on_the_server_after_queued_writes_undoes_them(
    store: SqlMetadataStore,
) -> None:
    """Chunks and latest values are queued before the tags that the server refuses."""
    if store.uow.dialect == "sqlite":
        pytest.skip("SQLite does not check the length of text; nothing is queued there")
    run_id = _new_run(store)
    store.runs.log_batch(run_id, metrics=[("m", 1.0, 0, 1)])
    too_long = "t" * 300  # past the column's 250 characters: only the server checks it here
    with pytest.raises(StoreError, match="too long"):
        store.runs.log_batch(
            run_id, metrics=[("m", 2.0, 1, 1), ("n", 3.0, 0, 1)], tags={too_long: "v"}
        )
    run = store.runs.get(run_id)
    assert (run.metrics, run.tags) == ({"m": 1.0}, {})
    assert _count(store, metric_chunks) == 1
    assert _count(store, latest_metrics) == 1
    with store.uow.pipelined() as conn:  # a pooled connection, ready for more
        driver = conn.connection.driver_connection
        assert driver is not None
    assert driver.autocommit is False
    assert driver.info.transaction_status.name == "IDLE"
    store.runs.log_batch(run_id, metrics=[("m", 2.0, 1, 1)], tags={"t": "v"})
    run = store.runs.get(run_id)
    assert (run.metrics, run.tags) == ({"m": 2.0}, {"t": "v"})
