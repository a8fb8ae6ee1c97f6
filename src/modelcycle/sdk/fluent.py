"""The fluent API: ``mc.start_run`` and the ``mc.log_*`` calls on the active run.

Metric points and tags go through the session's ``RunBuffer`` (see its docstring for what a
crash can lose); params are written at once so that a conflicting value fails where it is
logged. Ending a run writes its last batch and its status in one transaction.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
import traceback
from typing import TYPE_CHECKING, Any, Literal, overload

from modelcycle.core.entities.project import Direction, ProblemCard, Project, Task
from modelcycle.core.entities.run import ArtifactEntry, MetricHistory, Run, RunStatus
from modelcycle.core.errors import InvalidInput
from modelcycle.sdk import context
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

    import pandas as pd

_MAX_ERROR_LENGTH = 8000


class ActiveRun:
    """A run started by ``start_run``; a context manager that ends it.

    Leaving the ``with`` block normally ends the run as finished; an exception ends it as
    failed with the error recorded (KeyboardInterrupt: killed), and is re-raised.
    """

    def __init__(self, run: Run) -> None:
        self.id = run.id
        self.project = run.project
        self.name = run.name
        self.parent_id = run.parent_id
        self._steps: dict[str, int] = {}
        self._ended = False

    @property
    def info(self) -> Run:
        """The run as stored now (buffered points are written first)."""
        session = get_session()
        session.buffer.flush(self.id)
        return session.tracking.get_run(self.id)

    def next_step(self, key: str) -> int:
        """The step for a point logged without one: 0, 1, 2… per key."""
        step = self._steps.get(key, -1) + 1
        self._steps[key] = step
        return step

    def note_step(self, key: str, step: int) -> None:
        """Remember an explicit step so that later implicit steps continue after it."""
        if step > self._steps.get(key, -1):
            self._steps[key] = step

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """End the run; durable when this returns. Ending twice is a no-op."""
        context.remove(self)
        if self._ended:
            return
        get_session().buffer.close(self.id, RunStatus(status), error)
        self._ended = True
        _OPEN_RUNS.pop(self.id, None)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, "KeyboardInterrupt")
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.end(RunStatus.FAILED, text[-_MAX_ERROR_LENGTH:])

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, project={self.project!r}, name={self.name!r})"


_OPEN_RUNS: dict[str, ActiveRun] = {}
# A forked child may log to its parent's runs, but never ends them at its own exit.
os.register_at_fork(after_in_child=_OPEN_RUNS.clear)


# -- projects ---------------------------------------------------------------------------------


def set_project(
    name: str,
    *,
    task: Task | str | None = None,
    target: str | None = None,
    metric: str | None = None,
    goal: float | None = None,
    direction: Direction | str | None = None,
    owners: Sequence[str] | None = None,
    description: str | None = None,
) -> Project:
    """Make ``name`` the current project, creating it or updating its problem card.

    Only the card fields passed are changed. The metric's direction is known for common
    metrics (``roc_auc`` is maximised, ``rmse`` minimised); pass ``direction`` otherwise.
    """
    card = None
    if any(v is not None for v in (task, target, metric, goal, direction, owners, description)):
        card = ProblemCard(
            task=_enum(Task, task, "task"),
            target=target,
            metric=metric,
            direction=_enum(Direction, direction, "direction"),
            goal=_goal(goal),
            owners=tuple(owners or ()),
            description=description,
        )
    # Runs come next: capture the environment and git state for them in the background
    # while the store opens (schema checks, maybe migrations) on first use.
    from modelcycle.services.tracking.capture import start_capture

    start_capture()
    session = get_session()
    project = session.tracking.set_project(name, card)
    session.project = project.name
    session.project_chosen = True
    return project


def get_project(name: str | None = None) -> Project:
    """A project by name (default: the current project)."""
    session = get_session()
    return session.tracking.get_project(name or session.project)


def _enum(kind: type[Task] | type[Direction], value: object, what: str) -> Any:
    if value is None:
        return None
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{what} {value!r} is not one of: {choices}") from None


def _goal(goal: float | None) -> float | None:
    if goal is None:
        return None
    if isinstance(goal, bool) or not isinstance(goal, int | float):
        raise InvalidInput(f"goal must be a number, got {goal!r}")
    return float(goal)


# -- runs -------------------------------------------------------------------------------------


def start_run(
    name: str | None = None,
    tags: Mapping[str, object] | None = None,
    parent: str | ActiveRun | Run | None = None,
) -> ActiveRun:
    """Start a run in the current project and make it this context's active run.

    Inside another active run, the new run is its child unless ``parent`` says otherwise.
    The code version and environment are captured without being asked.
    """
    session = get_session()
    parent_run = parent if parent is not None else context.active()
    parent_id = parent_run if isinstance(parent_run, str) or parent_run is None else parent_run.id
    clean_tags = _texts(tags)
    run = session.tracking.create_run(
        session.project, name=name, tags=clean_tags, parent_id=parent_id
    )
    active = ActiveRun(run)
    session.buffer.open(run.id)
    context.push(active)
    _OPEN_RUNS[run.id] = active
    return active


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End this context's active run, if there is one; durable when this returns."""
    active = context.active()
    if active is not None:
        active.end(status)


