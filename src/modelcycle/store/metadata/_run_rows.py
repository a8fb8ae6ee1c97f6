"""Stored run rows as ``Run`` entities.

A search page builds a hundred runs or more, so this is written for speed. The row holds the
columns of a ``Run`` in the order of its fields; the JSON summaries are parsed by orjson;
runs of the same code share one ``CodeVersion``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: for the
eighteen fields of a ``Run``, four fifths of the time to read one. A run is instead built as
``_RunSlots``, a plain dataclass with the same slots in the same order, whose ``__init__``
stores each field directly, and then becomes a ``Run`` by assigning its ``__class__``. CPython
allows that assignment only between classes of identical layout and raises ``TypeError``
otherwise, so a change to ``Run``'s fields cannot go unnoticed; the result is the object
``Run(*fields)`` builds (``Run`` checks nothing when it is built).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func

from modelcycle.core.entities.run import CodeVersion, Run, RunStatus
from modelcycle.store.metadata._codec import decode_metrics
from modelcycle.store.metadata._tables import projects, runs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement

    from modelcycle.core.entities.run import ArtifactEntry, RunInput


_SCALARS: tuple[ColumnElement[Any], ...] = (
    runs.c.id,
    projects.c.name,
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.parent_id,
    runs.c.git_commit,
    runs.c.git_branch,
    runs.c.git_dirty,
    runs.c.diff_digest,
    runs.c.entry_point,
    runs.c.repository,
    runs.c.environment_digest,
    runs.c.error,
    runs.c.host,
    runs.c.pid,
    runs.c.heartbeat_at,
)
_SUMMARIES = (runs.c.params_json, runs.c.metrics_json, runs.c.tags_json)

RUN_COLUMNS: tuple[ColumnElement[Any], ...] = (
    *_SCALARS[:1],
    projects.c.name.label("project_name"),
    *_SCALARS[2:],
    *_SUMMARIES,
)
"""What a run is read with (``runs`` joined with ``projects``), in the order ``to_run`` unpacks."""

_PACKED_COLUMNS: tuple[ColumnElement[Any], ...] = (
    func.json_array(*_SCALARS).label("scalars"),
    *_SUMMARIES,
)


def page_columns(dialect: str) -> tuple[ColumnElement[Any], ...]:
    """What a search selects on ``dialect``, in the order ``to_runs`` unpacks.

    Python's SQLite driver releases and takes back the GIL for each value it reads, so on
    SQLite the eighteen scalar columns come packed as one JSON array (a quarter of the
    instructions of reading them one by one); elsewhere they are ``RUN_COLUMNS``.
    """
    return _PACKED_COLUMNS if dialect == "sqlite" else RUN_COLUMNS


_STATUSES = {status.value: status for status in RunStatus}
_loads = orjson.loads
_RunSlots: Any = dataclasses.make_dataclass(
    "_RunSlots",
    [(field.name, Any) for field in dataclasses.fields(Run)],
    slots=True,
    eq=False,
    repr=False,
    match_args=False,
)


@functools.lru_cache(maxsize=256)
def _code(
    commit: str | None,
    branch: str | None,
    dirty: bool | None,
    diff: str | None,
    entry_point: str | None,
    repository: str | None,
) -> CodeVersion:
    return CodeVersion(
        commit, branch, None if dirty is None else bool(dirty), diff, entry_point, repository
    )


def to_runs(rows: Sequence[Sequence[Any]], dialect: str) -> list[Run]:
    """The runs of rows selected with ``page_columns(dialect)``."""
    if dialect != "sqlite":
        return [_run(row, row[18], row[19], row[20], (), ()) for row in rows]
    loads = orjson.loads
    return [_run(loads(scalars), p, m, t, (), ()) for scalars, p, m, t in rows]


def to_run(
    row: Sequence[Any],
    inputs: tuple[RunInput, ...] = (),
    artifacts: tuple[ArtifactEntry, ...] = (),
) -> Run:
    """The run of a row selected with ``RUN_COLUMNS``."""
    return _run(row, row[18], row[19], row[20], inputs, artifacts)


def _run(
    s: Sequence[Any],
    params_json: str,
    metrics_json: str,
    tags_json: str,
    inputs: tuple[RunInput, ...],
    artifacts: tuple[ArtifactEntry, ...],
) -> Run:
    """The run of ``s``, the scalar columns of ``RUN_COLUMNS`` in order, and its summaries.

    Written out by position, with the metrics decoded in place: a page calls this once per
    run, and the calls, names and tuples of a plainer version were a sixth of its time.
    """
    metrics = _loads(metrics_json)
    if metrics_json.count('"') != 2 * len(metrics):  # a NaN or an infinity among the values
        metrics = decode_metrics(metrics_json)
    run = _RunSlots(
        s[0],  # id
        s[1],  # project
        s[2],  # name
        _STATUSES[s[3]],
        s[4],  # start_time
        s[5],  # end_time
        s[6],  # parent_id
        _loads(params_json),
        metrics,
        _loads(tags_json),
        _code(s[7], s[8], s[9], s[10], s[11], s[12]),
        s[13],  # environment_digest
        s[14],  # error
        s[15],  # host
        s[16],  # pid
        s[17],  # heartbeat_at
        inputs,
        artifacts,
    )
    run.__class__ = Run
    return run  # type: ignore[no-any-return]
