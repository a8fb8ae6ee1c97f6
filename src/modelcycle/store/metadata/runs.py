"""Runs: creation, batched logging, ending, reading, history and search.

Every write of a run goes through ``_apply_batch``, which locks the run row (``FOR UPDATE``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), merges the batch into
the run's JSON summary and writes the normalised rows, all in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from modelcycle.core.entities.run import (
    ArtifactEntry,
    CodeVersion,
    Environment,
    MetricHistory,
    Run,
    RunInput,
    RunStatus,
)
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.store.metadata._codec import decode_float, dumps, encode_float, loads
from modelcycle.store.metadata._filters_sql import compile_filter, compile_order
from modelcycle.store.metadata._tables import (
    environments,
    latest_metrics,
    metric_points,
    params,
    projects,
    run_artifacts,
    run_inputs,
    runs,
    tags,
)
from modelcycle.store.metadata._upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from modelcycle.core.filters import Expr, OrderKey
    from modelcycle.store.metadata._unit_of_work import UnitOfWork

MetricRow = tuple[str, float, int, int]
"""(key, value, step, timestamp in epoch ms): one metric point as logged."""


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


class RunRepository:
    """The stored side of tracking."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    # -- writes -----------------------------------------------------------------------------

    def create(self, new: NewRun) -> None:
        """Insert the run (and its environment, once per distinct content)."""
        with self._uow.write() as conn:
            if new.environment is not None:
                env = new.environment
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
                insert(runs).values(
                    id=new.id,
                    project_id=new.project_id,
                    parent_id=new.parent_id,
                    name=new.name,
                    status=RunStatus.RUNNING.value,
                    start_time=new.start_time,
                    heartbeat_at=new.start_time,
                    host=new.host,
                    pid=new.pid,
                    git_commit=code.git_commit,
                    git_branch=code.git_branch,
                    git_dirty=code.git_dirty,
                    diff_digest=code.diff_digest,
                    entry_point=code.entry_point,
                    repository=code.repository,
                    environment_digest=new.environment.digest if new.environment else None,
                    tags_json=dumps(dict(new.tags)),
                )
            )
            run_pk = result.inserted_primary_key[0] if result.inserted_primary_key else None
            if new.tags and run_pk is not None:
                conn.execute(insert(tags), [_tag_row(run_pk, k, v) for k, v in new.tags.items()])

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricRow] = (),
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
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricRow] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write the last batch and the final status together: durable when this returns."""
        with self._uow.write() as conn:
            _apply_batch(conn, run_id, params or {}, metrics, tags or {})
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status.value, end_time=end_time, heartbeat_at=end_time, error=error)
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
            row = conn.execute(
                select(*_RUN_COLUMNS).join(projects).where(runs.c.id == run_id)
            ).first()
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
            return conn.execute(select(runs.c.pk).where(runs.c.id == run_id)).first() is not None

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, by step then time."""
        with self._uow.read() as conn:
            run_pk = _run_pk(conn, run_id)
            rows = conn.execute(
                select(
                    metric_points.c.value,
                    metric_points.c.is_nan,
                    metric_points.c.step,
                    metric_points.c.timestamp,
                )
                .where(metric_points.c.run_pk == run_pk, metric_points.c.key == key)
                .order_by(metric_points.c.step, metric_points.c.timestamp, metric_points.c.id)
            ).all()
        if not rows:
            return MetricHistory(key, (), (), ())
        values, nans, steps, stamps = zip(*rows, strict=True)
        if any(nans):
            values = tuple(math.nan if nan else v for v, nan in zip(values, nans, strict=True))
        return MetricHistory(key, values, steps, stamps)

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
        query = select(*_RUN_COLUMNS).join(projects, projects.c.id == runs.c.project_id)
        if project_ids is not None:
            query = query.where(runs.c.project_id.in_(project_ids))
        if expr is not None:
            query = query.where(compile_filter(expr))
        query, ordering = compile_order(query, order_by)
        query = query.order_by(*ordering).limit(limit).offset(offset)
        with self._uow.read() as conn:
            rows = conn.execute(query).all()
        return [_to_run(row) for row in rows]

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


def _run_pk(conn: Connection, run_id: str) -> int:
    pk = conn.execute(select(runs.c.pk).where(runs.c.id == run_id)).scalar()
    if pk is None:
        raise NotFound(f"no run with id {run_id!r}")
    return int(pk)


def _apply_batch(
    conn: Connection,
    run_id: str,
    new_params: Mapping[str, str],
    new_metrics: Sequence[MetricRow],
    new_tags: Mapping[str, str],
) -> None:
    if not (new_params or new_metrics or new_tags):
        if not conn.execute(select(runs.c.pk).where(runs.c.id == run_id)).first():
            raise NotFound(f"no run with id {run_id!r}")
        return
    row = conn.execute(
        select(runs.c.pk, runs.c.params_json, runs.c.metrics_json, runs.c.tags_json)
        .where(runs.c.id == run_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no run with id {run_id!r}")
    changes: dict[str, str] = {}
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
        conn.execute(update(runs).where(runs.c.pk == row.pk).values(**changes))


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
    conn.execute(insert(params), added)
    return stored


def _newer(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether point a=(value, step, ts) is later than b: by step, then time, then value."""
    if a[1] != b[1]:
        return bool(a[1] > b[1])
    if a[2] != b[2]:
        return bool(a[2] > b[2])
    return _order_value(a[0]) > _order_value(b[0])


def _order_value(value: float | str) -> float:
    number = decode_float(value)
    return -math.inf if math.isnan(number) else number


def _write_metrics(
    conn: Connection,
    run_pk: int,
    summary: dict[str, list[Any]],
    points: Sequence[MetricRow],
) -> dict[str, list[Any]] | None:
    rows = []
    latest: dict[str, tuple[float, int, int]] = {}
    for key, value, step, timestamp in points:
        nan = value != value  # noqa: PLR0124 - the NaN test without a function call
        rows.append(
            {
                "run_pk": run_pk,
                "key": key,
                "value": None if nan else value,
                "is_nan": nan,
                "step": step,
                "timestamp": timestamp,
            }
        )
        best = latest.get(key)
        if best is None or _newer((value, step, timestamp), best):
            latest[key] = (value, step, timestamp)
    conn.execute(insert(metric_points), rows)
    changed = []
    for key, point in latest.items():
        old = summary.get(key)
        if old is None or _newer(point, old):
            summary[key] = [encode_float(point[0]), point[1], point[2]]
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


# -- rows to entities -------------------------------------------------------------------------


def _to_run(
    row: Row[Any],
    *,
    inputs: tuple[RunInput, ...] = (),
    artifacts: tuple[ArtifactEntry, ...] = (),
) -> Run:
    metrics_summary: dict[str, list[Any]] = loads(row.metrics_json)
    return Run(
        id=row.id,
        project=row.project_name,
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        parent_id=row.parent_id,
        params=loads(row.params_json),
        metrics={k: decode_float(v[0]) for k, v in metrics_summary.items()},
        tags=loads(row.tags_json),
        code=CodeVersion(
            git_commit=row.git_commit,
            git_branch=row.git_branch,
            git_dirty=row.git_dirty,
            diff_digest=row.diff_digest,
            entry_point=row.entry_point,
            repository=row.repository,
        ),
        environment_digest=row.environment_digest,
        error=row.error,
        host=row.host,
        pid=row.pid,
        heartbeat_at=row.heartbeat_at,
        inputs=inputs,
        artifacts=artifacts,
    )