def active_run() -> ActiveRun | None:
    """This context's active run, if any."""
    return context.active()


def _texts(values: Mapping[str, object] | None) -> dict[str, str]:
    """Param or tag values as the text they are stored as (numbers as ``str`` writes them)."""
    return {key: v if isinstance(v, str) else str(v) for key, v in (values or {}).items()}


def _require_active() -> ActiveRun:
    active = context.active()
    if active is None:
        raise InvalidInput(
            "no active run in this thread or task: log inside `with mc.start_run():`"
        )
    return active


def log_param(key: str, value: object) -> None:
    """Log one param of the active run (written at once; params never change)."""
    log_params({key: value})


def log_params(params: Mapping[str, object]) -> None:
    """Log params of the active run in one write."""
    active = _require_active()
    get_session().tracking.log_batch(active.id, params=_texts(params))


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric point of the active run; without a step, the key's next step."""
    active = _require_active()
    if step is None:
        step = active.next_step(key)
    else:
        active.note_step(key, step)
    get_session().buffer.add_metric(active.id, key, value, step, time.time_ns() // 1_000_000)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics of the active run at one step."""
    active = _require_active()
    buffer = get_session().buffer
    stamp = time.time_ns() // 1_000_000
    for key, value in metrics.items():
        point_step = active.next_step(key) if step is None else step
        if step is not None:
            active.note_step(key, step)
        buffer.add_metric(active.id, key, value, point_step, stamp)


def set_tag(key: str, value: object) -> None:
    """Set one tag of the active run (tags may change)."""
    set_tags({key: value})


def set_tags(tags: Mapping[str, object]) -> None:
    """Set tags of the active run."""
    get_session().buffer.add_tags(_require_active().id, tags)


def log_artifact(path: str | Path, name: str | None = None) -> list[ArtifactEntry]:
    """Store a file or folder with the active run, under ``name`` (default: its file name)."""
    return get_session().tracking.log_artifact(_require_active().id, path, name)


def log_input(dataset_version: object, role: str = "train") -> None:
    """Record that the active run read ``dataset_version`` (a version or its id)."""
    version_id = (
        dataset_version
        if isinstance(dataset_version, str)
        else getattr(dataset_version, "id", None)
    )
    if not isinstance(version_id, str):
        raise InvalidInput(
            f"log_input takes a dataset version or its id, got {type(dataset_version).__name__}"
        )
    get_session().tracking.log_inputs(_require_active().id, [(version_id, role)])


def log_batch(
    run_id: str | None = None,
    *,
    metrics: Sequence[tuple[str, float, int, int] | tuple[str, float, int]] = (),
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
) -> None:
    """Write metric points, params and tags of a run in one transaction, durable on return.

    Args:
        run_id: the run (default: this context's active run); any run, also an ended one.
        metrics: ``(key, value, step)`` or ``(key, value, step, timestamp_ms)`` tuples.
        params: params to add (a key already stored with another value is a ``Conflict``
            and nothing of the batch is written).
        tags: tags to set.
    """
    target = run_id if run_id is not None else _require_active().id
    now = time.time_ns() // 1_000_000
    points = [point if len(point) == 4 else _stamped(point, now) for point in metrics]
    session = get_session()
    if target in _OPEN_RUNS:
        session.buffer.flush(target)  # keep the order of what this process logged
    session.tracking.log_batch(
        target,
        metrics=points,
        params=_texts(params),
        tags=_texts(tags),
    )


def _stamped(point: Sequence[object], now: int) -> tuple[Any, ...]:
    """A ``(key, value, step)`` point with the time of the call."""
    if len(point) != 3:
        raise InvalidInput(
            f"a metric point is (key, value, step) or (key, value, step, timestamp_ms), "
            f"got {point!r}"
        )
    return (*point, now)


def flush() -> None:
    """Write every buffered point and tag now."""
    get_session().buffer.flush()


# -- reads ------------------------------------------------------------------------------------


def get_run(run_id: str) -> Run:
    """A run by id, with everything logged so far by this process."""
    session = get_session()
    if run_id in _OPEN_RUNS:
        session.buffer.flush(run_id)
    return session.tracking.get_run(run_id)


def get_metric_history(run_id: str, key: str) -> MetricHistory:
    """Every point of one metric of a run."""
    session = get_session()
    if run_id in _OPEN_RUNS:
        session.buffer.flush(run_id)
    return session.tracking.get_metric_history(run_id, key)


def download_artifacts(run_id: str, dest: str | Path, path: str | None = None) -> Path:
    """Copy a run's artifacts below ``dest`` (verified against their digests)."""
    return get_session().tracking.download_artifacts(run_id, dest, path)


class RunList(list[Run]):
    """A page of runs; ``next_page_token`` fetches the next page (None on the last)."""

    next_page_token: str | None = None


@overload
def search_runs(
    project: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    limit: int = ...,
    page_token: str | None = ...,
    output: Literal["list"] = ...,
) -> RunList: ...
@overload
def search_runs(
    project: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    limit: int = ...,
    page_token: str | None = ...,
    *,
    output: Literal["pandas"],
) -> pd.DataFrame: ...
def search_runs(
    project: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    limit: int = 100,
    page_token: str | None = None,
    output: Literal["list", "pandas"] = "list",
) -> RunList | pd.DataFrame:
    """Search runs with the filter grammar of ``modelcycle.core.filters``.

    Args:
        project: a project name or names; None searches the current project when one was
            set with ``set_project``, else every project. ``"*"`` searches every project.
        filter: e.g. ``"metrics.acc > 0.8 and params.model = 'gbm'"``.
        order_by: e.g. ``["metrics.acc DESC", "start_time"]``.
        limit: page size, up to 50,000.
        page_token: the ``next_page_token`` of the previous page.
        output: ``"list"`` (a ``RunList``) or ``"pandas"`` (one row per run, columns
            ``run_id, project, name, status, start_time, end_time, params.*, metrics.*,
            tags.*``, as MLflow's ``search_runs``).
    """
    session = get_session()
    if output not in ("list", "pandas"):
        raise InvalidInput(f"output must be 'list' or 'pandas', got {output!r}")
    projects: list[str] | None
    if project == "*":
        projects = None
    elif project is None:
        projects = [session.project] if session.project_chosen else None
    else:
        projects = [project] if isinstance(project, str) else list(project)
    if _OPEN_RUNS:
        session.buffer.flush()
    page = session.tracking.search_runs(
        projects=projects, filter=filter, order_by=order_by, limit=limit, page_token=page_token
    )
    if output == "pandas":
        return runs_to_frame(page.runs)
    result = RunList(page.runs)
    result.next_page_token = page.next_page_token
    return result


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Runs as a DataFrame, one row each, like MLflow's ``search_runs`` output."""
    import pandas as pd

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "project": run.project,
            "name": run.name,
            "status": run.status.value,
            "start_time": pd.Timestamp(run.start_time, unit="ms", tz="UTC"),
            "end_time": (
                pd.Timestamp(run.end_time, unit="ms", tz="UTC") if run.end_time else pd.NaT
            ),
            "parent_id": run.parent_id,
        }
        row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()})
        rows.append(row)
    base = ["run_id", "project", "name", "status", "start_time", "end_time", "parent_id"]
    return pd.DataFrame(rows, columns=None if rows else base)


@atexit.register
def _end_open_runs_at_exit() -> None:
    """Runs left open when the interpreter exits normally end as finished, as in MLflow."""
    for active in list(_OPEN_RUNS.values()):
        with contextlib.suppress(Exception):  # exiting: the reaper marks it killed later
            active.end(RunStatus.FINISHED)
