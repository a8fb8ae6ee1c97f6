"""Runs: creation, batched logging, ending, reading, history and search.

Every write of a run goes through ``_apply_batch``, which locks the run row (``FOR UPDATE``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), merges the batch into
the run's JSON summary and writes the normalised rows, all in one transaction.

Statements on the hot paths are built once at import and bound at execution, which keeps
SQLAlchemy's per-call overhead to a cache lookup.
"""

from __future__ import annotations

import functools
import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update

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
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.core.filters import Namespace
from modelcycle.store.metadata._codec import (
    decode_metrics,
    dumps,
    encode_float,
    loads,
)
from modelcycle.store.metadata._filters_sql import compile_filter, compile_order, keyed_table
from modelcycle.store.metadata._series import pack, unpack_floats, unpack_ints
from modelcycle.store.metadata._tables import (
    environments,
    latest_metrics,
    metric_chunks,
    params,
    projects,
    run_artifacts,
    run_inputs,
    runs,
    tags,
)
from modelcycle.store.metadata._upsert import upsert

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection, Row

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


_RUN_COLUMNS = (*runs.c, projects.c.name.label("project_name"))
_SELECT_RUN = select(*_RUN_COLUMNS).join(projects).where(runs.c.id == bindparam("run_id"))
_SELECT_PK = select(runs.c.pk).where(runs.c.id == bindparam("run_id"))
_LOCK_RUN = (
    select(runs.c.pk, runs.c.params_json, runs.c.metrics_json, runs.c.tags_json)
    .where(runs.c.id == bindparam("run_id"))
    .with_for_update()
)
_INSERT_RUN = insert(runs)
_INSERT_TAGS = insert(tags)
_INSERT_PARAMS = insert(params)
_INSERT_CHUNK = insert(metric_chunks)
# SET columns come from the parameters given at execution.
_UPDATE_RUN = update(runs).where(runs.c.pk == bindparam("run_pk_"))
_SELECT_LATEST = select(
    latest_metrics.c.key,
    latest_metrics.c.value,
    latest_metrics.c.is_nan,
    latest_metrics.c.step,
    latest_metrics.c.timestamp,
).where(
    latest_metrics.c.run_pk == bindparam("run_pk"),
    latest_metrics.c.key.in_(bindparam("keys", expanding=True)),
)
_SELECT_CHUNKS = (
    select(metric_chunks.c.steps, metric_chunks.c["values"], metric_chunks.c.timestamps)
    .where(metric_chunks.c.run_pk == bindparam("run_pk"), metric_chunks.c.key == bindparam("key"))
    .order_by(metric_chunks.c.id)
)


