"""Stored run rows as ``Run`` entities.

A search page builds a hundred runs or more, so this is written for speed: the row is
unpacked by position, the JSON summaries are parsed by orjson, and runs of the same code
share one ``CodeVersion``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.run import CodeVersion, Run, RunStatus
from modelcycle.store.metadata._codec import decode_metrics, loads
from modelcycle.store.metadata._tables import projects, runs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.core.entities.run import ArtifactEntry, RunInput

RUN_COLUMNS = (*runs.c, projects.c.name.label("project_name"))
"""What a run is read with: every column of ``runs``, in order, then the project name."""

_STATUSES = {status.value: status for status in RunStatus}


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


def to_run(
    row: Sequence[Any],
    inputs: tuple[RunInput, ...] = (),
    artifacts: tuple[ArtifactEntry, ...] = (),
) -> Run:
    """The run of a row selected with ``RUN_COLUMNS``."""
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
        run_id,
        project_name,
        name,
        _STATUSES[status],
        start_time,
        end_time,
        parent_id,
        loads(params_json),
        decode_metrics(metrics_json),
        loads(tags_json),
        _code(git_commit, git_branch, git_dirty, diff_digest, entry_point, repository),
        environment_digest,
        error,
        host,
        pid,
        heartbeat_at,
        inputs,
        artifacts,
    )
