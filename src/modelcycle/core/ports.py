"""The service ports: one Protocol per service, implemented locally and over HTTP.

Inputs and outputs are ``core`` entities and built-in types; no DataFrame crosses a port.
The docstrings here are the contract; implementations do not repeat them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from modelcycle.core.entities.run import (
    ArtifactEntry,
    Environment,
    MetricHistory,
    MetricTuple,
    Run,
    RunPage,
    RunStatus,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from modelcycle.core.entities.project import ProblemCard, Project


class TrackingService(Protocol):
    """Projects, runs and everything logged to them.

    Contract:
        - Thread-safe: one instance may be shared by threads.
        - Every write is one transaction: it lands whole or not at all.
        - ``get_*`` raise ``NotFound``; ``find_*`` return None.
        - A run whose process died is reported as ``killed`` by every read.
    """

    def set_project(self, name: str, card: ProblemCard | None = None) -> Project:
        """Create the project, or update the card fields that ``card`` sets.

        Raises:
            InvalidInput: a malformed name or card.
        """

    def get_project(self, name: str) -> Project:
        """The project named ``name``. Raises ``NotFound``."""

    def list_projects(self) -> list[Project]:
        """Every project, by name."""

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
    ) -> Run:
        """Start a run, capturing the code version and environment of this process.

        A project that does not exist yet is created with an empty problem card.

        Raises:
            NotFound: the parent run does not exist.
            InvalidInput: a malformed name or tag.
        """

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write params, metric points and tags in one transaction.

        Raises:
            Conflict: a param already stored with another value (names the key and values).
            InvalidInput: a malformed key or an oversize value.
            NotFound: an unknown run id.
        """

    def end_run(
        self,
        run_id: str,
        status: RunStatus = RunStatus.FINISHED,
        *,
        error: str | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write a last batch and end the run; durable when this returns."""

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that this process still owns ``run_ids`` (running runs only)."""

    def log_artifact(
        self, run_id: str, path: str | Path, name: str | None = None
    ) -> list[ArtifactEntry]:
        """Store a file or a folder as content-addressed blobs under a confined name."""

    def download_artifacts(self, run_id: str, dest: str | Path, path: str | None = None) -> Path:
        """Copy a run's artifacts (all, or those under ``path``) below ``dest``, verified."""

    def log_inputs(self, run_id: str, inputs: Sequence[tuple[str, str]]) -> None:
        """Record (dataset version id, role) pairs the run read."""

    def get_run(self, run_id: str) -> Run:
        """The whole run. Raises ``NotFound``."""

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric by step then time; empty for a key never logged."""

    def search_runs(
        self,
        *,
        projects: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs matching ``filter`` (the grammar of ``core.filters``), ordered, one page.

        Raises:
            InvalidFilter: the filter does not parse; the message points at the mistake.
            InvalidInput: a bad order key, limit or page token.
        """

    def count_runs(
        self, *, projects: Sequence[str] | None = None, filter: str | None = None
    ) -> int:
        """How many runs match ``filter`` (all projects when ``projects`` is None)."""

    def get_environment(self, digest: str) -> Environment:
        """A captured environment by digest. Raises ``NotFound``."""

    def flush(self) -> None:
        """Make every write accepted so far durable."""

    def close(self) -> None:
        """Release connections; the service is unusable afterwards."""