class RunRepository:
    """The stored side of tracking."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._known_environments: set[str] = set()

    # -- writes -----------------------------------------------------------------------------

    def create(self, new: NewRun) -> None:
        """Insert the run (and its environment, once per distinct content)."""
        with self._uow.write() as conn:
            env = new.environment
            if env is not None and env.digest not in self._known_environments:
                upsert(
                    conn,
                    environments,
                    [
                        {
                            "digest": env.digest,
                            "python_version": env.python_version,
                            "platform": env.platform,
                            "packages_json": dumps(list(env.packages)),
                            "created_at": new.start_time,
                        }
                    ],
                    keys=["digest"],
                )
            code = new.code
            result = conn.execute(
                _INSERT_RUN,
                {
                    "id": new.id,
                    "project_id": new.project_id,
                    "parent_id": new.parent_id,
                    "name": new.name,
                    "status": RunStatus.RUNNING.value,
                    "start_time": new.start_time,
                    "heartbeat_at": new.start_time,
                    "host": new.host,
                    "pid": new.pid,
                    "git_commit": code.git_commit,
                    "git_branch": code.git_branch,
                    "git_dirty": code.git_dirty,
                    "diff_digest": code.diff_digest,
                    "entry_point": code.entry_point,
                    "repository": code.repository,
                    "environment_digest": env.digest if env else None,
                    "params_json": "{}",
                    "metrics_json": "{}",
                    "tags_json": dumps(dict(new.tags)),
                },
            )
            if new.tags:
                run_pk = result.inserted_primary_key[0]  # type: ignore[index]
                conn.execute(_INSERT_TAGS, [_tag_row(run_pk, k, v) for k, v in new.tags.items()])
        if env is not None:
            self._known_environments.add(env.digest)

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write params, metric points and tags of one run in one transaction."""
        with self._uow.write() as conn:
            _apply_batch(conn, run_id, params or {}, metrics, tags or {})

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
        with self._uow.write() as conn:
            _apply_batch(
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
            run_pk = _run_pk(conn, run_id)
            rows = [
                {
                    "run_pk": run_pk,
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
            run_pk = _run_pk(conn, run_id)
            rows = [
                {"run_pk": run_pk, "dataset_version_id": i.dataset_version_id, "role": i.role}
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
        return _to_run(row, inputs=inputs, artifacts=artifacts)

    def exists(self, run_id: str) -> bool:
        """Whether a run with this id is stored."""
        with self._uow.read() as conn:
            return conn.execute(_SELECT_PK, {"run_id": run_id}).first() is not None

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, by step then time (then logging order)."""
        with self._uow.read() as conn:
            run_pk = _run_pk(conn, run_id)
            chunks = conn.execute(_SELECT_CHUNKS, {"run_pk": run_pk, "key": key}).all()
        if not chunks:
            return MetricHistory(key, (), (), ())
        steps: array[int] = array("q")
        values: array[float] = array("d")
        stamps: array[int] = array("q")
        for chunk in chunks:
            steps.extend(unpack_ints(chunk[0]))
            values.extend(unpack_floats(chunk[1]))
            stamps.extend(unpack_ints(chunk[2]))
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
        """Runs matching ``expr``, ordered, one page (``limit`` rows from ``offset``).

        Ordering by a metric, param or tag runs in two phases so that the database can walk
        that key's index and stop after one page: first the runs that have a value for the
        key, in order; then the runs that have none, which sort last in either direction.
        """
        ids = None if project_ids is None else tuple(project_ids)
        with self._uow.read() as conn:
            if not order_by or order_by[0].field.namespace is Namespace.ATTRIBUTES:
                query = _plain_search(ids, expr, tuple(order_by))
                rows = conn.execute(query.limit(limit).offset(offset)).all()
            else:
                rows = _search_by_key(conn, ids, expr, tuple(order_by), limit, offset)
        return [_to_run(row) for row in rows]

    def count(self, *, project_ids: Sequence[int] | None, expr: Expr | None) -> int:
        """How many runs match."""
        query = select(func.count()).select_from(runs)
        if project_ids is not None:
            query = query.where(runs.c.project_id.in_(project_ids))
        if expr is not None:
            query = query.join(projects, projects.c.id == runs.c.project_id).where(
                compile_filter(expr)
            )
        with self._uow.read() as conn:
            return int(conn.execute(query).scalar_one())

    def get_environment(self, digest: str) -> Environment:
        """A stored environment by digest."""
        with self._uow.read() as conn:
            row = conn.execute(select(environments).where(environments.c.digest == digest)).first()
        if row is None:
            raise NotFound(f"no environment with digest {digest!r}")
        return Environment(
            row.digest, row.python_version, row.platform, tuple(loads(row.packages_json))
        )


# -- the write path ---------------------------------------------------------------------------


_QUERY_CACHE_SIZE = 256


def _where(project_ids: tuple[int, ...] | None, expr: Expr | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if project_ids is not None:
        where.append(runs.c.project_id.in_(project_ids))
    if expr is not None:
        where.append(compile_filter(expr))
    return where


def _base() -> Select[Any]:
    return select(*_RUN_COLUMNS).join(projects, projects.c.id == runs.c.project_id)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _plain_search(
    project_ids: tuple[int, ...] | None, expr: Expr | None, order_by: tuple[OrderKey, ...]
) -> Select[Any]:
    """The statement of a search ordered by attributes, built once per shape."""
    query, terms = compile_order(_base().where(*_where(project_ids, expr)), order_by)
    return query.order_by(*terms)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _keyed_search(
    project_ids: tuple[int, ...] | None, expr: Expr | None, order_by: tuple[OrderKey, ...]
) -> tuple[Select[Any], Select[Any]]:
    """Both phases of a search ordered by a metric, param or tag, built once per shape."""
    first, rest = order_by[0], order_by[1:]
    where = _where(project_ids, expr)
    table = keyed_table(first.field.namespace)
    ordered = table.alias("order_key")
    phase_a, rest_terms = compile_order(
        _base()
        .join(
            ordered,
            and_(
                ordered.c.run_pk == runs.c.pk,
                ordered.c.key == first.field.key,
                ordered.c.value.is_not(None),
            ),
        )
        .where(*where),
        rest,
    )
    value = ordered.c.value.desc() if first.descending else ordered.c.value.asc()
    has_value = and_(table.c.key == first.field.key, table.c.value.is_not(None))
    phase_b, terms = compile_order(
        _base().where(*where, ~exists().where(table.c.run_pk == runs.c.pk, has_value)), rest
    )
    return phase_a.order_by(value, *rest_terms), phase_b.order_by(*terms)


def _search_by_key(
    conn: Connection,
    project_ids: tuple[int, ...] | None,
    expr: Expr | None,
    order_by: tuple[OrderKey, ...],
    limit: int,
    offset: int,
) -> list[Row[Any]]:
    phase_a, phase_b = _keyed_search(project_ids, expr, order_by)
    rows = list(conn.execute(phase_a.limit(limit).offset(offset)).all())
    if len(rows) == limit:
        return rows
    if rows or offset == 0:
        count_a = offset + len(rows)
    else:
        count_a = conn.execute(
            select(func.count()).select_from(phase_a.order_by(None).subquery())
        ).scalar_one()
    rows.extend(
        conn.execute(phase_b.limit(limit - len(rows)).offset(max(0, offset - count_a))).all()
    )
    return rows


def _run_pk(conn: Connection, run_id: str) -> int:
    pk = conn.execute(_SELECT_PK, {"run_id": run_id}).scalar()
    if pk is None:
        raise NotFound(f"no run with id {run_id!r}")
    return int(pk)


def _apply_batch(
    conn: Connection,
    run_id: str,
    new_params: Mapping[str, str],
    new_metrics: Sequence[MetricTuple],
    new_tags: Mapping[str, str],
    columns: Mapping[str, Any] | None = None,
) -> None:
    """Merge a batch into the run, and set ``columns`` of the run row in the same UPDATE."""
    row = conn.execute(_LOCK_RUN, {"run_id": run_id}).first()
    if row is None:
        raise NotFound(f"no run with id {run_id!r}")
    changes: dict[str, Any] = dict(columns or {})
    if new_params:
        stored = _merge_params(conn, row.pk, run_id, loads(row.params_json), new_params)
        if stored is not None:
            changes["params_json"] = dumps(stored)
    if new_tags:
        stored_tags: dict[str, str] = loads(row.tags_json)
        changed = {k: v for k, v in new_tags.items() if stored_tags.get(k) != v}
        if changed:
            upsert(
                conn,
                tags,
                [_tag_row(row.pk, k, v) for k, v in changed.items()],
                keys=["run_pk", "key"],
                update=["value", "value_num"],
            )
            stored_tags.update(changed)
            changes["tags_json"] = dumps(stored_tags)
    if new_metrics:
        summary = _write_metrics(conn, row.pk, loads(row.metrics_json), new_metrics)
        if summary is not None:
            changes["metrics_json"] = dumps(summary)
    if changes:
        conn.execute(_UPDATE_RUN, {"run_pk_": row.pk, **changes})


def _merge_params(
    conn: Connection,
    run_pk: int,
    run_id: str,
    stored: dict[str, str],
    new_params: Mapping[str, str],
) -> dict[str, str] | None:
    """Insert new params; a key already stored with another value is a Conflict."""
    added = []
    for key, value in new_params.items():
        old = stored.get(key)
        if old is None:
            stored[key] = value
            added.append(
                {"run_pk": run_pk, "key": key, "value": value, "value_num": _as_number(value)}
            )
        elif old != value:
            raise Conflict(
                f"param {key!r} of run {run_id} is already {old!r}; it cannot be changed to "
                f"{value!r} (params are immutable: log a new run, or use a tag or a metric)"
            )
    if not added:
        return None
    conn.execute(_INSERT_PARAMS, added)
    return stored


def _later(a: tuple[float, int, int], b: tuple[float, int, int]) -> bool:
    """Whether point a=(value, step, ts) is later than b: by step, then time, then value."""
    if a[1] != b[1]:
        return a[1] > b[1]
    if a[2] != b[2]:
        return a[2] > b[2]
    return _order_value(a[0]) > _order_value(b[0])


def _order_value(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _write_metrics(
    conn: Connection,
    run_pk: int,
    summary: dict[str, float | str],
    points: Sequence[MetricTuple],
) -> dict[str, float | str] | None:
    """Append the batch as one chunk per key; move the latest values that it supersedes."""
    series: dict[str, tuple[list[int], list[float], list[int]]] = {}
    for key, value, step, timestamp in points:
        columns = series.get(key)
        if columns is None:
            columns = series[key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(value)
        columns[2].append(timestamp)
    conn.execute(
        _INSERT_CHUNK,
        [
            {
                "run_pk": run_pk,
                "key": key,
                "count": len(steps),
                "steps": pack("q", steps),
                "values": pack("d", values),
                "timestamps": pack("q", stamps),
            }
            for key, (steps, values, stamps) in series.items()
        ],
    )
    stored = {
        row.key: (math.nan if row.is_nan else row.value, row.step, row.timestamp)
        for row in conn.execute(_SELECT_LATEST, {"run_pk": run_pk, "keys": list(series)})
    }
    changed = []
    for key, (steps, values, stamps) in series.items():
        best = _latest_index(steps, values, stamps)
        point = (values[best], steps[best], stamps[best])
        old = stored.get(key)
        if old is None or _later(point, old):
            summary[key] = encode_float(point[0])
            nan = math.isnan(point[0])
            changed.append(
                {
                    "run_pk": run_pk,
                    "key": key,
                    "value": None if nan else point[0],
                    "is_nan": nan,
                    "step": point[1],
                    "timestamp": point[2],
                }
            )
    if not changed:
        return None
    upsert(
        conn,
        latest_metrics,
        changed,
        keys=["run_pk", "key"],
        update=["value", "is_nan", "step", "timestamp"],
    )
    return summary


def _latest_index(steps: list[int], values: list[float], stamps: list[int]) -> int:
    """The index of the latest point: highest step, then time, then value (NaN lowest)."""
    top = max(zip(steps, stamps, strict=True))
    tied = [i for i, pair in enumerate(zip(steps, stamps, strict=True)) if pair == top]
    return max(tied, key=lambda i: _order_value(values[i]))


def _tag_row(run_pk: int, key: str, value: str) -> dict[str, Any]:
    return {"run_pk": run_pk, "key": key, "value": value, "value_num": _as_number(value)}


def _as_number(text: str) -> float | None:
    """The numeric reading of a param or tag, so that filters can compare numerically."""
    if not text or len(text) > 64:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _is_sorted(steps: Sequence[int], stamps: Sequence[int]) -> bool:
    previous_step, previous_stamp = steps[0], stamps[0]
    for step, stamp in zip(steps, stamps, strict=True):
        if step < previous_step or (step == previous_step and stamp < previous_stamp):
            return False
        previous_step, previous_stamp = step, stamp
    return True


# -- rows to entities -------------------------------------------------------------------------


_STATUSES = {status.value: status for status in RunStatus}


def _to_run(
    row: Sequence[Any],
    *,
    inputs: tuple[RunInput, ...] = (),
    artifacts: tuple[ArtifactEntry, ...] = (),
) -> Run:
    # Unpacked by position: the column order of ``runs`` plus the project name.
    (
        _pk,
        run_id,
        _project_id,
        parent_id,
        name,
        status,
        start_time,
        end_time,
        heartbeat_at,
        host,
        pid,
        error,
        git_commit,
        git_branch,
        git_dirty,
        diff_digest,
        entry_point,
        repository,
        environment_digest,
        params_json,
        metrics_json,
        tags_json,
        project_name,
    ) = row
    return Run(
        id=run_id,
        project=project_name,
        name=name,
        status=_STATUSES[status],
        start_time=start_time,
        end_time=end_time,
        parent_id=parent_id,
        params=loads(params_json),
        metrics=decode_metrics(metrics_json),
        tags=loads(tags_json),
        code=CodeVersion(git_commit, git_branch, git_dirty, diff_digest, entry_point, repository),
        environment_digest=environment_digest,
        error=error,
        host=host,
        pid=pid,
        heartbeat_at=heartbeat_at,
        inputs=inputs,
        artifacts=artifacts,
    )
