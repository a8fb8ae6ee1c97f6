"""Stored run rows as ``Run`` entities.

A search page builds a hundred runs or more, so this is written for speed. The row holds the
columns of a ``Run`` in the order of its fields; the database joins the three JSON summaries
(params, metrics, tags) into one JSON array, parsed by one orjson call; runs of the same code
share one ``CodeVersion``; and the run's slots are filled through their descriptors rather
than the frozen dataclass's ``__init__``, whose ``object.__setattr__`` per field is two thirds
of building a run.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Text, literal_column

from modelcycle.core.entities.run import CodeVersion, Run, RunStatus
from modelcycle.store.metadata._codec import decode_float
from modelcycle.store.metadata._tables import projects, runs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import ColumnElement

    from modelcycle.core.entities.run import ArtifactEntry, RunInput


def _summaries() -> ColumnElement[str]:
    """``[params, metrics, tags]`` as one JSON text, from the three JSON columns."""
    text = Text()
    return (
        literal_column("'['", text)
        + runs.c.params_json
        + literal_column("','", text)
        + runs.c.metrics_json
        + literal_column("','", text)
        + runs.c.tags_json
        + literal_column("']'", text)
    ).label("summaries")


RUN_COLUMNS: tuple[ColumnElement[Any], ...] = (
    runs.c.id,
    projects.c.name.label("project_name"),
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.parent_id,
    _summaries(),
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
"""What a run is read with (``runs`` joined with ``projects``), in the order ``to_run`` unpacks."""

_STATUSES = {status.value: status for status in RunStatus}
_new = object.__new__
_SLOT_SETTERS: tuple[Callable[[Run, Any], None], ...] = tuple(
    getattr(Run, field.name).__set__ for field in dataclasses.fields(Run)
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


def _decoded(params: Any, metrics: dict[str, Any], tags: Any, text: str) -> dict[str, float]:
    """The metrics with NaN and the infinities (JSON strings) back as floats.

    Finite values are JSON numbers. When the text holds no quote beyond those around keys
    and string values of params and tags, no metric value is a string.
    """
    if text.count('"') == 2 * (2 * len(params) + len(metrics) + 2 * len(tags)):
        return metrics
    return {key: decode_float(value) for key, value in metrics.items()}


def to_run(
    row: Sequence[Any],
    inputs: tuple[RunInput, ...] = (),
    artifacts: tuple[ArtifactEntry, ...] = (),
) -> Run:
    """The run of a row selected with ``RUN_COLUMNS``."""
    (
        run_id,
        project_name,
        name,
        status,
        start_time,
        end_time,
        parent_id,
        summaries,
        git_commit,
        git_branch,
        git_dirty,
        diff_digest,
        entry_point,
        repository,
        environment_digest,
        error,
        host,
        pid,
        heartbeat_at,
    ) = row
    params, metrics, tags = orjson.loads(summaries)
    return new_run(
        (
            run_id,
            project_name,
            name,
            _STATUSES[status],
            start_time,
            end_time,
            parent_id,
            params,
            _decoded(params, metrics, tags, summaries),
            tags,
            _code(git_commit, git_branch, git_dirty, diff_digest, entry_point, repository),
            environment_digest,
            error,
            host,
            pid,
            heartbeat_at,
            inputs,
            artifacts,
        )
    )


def new_run(values: Sequence[Any]) -> Run:
    """``Run(*values)``, every field given, built without the frozen ``__init__``.

    The result is the same object: ``Run`` checks nothing when it is built.
    """
    run: Run = _new(Run)
    for set_slot, value in zip(_SLOT_SETTERS, values, strict=True):
        set_slot(run, value)
    return run
