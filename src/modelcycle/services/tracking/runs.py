"""The local tracking service: the ``TrackingService`` port over the stores of this process."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from typing_extensions import override

from modelcycle.core.entities.project import KNOWN_METRIC_DIRECTIONS, ProblemCard, Project
from modelcycle.core.entities.run import (
    ArtifactEntry,
    CodeVersion,
    Environment,
    MetricHistory,
    Run,
    RunInput,
    RunPage,
    RunStatus,
)
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.filters import And, Namespace, Not, Or
from modelcycle.core.filters import parse_filter as _parse_filter
from modelcycle.core.filters import parse_order_by as _parse_order_by
from modelcycle.core.ids import check_id, new_id
from modelcycle.core.paths import confine, normalize_artifact_name
from modelcycle.core.ports import TrackingService
from modelcycle.core.refs import check_name
from modelcycle.services.tracking.capture import (
    GitState,
    capture_environment,
    capture_git,
    code_version,
    start_capture,
    wait_for_capture,
)
from modelcycle.services.tracking.liveness import find_dead, host_identity
from modelcycle.services.tracking.validation import (
    MAX_KEY_LENGTH,
    MAX_PARAM_LENGTH,
    MAX_TAG_LENGTH,
    check_key,
    check_metrics,
    check_text_value,
)
from modelcycle.store.metadata import LiveRun, NewRun

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modelcycle.core.entities.run import MetricTuple
    from modelcycle.core.filters import Expr, Field, OrderKey
    from modelcycle.core.settings import Settings
    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

MAX_SEARCH_LIMIT = 50_000

# Parsing is pure and the trees are immutable: repeated searches reuse them.
parse_filter = functools.lru_cache(maxsize=256)(_parse_filter)


def parse_order_by(order_by: Sequence[str] | str | None) -> tuple[OrderKey, ...]:
    """Parsed order keys, cached by their text."""
    key = order_by if order_by is None or isinstance(order_by, str) else tuple(order_by)
    return _cached_order_by(key)


@functools.lru_cache(maxsize=256)
def _cached_order_by(order_by: tuple[str, ...] | str | None) -> tuple[OrderKey, ...]:
    return _parse_order_by(order_by)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class LocalTrackingService(TrackingService):
    """Tracking over a metadata store and an artifact store in this process."""

    def __init__(
        self,
        metadata: SqlMetadataStore,
        artifacts: ArtifactStore,
        settings: Settings,
        *,
        capture: bool = True,
    ) -> None:
        self._metadata = metadata
        self._artifacts = artifacts
        self._settings = settings
        self._capture = capture
        self._host = host_identity()
        self._diff_digests: dict[bytes, str] = {}
        self._storing_diff: threading.Thread | None = None
        self._project_ids: dict[str, int] = {}
        self._code_version: tuple[GitState, str | None, CodeVersion] | None = None

    # -- projects -------------------------------------------------------------------------

    @override
    def set_project(self, name: str, card: ProblemCard | None = None) -> Project:
        check_name(name, "project name")
        if card is not None:
            card = _complete_card(card)
        if self._capture:
            self._prepare_capture()
        project = self._metadata.projects.upsert(name, card)
        self._project_ids[name] = project.id
        return project

    @override
    def get_project(self, name: str) -> Project:
        return self._metadata.projects.get(name)

    @override
    def list_projects(self) -> list[Project]:
        return self._metadata.projects.list()

    # -- runs -----------------------------------------------------------------------------

    @override
    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
    ) -> Run:
        project_id = self._project_id(project, create=True)
        if name is not None and not _is_text(name, MAX_KEY_LENGTH):
            raise InvalidInput(f"run name must be text of at most {MAX_KEY_LENGTH} characters")
        clean_tags = _check_tags(tags or {})
        if parent_id is not None:
            check_id(parent_id, "parent run id")
            if not self._metadata.runs.exists(parent_id):
                raise NotFound(f"no parent run with id {parent_id!r}")
        environment, code = self._capture_context()
        new = NewRun(
            id=new_id(),
            project_id=project_id,
            name=name,
            parent_id=parent_id,
            start_time=now_ms(),
            host=self._host,
            pid=os.getpid(),
            code=code,
            environment=environment,
            tags=clean_tags,
        )
        self._metadata.runs.create(new)
        return Run(
            id=new.id,
            project=project,
            name=name,
            status=RunStatus.RUNNING,
            start_time=new.start_time,
            end_time=None,
            parent_id=parent_id,
            tags=clean_tags,
            code=code,
            environment_digest=environment.digest if environment else None,
            host=new.host,
            pid=new.pid,
            heartbeat_at=new.start_time,
        )

    def _project_id(self, name: str, *, create: bool = False) -> int:
        """The id of a project, cached: projects are never renamed or deleted."""
        project_id = self._project_ids.get(name)
        if project_id is None:
            found = self._metadata.projects.find(name)
            if found is None:
                if not create:
                    raise NotFound(f"no project named {name!r}")
                found = self.set_project(name)
            project_id = self._project_ids[name] = found.id
        return project_id

    def _prepare_capture(self) -> None:
        """Capture in the background what the runs of this process will record.

        A process that sets a project is about to start runs: the capture (reading installed
        distributions, git commands, storing the diff of a dirty tree: tens of milliseconds)
        then overlaps with the caller's own work instead of delaying its first run.
        """
        start_capture()
        if self._storing_diff is None:
            self._storing_diff = threading.Thread(
                target=self._store_diff_quietly, name="modelcycle-capture", daemon=True
            )
            self._storing_diff.start()

    def _store_diff_quietly(self) -> None:
        """Store the diff of a dirty tree; a failure is raised again by the run that needs it."""
        with contextlib.suppress(Exception):
            wait_for_capture()
            self._stored_diff(capture_git())

    def _stored_diff(self, git: GitState) -> str | None:
        """The digest of the stored diff of ``git`` (stored on first use)."""
        if not git.diff:
            return None
        digest = self._diff_digests.get(git.diff)
        if digest is None:
            digest = self._artifacts.put_bytes(git.diff)[0]
            self._diff_digests[git.diff] = digest
        return digest

    def _capture_context(self) -> tuple[Environment | None, CodeVersion]:
        if not self._capture:
            return None, CodeVersion()
        wait_for_capture()
        if self._storing_diff is not None:
            self._storing_diff.join()  # at once after a fork: the thread stayed in the parent
        environment = capture_environment()
        git = capture_git()
        diff_digest = self._stored_diff(git)
        known = self._code_version
        if known is None or known[0] is not git or known[1] != diff_digest:
            known = self._code_version = (git, diff_digest, code_version(git, diff_digest))
        return environment, known[2]

    @override
    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_id(run_id)
        self._metadata.runs.log_batch(
            run_id,
            params=_check_params(params or {}),
            metrics=check_metrics(metrics),
            tags=_check_tags(tags or {}),
        )

    @override
    def end_run(
        self,
        run_id: str,
        status: RunStatus = RunStatus.FINISHED,
        *,
        error: str | None = None,
        metrics: Sequence[MetricTuple] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_id(run_id)
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise InvalidInput("a run cannot be ended with status 'running'")
        self._metadata.runs.end(
            run_id,
            status,
            now_ms(),
            error,
            metrics=check_metrics(metrics),
            tags=_check_tags(tags or {}),
        )

    @override
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self._metadata.runs.heartbeat(run_ids, now_ms())

    # -- artifacts and inputs -------------------------------------------------------------

    @override
    def log_artifact(
        self, run_id: str, path: str | Path, name: str | None = None
    ) -> list[ArtifactEntry]:
        check_id(run_id)
        source = Path(path)
        if not source.exists():
            raise InvalidInput(f"cannot log artifact {str(path)!r}: no such file or folder")
        base = normalize_artifact_name(name if name is not None else source.name)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        if not files:
            raise InvalidInput(f"cannot log artifact {str(path)!r}: the folder holds no files")
        entries = []
        for file in files:
            relative = file.relative_to(source).as_posix() if source.is_dir() else ""
            entry_name = normalize_artifact_name(f"{base}/{relative}" if relative else base)
            digest, size = self._artifacts.put_file(file)
            entries.append(ArtifactEntry(entry_name, digest, size))
        self._metadata.runs.add_artifacts(run_id, entries, now_ms())
        return entries

    @override
    def download_artifacts(self, run_id: str, dest: str | Path, path: str | None = None) -> Path:
        run = self.get_run(run_id)
        prefix = None if path is None else normalize_artifact_name(path)
        chosen = [
            a
            for a in run.artifacts
            if prefix is None or a.path == prefix or a.path.startswith(prefix + "/")
        ]
        if not chosen:
            raise NotFound(
                f"run {run_id} has no artifact {path!r}"
                if path
                else f"run {run_id} has no artifacts"
            )
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        for artifact in chosen:
            target = confine(root, artifact.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._artifacts.get_file(artifact.digest, target)  # type: ignore[arg-type]
        return confine(root, prefix) if prefix else root

    @override
    def log_inputs(self, run_id: str, inputs: Sequence[tuple[str, str]]) -> None:
        check_id(run_id)
        checked = []
        for version_id, role in inputs:
            if not _is_text(version_id, 64) or not version_id:
                raise InvalidInput(f"dataset version id {version_id!r} must be 1-64 characters")
            check_key(role, "input role")
            checked.append(RunInput(version_id, role))
        self._metadata.runs.add_inputs(run_id, checked)

    # -- reads ----------------------------------------------------------------------------

    @override
    def get_run(self, run_id: str) -> Run:
        check_id(run_id)
        run = self._metadata.runs.get(run_id)
        if run.status is RunStatus.RUNNING and self._dead(
            [LiveRun(run.id, run.host, run.pid, run.heartbeat_at)]
        ):
            run = self._metadata.runs.get(run_id)
        return run

    @override
    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        check_id(run_id)
        return self._metadata.runs.metric_history(run_id, key)

    @override
    def search_runs(
        self,
        *,
        projects: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        if not _is_count(limit, MAX_SEARCH_LIMIT):
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}, got {limit!r}"
            )
        expr = parse_filter(filter)
        keys = parse_order_by(order_by)
        fingerprint = _fingerprint(projects, filter, order_by)
        offset = _decode_token(page_token, fingerprint)
        project_ids = None
        if projects is not None:
            project_ids = [self._project_id(name) for name in projects]
        found = self._search(project_ids, expr, keys, limit + 1, offset)
        token = _encode_token(offset + limit, fingerprint) if len(found) > limit else None
        return RunPage(tuple(found[:limit]), token)

    @override
    def count_runs(
        self,
        *,
        projects: Sequence[str] | None = None,
        filter: str | None = None,
    ) -> int:
        project_ids = None if projects is None else [self._project_id(p) for p in projects]
        expr = parse_filter(filter)
        if _reads_liveness(expr, ()):
            self.reap_dead_runs()
        return self._metadata.runs.count(project_ids=project_ids, expr=expr)

    @override
    def get_environment(self, digest: str) -> Environment:
        return self._metadata.runs.get_environment(digest)

    @override
    def flush(self) -> None:
        return  # nothing is buffered here: every call above is durable when it returns

    @override
    def close(self) -> None:
        self._metadata.close()

    def _search(
        self,
        project_ids: list[int] | None,
        expr: Expr | None,
        keys: tuple[OrderKey, ...],
        limit: int,
        offset: int,
    ) -> list[Run]:
        """One page, with every run of a dead process reported as killed.

        When the filter and the order do not read what the reaper changes (status, end
        time), which runs match and in what order does not depend on it: the page is read
        first and only its running runs are checked, which usually costs nothing. A dead one
        among them is marked killed and the page read again.
        """
        search = self._metadata.runs.search
        if _reads_liveness(expr, keys):
            self.reap_dead_runs()
            return search(
                project_ids=project_ids, expr=expr, order_by=keys, limit=limit, offset=offset
            )
        found = search(
            project_ids=project_ids, expr=expr, order_by=keys, limit=limit, offset=offset
        )
        running = [
            LiveRun(r.id, r.host, r.pid, r.heartbeat_at)
            for r in found
            if r.status is RunStatus.RUNNING
        ]
        if running and self._dead(running):
            found = search(
                project_ids=project_ids, expr=expr, order_by=keys, limit=limit, offset=offset
            )
        return found

    # -- liveness -------------------------------------------------------------------------

    def reap_dead_runs(self) -> list[str]:
        """Mark running runs whose process died as killed; returns their ids.

        A run is dead when its process is gone from this host, or when it has sent no
        heartbeat for ``settings.killed_after`` seconds. One indexed query when none is.
        """
        return self._dead(self._metadata.runs.live())

    def _dead(self, live: Sequence[LiveRun]) -> list[str]:
        dead = find_dead(
            live,
            host=self._host,
            now_ms=now_ms(),
            killed_after_ms=int(self._settings.killed_after * 1000),
        )
        if dead:
            self._metadata.runs.mark_killed(
                dead, "the process running this run stopped without ending it"
            )
        return [run.id for run in dead]


# What marking a dead run killed changes, so what a search must not read before reaping.
_LIVENESS_ATTRIBUTES = frozenset({"status", "end_time"})


@functools.lru_cache(maxsize=256)
def _reads_liveness(expr: Expr | None, keys: tuple[OrderKey, ...]) -> bool:
    """Whether the filter or the order reads the status or end time of runs."""
    if any(_is_liveness(key.field) for key in keys):
        return True
    pending = [expr] if expr is not None else []
    while pending:
        item = pending.pop()
        if isinstance(item, And | Or):
            pending.extend(item.items)
        elif isinstance(item, Not):
            pending.append(item.item)
        elif _is_liveness(item.field):
            return True
    return False


def _is_liveness(field: Field) -> bool:
    return field.namespace is Namespace.ATTRIBUTES and field.key in _LIVENESS_ATTRIBUTES


def _is_text(value: object, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _is_count(value: object, limit: int) -> bool:
    return type(value) is int and 1 <= value <= limit


def _complete_card(card: ProblemCard) -> ProblemCard:
    """Fill the metric direction from the metric name when it is well known."""
    if card.goal is not None and card.metric is None:
        raise InvalidInput("a goal needs a metric: set_project(..., metric='roc_auc', goal=0.85)")
    if card.direction is None and card.metric is not None:
        direction = KNOWN_METRIC_DIRECTIONS.get(card.metric.lower())
        if direction is None and card.goal is not None:
            known = ", ".join(sorted(KNOWN_METRIC_DIRECTIONS))
            raise InvalidInput(
                f"the direction of metric {card.metric!r} is unknown: pass "
                f"direction='maximize' or 'minimize' (known metrics: {known})"
            )
        return replace(card, direction=direction)
    return card


def _check_params(params: Mapping[str, object]) -> dict[str, str]:
    return {
        check_key(k, "param"): check_text_value(k, v, "param", MAX_PARAM_LENGTH)
        for k, v in params.items()
    }


def _check_tags(tags: Mapping[str, object]) -> dict[str, str]:
    return {
        check_key(k, "tag"): check_text_value(k, v, "tag", MAX_TAG_LENGTH) for k, v in tags.items()
    }


def _fingerprint(
    projects: Sequence[str] | None, filter_text: str | None, order_by: Sequence[str] | str | None
) -> str:
    canonical = orjson.dumps([list(projects or []), filter_text or "", order_by or []])
    return hashlib.sha256(canonical).hexdigest()[:16]


def _encode_token(offset: int, fingerprint: str) -> str:
    raw = orjson.dumps({"offset": offset, "query": fingerprint})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["offset"]
        query = data["query"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"page token {token!r} is not one this server issued") from None
    if query != fingerprint:
        raise InvalidInput(
            "page token belongs to another search: pass the same projects, filter and "
            "order_by as the search that returned it"
        )
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"page token {token!r} holds a bad offset")
    return offset
