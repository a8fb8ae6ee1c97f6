"""Runs: what was tried, with what code, environment, data, params and results."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, overload


class RunStatus(StrEnum):
    """The life of a run. ``KILLED`` is set when the process that owned it died."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self is not RunStatus.RUNNING


MetricTuple = tuple[str, float, int, int]
"""One metric point as logged: (key, value, step, timestamp in epoch milliseconds)."""


class MetricPoint(NamedTuple):
    """One value of a metric series.

    A NamedTuple rather than a dataclass: histories hold tens of thousands of points and
    a tuple is built several times faster, while staying immutable and typed.
    """

    value: float
    step: int
    timestamp: int  # epoch milliseconds


@dataclass(frozen=True, slots=True)
class MetricHistory(Sequence[MetricPoint]):
    """Every point of one metric of one run, ordered by step then time, held by column."""

    key: str
    values: tuple[float, ...]
    steps: tuple[int, ...]
    timestamps: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> MetricPoint: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MetricPoint]: ...
    def __getitem__(self, index: int | slice) -> MetricPoint | Sequence[MetricPoint]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return MetricPoint(self.values[index], self.steps[index], self.timestamps[index])

    def __iter__(self) -> Iterator[MetricPoint]:
        return map(MetricPoint, self.values, self.steps, self.timestamps)


@dataclass(frozen=True, slots=True)
class CodeVersion:
    """The code a run executed: git state at start and the entry point."""

    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    diff_digest: str | None = None  # artifact digest of `git diff HEAD`, when dirty
    entry_point: str | None = None
    repository: str | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    """The interpreter and packages a run executed with, stored once per distinct content."""

    digest: str
    python_version: str
    platform: str
    packages: tuple[str, ...]  # "name==version", sorted


@dataclass(frozen=True, slots=True)
class ArtifactEntry:
    """A file logged to a run: its confined name, content digest and size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class RunInput:
    """A dataset version a run read, with the role it played (train, validation, test...)."""

    dataset_version_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Run:
    """A tracked run, as stored.

    ``metrics`` holds the latest value of each metric (the point with the highest step, then
    the latest time); the whole series comes from ``get_metric_history``.
    """

    id: str
    project: str
    name: str | None
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    code: CodeVersion = field(default_factory=CodeVersion)
    environment_digest: str | None = None
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat_at: int | None = None
    inputs: tuple[RunInput, ...] = ()
    artifacts: tuple[ArtifactEntry, ...] = ()

    @property
    def duration_ms(self) -> int | None:
        """Wall time from start to end, once ended."""
        return None if self.end_time is None else self.end_time - self.start_time


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of search results; ``next_page_token`` is None on the last page."""

    runs: tuple[Run, ...]
    next_page_token: str | None = None
