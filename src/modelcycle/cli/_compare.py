"""Runs side by side: one row per compared key, one column per run, differing rows marked."""

from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from modelcycle.cli._render import NONE, duration, value
from modelcycle.core.entities.run import Run

DIFFERS = "≠"


@dataclass(frozen=True, slots=True)
class Row:
    """One compared key: its values in run order, and whether they differ."""

    key: str
    values: tuple[object, ...]

    @property
    def differs(self) -> bool:
        """Whether any two runs hold different values (a missing value counts as one)."""
        return len(set(map(repr, self.values))) > 1


@dataclass(frozen=True, slots=True)
class Comparison:
    """The compared runs and rows: attributes first, then params, then metrics, by key."""

    runs: tuple[Run, ...]
    rows: tuple[Row, ...]

    @property
    def num_identical(self) -> int:
        """How many rows hold the same value in every run."""
        return sum(not row.differs for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """The comparison for JSON: every row, with ``differs``."""
        return {
            "runs": [{"id": r.id, "name": r.name, "project": r.project} for r in self.runs],
            "rows": [
                {"key": row.key, "values": list(row.values), "differs": row.differs}
                for row in self.rows
            ],
            "num_differing": len(self.rows) - self.num_identical,
            "num_identical": self.num_identical,
        }


def compare(runs: list[Run]) -> Comparison:
    """Build the rows: status, duration, git commit, every param and every latest metric."""
    rows = [
        Row("status", tuple(r.status.value for r in runs)),
        Row("duration_ms", tuple(r.duration_ms for r in runs)),
        Row("git_commit", tuple(r.code.git_commit for r in runs)),
    ]
    for key in sorted({k for r in runs for k in r.params}):
        rows.append(Row(f"params.{key}", tuple(r.params.get(key) for r in runs)))
    for key in sorted({k for r in runs for k in r.metrics}):
        rows.append(Row(f"metrics.{key}", tuple(r.metrics.get(key) for r in runs)))
    return Comparison(tuple(runs), tuple(rows))


def _cell(key: str, raw: object) -> str:
    if key == "duration_ms":
        return duration(raw if isinstance(raw, int) else None)
    if key == "git_commit" and isinstance(raw, str):
        return raw[:12]
    return value(raw) if raw is not None else NONE


def table(comparison: Comparison, *, show_all: bool) -> Table:
    """A Rich table: differing rows first, in bold yellow with ``≠``; same rows only with --all."""
    result = Table(DIFFERS, "key")
    for run in comparison.runs:
        result.add_column(f"{run.name or run.id[:12]}\n{run.id[:12]}", overflow="fold")
    rows = [r for r in comparison.rows if r.differs]
    if show_all:
        rows += [r for r in comparison.rows if not r.differs]
    for row in rows:
        label = "duration" if row.key == "duration_ms" else row.key
        style = "bold yellow" if row.differs else ""
        result.add_row(
            Text(DIFFERS if row.differs else "", style=style),
            Text(label, style=style),
            *(Text(_cell(row.key, v), style=style) for v in row.values),
        )
    return result
