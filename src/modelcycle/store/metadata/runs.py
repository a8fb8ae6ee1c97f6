"""Runs: creation, batched logging, ending, reading, history and search.

The repository opens the transactions; the work inside them lives in private modules by job:
``_run_writes`` (creating a run, merging a batch into it), ``_run_search`` (search
statements) and ``_search_driver`` (where a search starts), ``_run_rows`` (rows to ``Run``
entities).
"""

from __future__ import annotations

import functools
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update

from modelcycle.core.entities.run import (
    ArtifactEntry,
    CodeVersion,
    Environment,
    MetricHistory,
    MetricTuple,
    Run,
    RunInput,
    RunStatus,
)
from modelcycle.core.errors import NotFound
from modelcycle.store.metadata import _bulk
from modelcycle.store.metadata._codec import loads
from modelcycle.store.metadata._run_rows import RUN_COLUMNS, to_run, to_runs
from modelcycle.store.metadata._run_search import count_query, ensure_statistics, search_rows
from modelcycle.store.metadata._run_writes import (
    apply_batch,
    insert_environment,
    insert_run,
    run_pk,
    run_values,
)
from modelcycle.store.metadata._series import FLOAT, INT, unpack_floats, unpack_ints
from modelcycle.store.metadata._tables import (
    environments,
    projects,
    run_artifacts,
    run_inputs,
    runs,
)
from modelcycle.store.metadata._upsert import upsert

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modelcycle.core.filters import Expr, OrderKey
    from modelcycle.store.metadata._unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a run is created with."""

    id: str
    project_id: int
    name: str | None
    parent_id: str | None
    start_time: int
    host: str | None
    pid: int | None
    code: CodeVersion
    environment: Environment | None
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LiveRun:
    """A running run as the reaper sees it."""

    id: str
    host: str | None
    pid: int | None
    heartbeat_at: int | None


_SELECT_RUN = select(runs.c.pk, *RUN_COLUMNS).join(projects).where(runs.c.id == bindparam("run_id"))


class RunRepository:
    """The stored side of tracking."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._known_environments: set[str] = set()

    # -- writes -----------------------------------------------------------------------------

    def create(self, new: NewRun) -> None:
        """Insert the run (and its environment, once per distinct content).

        Not waited to reach the disk on PostgreSQL: the run's end (or any durable write to
        it) makes it durable, and a crash of the calling process loses nothing (see
        ``_engine``'s docstring for what a crash of the server can lose).
        """
        env = new.environment
        values = run_values(
            run_id=new.id,
            project_id=new.project_id,
            parent_id=new.parent_id,
            name=new.name,
            start_time=new.start_time,
            host=new.host,
            pid=new.pid,
            code=new.code,
            environment_digest=env.digest if env else None,
        )
        with self._uow.pipelined(durable=False) as conn:
            if env is not None and env.digest not in self._known_environments:
                insert_environment(conn, env, new.start_time)
            insert_run(conn, values, new.tags)
        if env is not None:
            self._known_environments.add(env.digest)

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
        durable: bool = True,
    ) -> None:
        """Write params, metric points and tags of one run in one transaction.

        ``durable=False``: on PostgreSQL the commit does not wait for the disk; for writes
        whose durability the run's end implies (see ``UnitOfWork.write``).
        """
        with self._uow.pipelined(durable=durable) as conn:
            apply_batch(conn, run_id, params or {}, metrics, tags or {})

    def end(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        error: str | None = None,
        *,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write the last batch and the final status together: durable when this returns."""
        with self._uow.pipelined() as conn:
            apply_batch(
                conn,
                run_id,
                {},
                metrics,
                tags or {},
                {
                    "status": status.value,
                    "end_time": end_time,
                    "heartbeat_at": end_time,
                    "error": error,
                },
            )

    def heartbeat(self, run_ids: Sequence[str], now: int) -> None:
        """Record that the runs' owning process is alive."""
        if not run_ids:
            return
        with self._uow.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(run_ids), runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=now)
            )

    def live(self) -> list[LiveRun]:
        """Every run stored as running."""
        with self._uow.read() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat_at).where(
                    runs.c.status == RunStatus.RUNNING.value
                )
            ).all()
        return [LiveRun(r.id, r.host, r.pid, r.heartbeat_at) for r in rows]

    def mark_killed(self, dead: Sequence[LiveRun], reason: str) -> None:
        """Mark runs whose process died as killed, ended at their last heartbeat."""
        with self._uow.write() as conn:
            for run in dead:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run.id, runs.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.KILLED.value, end_time=run.heartbeat_at, error=reason)
                )

    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry], now: int) -> None:
        """Record logged files; logging the same path again replaces the entry."""
        with self._uow.write() as conn:
            pk = run_pk(conn, run_id)
            rows = [
                {
                    "run_pk": pk,
                    "path": e.path,
                    "digest": e.digest,
                    "size": e.size,
                    "created_at": now,
                }
                for e in entries
            ]
            upsert(
                conn,
                run_artifacts,
                rows,
                keys=["run_pk", "path"],
                update=["digest", "size", "created_at"],
            )

    def add_inputs(self, run_id: str, inputs: Sequence[RunInput]) -> None:
        """Record the dataset versions a run read."""
        with self._uow.write() as conn:
            pk = run_pk(conn, run_id)
            rows = [
                {"run_pk": pk, "dataset_version_id": i.dataset_version_id, "role": i.role}
                for i in inputs
            ]
            upsert(conn, run_inputs, rows, keys=["run_pk", "dataset_version_id", "role"])

    # -- reads ------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run:
        """The whole run, with its inputs and artifacts."""
        with self._uow.read() as conn:
            row = conn.execute(_SELECT_RUN, {"run_id": run_id}).first()
            if row is None:
                raise NotFound(f"no run with id {run_id!r}")
            inputs = tuple(
                RunInput(r.dataset_version_id, r.role)
                for r in conn.execute(
                    select(run_inputs)
                    .where(run_inputs.c.run_pk == row.pk)
                    .order_by(run_inputs.c.role, run_inputs.c.dataset_version_id)
                )
            )
            artifacts = tuple(
                ArtifactEntry(r.path, r.digest, r.size)
                for r in conn.execute(
                    select(run_artifacts)
                    .where(run_artifacts.c.run_pk == row.pk)
                    .order_by(run_artifacts.c.path)
                )
            )
        return to_run(row[1:], inputs, artifacts)

    def exists(self, run_id: str) -> bool:
        """Whether a run with this id is stored."""
        with self._uow.read() as conn:
            try:
                run_pk(conn, run_id)
            except NotFound:
                return False
            return True

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, by step then time (then logging order)."""
        with self._uow.query() as conn:
            dialect = conn.dialect.name
            params = {"run": run_id, "key": key, "line": f"\n{key}\n"}
            chunks = _bulk.run(conn, _select_chunks_sql(dialect), params).rows
            if not chunks:
                run_pk(conn, run_id)  # NotFound for an unknown run
                return MetricHistory(key, (), (), ())
        steps: array[int] = array("q")
        values: array[float] = array("d")
        stamps: array[int] = array("q")
        for _, keys, chunk_steps, chunk_values, chunk_stamps in chunks:
            if keys is None:  # a chunk of this key, or its one point cut out of a batch row
                steps.extend(unpack_ints(chunk_steps))
                values.extend(unpack_floats(chunk_values))
                stamps.extend(unpack_ints(chunk_stamps))
            else:  # a whole batch row
                for index in _lines_of(keys, key):
                    steps.append(INT.unpack_from(chunk_steps, 8 * index)[0])
                    values.append(FLOAT.unpack_from(chunk_values, 8 * index)[0])
                    stamps.append(INT.unpack_from(chunk_stamps, 8 * index)[0])
        if _is_sorted(steps, stamps):
            return MetricHistory(key, tuple(values), tuple(steps), tuple(stamps))
        order = sorted(range(len(steps)), key=lambda i: (steps[i], stamps[i]))
        return MetricHistory(
            key,
            tuple(values[i] for i in order),
            tuple(steps[i] for i in order),
            tuple(stamps[i] for i in order),
        )

    def search(
        self,
        *,
        project_ids: Sequence[int] | None,
        expr: Expr | None,
        order_by: Sequence[OrderKey],
        limit: int,
        offset: int,
    ) -> list[Run]:
        """Runs matching ``expr``, ordered, one page (``limit`` rows from ``offset``)."""
        ids = None if project_ids is None else tuple(project_ids)
        keys = tuple(order_by)
        with self._uow.query() as conn:
            ensure_statistics(conn)
            rows = search_rows(conn, ids, expr, keys, limit, offset, one_statement=True)
        if rows is None:  # the page needs two statements: read them in one snapshot
            with self._uow.read() as conn:
                rows = search_rows(conn, ids, expr, keys, limit, offset) or []
        return to_runs(rows, self._uow.dialect)

    def count(self, *, project_ids: Sequence[int] | None, expr: Expr | None) -> int:
        """How many runs match."""
        ids = None if project_ids is None else tuple(project_ids)
        with self._uow.read() as conn:
            return int(conn.execute(count_query(ids, expr)).scalar_one())

    def get_environment(self, digest: str) -> Environment:
        """A stored environment by digest."""
        with self._uow.read() as conn:
            row = conn.execute(select(environments).where(environments.c.digest == digest)).first()
        if row is None:
            raise NotFound(f"no environment with digest {digest!r}")
        return Environment(
            row.digest, row.python_version, row.platform, tuple(loads(row.packages_json))
        )


@functools.cache
def _select_chunks_sql(dialect: str) -> str:
    """The chunks of one metric of a run named by id, in the order they were written.

    Parameters by name: ``run`` (the run id), ``key``, and ``line``: the key between line
    breaks, as a batch row's ``keys`` holds it (see ``_tables.metric_chunks``). A run's batch
    rows mostly list the same keys in the same order, one point each: a batch row holding the
    key once gives its line, and of every batch row with the same ``keys_digest`` the server
    sends only that point, 8 bytes of each packed column (``keys`` NULL), without reading
    their ``keys``. Another batch row holding the key comes whole, with its ``keys``.
    """
    if dialect == "postgresql":
        find, line_break = "strpos", "chr(10)"
        run, key, line = "%(run)s", "%(key)s", "%(line)s"
    else:
        find, line_break = "instr", "char(10)"
        run, key, line = ":run", ":key", ":line"
    values, key_column = _bulk.quote(dialect, "values"), _bulk.quote(dialect, "key")
    # One row, computed once: PostgreSQL would inline it and SQLite flatten it into the
    # outer query, and both would compute it again for every batch row.
    once = "MATERIALIZED " if dialect == "postgresql" else ""
    found = (
        f"SELECT c.run_pk, c.keys, c.keys_digest, {find}(c.keys, {line}) AS at "
        f"FROM metric_chunks c JOIN runs r ON r.pk = c.run_pk WHERE r.id = {run} "
        f"AND c.{key_column} IS NULL AND {find}(c.keys, {line}) > 0 LIMIT 1"
    )
    # the line breaks up to the key's are its line number + 1; 8 bytes a point
    shared = (
        "SELECT f.run_pk, f.keys_digest, "
        f"8 * (f.at - length(replace(substr(f.keys, 1, f.at), {line_break}, ''))) - 7 AS at "
        f"FROM ({found}) f WHERE {find}(substr(f.keys, f.at + 1), {line}) = 0 LIMIT 1"
    )
    cut = "c.keys_digest = s.keys_digest"

    def point(column: str) -> str:
        return f"CASE WHEN {cut} THEN substr(c.{column}, s.at, 8) ELSE c.{column} END"

    return (
        f"WITH shared AS {once}({shared}) "
        f"SELECT c.id, NULL AS keys, c.steps, c.{values}, c.timestamps FROM metric_chunks c "
        f"JOIN runs r ON r.pk = c.run_pk WHERE r.id = {run} AND c.{key_column} = {key} "
        f"UNION ALL SELECT c.id, CASE WHEN {cut} THEN NULL ELSE c.keys END, "
        f"{point('steps')}, {point(values)}, {point('timestamps')} FROM metric_chunks c "
        f"JOIN runs r ON r.pk = c.run_pk LEFT JOIN shared s ON TRUE "
        f"WHERE r.id = {run} AND c.{key_column} IS NULL "
        f"AND (c.keys_digest = s.keys_digest OR {find}(c.keys, {line}) > 0) ORDER BY 1"
    )


def _lines_of(keys: str, key: str) -> list[int]:
    """The indexes of the points of ``key`` in a batch row's ``keys`` (one key per line)."""
    lines = keys[1:-1].split("\n")
    if lines.count(key) == 1:
        return [lines.index(key)]
    return [index for index, line in enumerate(lines) if line == key]


def _is_sorted(steps: Sequence[int], stamps: Sequence[int]) -> bool:
    previous_step, previous_stamp = steps[0], stamps[0]
    for step, stamp in zip(steps, stamps, strict=True):
        if step < previous_step or (step == previous_step and stamp < previous_stamp):
            return False
        previous_step, previous_stamp = step, stamp
    return True
