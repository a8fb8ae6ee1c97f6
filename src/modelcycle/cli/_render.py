"""Rendering shared by the commands: JSON for machines, Rich for humans, times and sizes.

JSON goes to stdout and nothing else does when ``--json`` is given: orjson, sorted keys,
two-space indent. Times are epoch milliseconds in JSON, with an ``…_iso`` UTC string beside
each; humans see local ISO times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.core.entities.project import Project
    from modelcycle.core.entities.run import Environment, Run

NONE = "—"
_STATUS_STYLES = {"running": "yellow", "finished": "green", "failed": "red", "killed": "red"}


def console() -> Console:
    """A console on the current stdout (looked up per call, so test runners capture it)."""
    return Console(highlight=False)


def print_json(data: object) -> None:
    """Write ``data`` as JSON to stdout: sorted keys, indented, nothing else."""
    typer.echo(orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode())


def local_time(ms: int | None) -> str:
    """Epoch milliseconds as a local ISO time to the second, or a dash."""
    if ms is None:
        return NONE
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone()
    return moment.isoformat(timespec="seconds")


def iso_utc(ms: int | None) -> str | None:
    """Epoch milliseconds as an ISO UTC time to the millisecond, for JSON."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def duration(ms: int | None) -> str:
    """A duration for humans: ``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``."""
    if ms is None:
        return NONE
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def size(num_bytes: int) -> str:
    """A byte count for humans."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{num_bytes} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def value(raw: object) -> str:
    """A param, metric or attribute value for humans (floats in shortest round-trip form)."""
    if raw is None:
        return NONE
    return str(raw)


def round_float(raw: object) -> object:
    """A float to 6 significant digits (for summary tables; show and compare print it whole)."""
    return float(f"{raw:.6g}") if isinstance(raw, float) else raw


def status(name: str) -> Text:
    """A run status, coloured: failed and killed red, running yellow, finished green."""
    return Text(name, style=_STATUS_STYLES.get(name, ""))


def key_values(rows: Mapping[str, object], title: str | None = None) -> Table:
    """A two-column grid of labels and values."""
    grid = Table.grid(padding=(0, 2))
    grid.title = title
    grid.title_justify = "left"
    grid.title_style = "bold"
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, shown in rows.items():
        grid.add_row(label, shown if isinstance(shown, Text) else value(shown))
    return grid


# -- entities as JSON --------------------------------------------------------------------------


def project_dict(project: Project) -> dict[str, Any]:
    """A project and its problem card, flat, for JSON."""
    card = project.card
    return {
        "name": project.name,
        "id": project.id,
        "task": card.task.value if card.task else None,
        "target": card.target,
        "metric": card.metric,
        "direction": card.direction.value if card.direction else None,
        "goal": card.goal,
        "owners": list(card.owners),
        "description": card.description,
        "created_at": project.created_at,
        "created_at_iso": iso_utc(project.created_at),
        "updated_at": project.updated_at,
        "updated_at_iso": iso_utc(project.updated_at),
    }


def run_dict(run: Run) -> dict[str, Any]:
    """Everything stored about a run, for JSON."""
    code = run.code
    return {
        "id": run.id,
        "name": run.name,
        "project": run.project,
        "status": run.status.value,
        "start_time": run.start_time,
        "start_time_iso": iso_utc(run.start_time),
        "end_time": run.end_time,
        "end_time_iso": iso_utc(run.end_time),
        "duration_ms": run.duration_ms,
        "parent_id": run.parent_id,
        "params": dict(run.params),
        "metrics": dict(run.metrics),
        "tags": dict(run.tags),
        "code": {
            "git_commit": code.git_commit,
            "git_branch": code.git_branch,
            "git_dirty": code.git_dirty,
            "diff_digest": code.diff_digest,
            "entry_point": code.entry_point,
            "repository": code.repository,
        },
        "environment_digest": run.environment_digest,
        "error": run.error,
        "host": run.host,
        "pid": run.pid,
        "heartbeat_at": run.heartbeat_at,
        "heartbeat_at_iso": iso_utc(run.heartbeat_at),
        "inputs": [
            {"dataset_version_id": i.dataset_version_id, "role": i.role} for i in run.inputs
        ],
        "artifacts": [{"path": a.path, "digest": a.digest, "size": a.size} for a in run.artifacts],
    }


def environment_dict(environment: Environment, *, packages: bool) -> dict[str, Any]:
    """A captured environment for JSON; the package list only when asked for."""
    data: dict[str, Any] = {
        "digest": environment.digest,
        "python_version": environment.python_version,
        "platform": environment.platform,
        "num_packages": len(environment.packages),
    }
    if packages:
        data["packages"] = list(environment.packages)
    return data
