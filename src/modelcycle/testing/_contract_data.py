"""Helpers and shared cases of the tracking contract in ``store_contract``."""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelcycle.core.entities.run import RunStatus
from modelcycle.core.ids import new_id
from modelcycle.core.settings import Settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import NewRun, SqlMetadataStore, open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from modelcycle.core.entities.run import CodeVersion, Run


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store under test lives.

    Attributes:
        metadata_url: The SQLAlchemy URL of an empty database (or one the suite may share).
        artifacts_url: The artifact root, a folder inside ``sandbox``.
        sandbox: A private folder holding every local file of the store; the suite writes its
            source files here too and checks that nothing is written outside the store.
    """

    metadata_url: str
    artifacts_url: str
    sandbox: Path


@contextlib.contextmanager
def open_tracking_service(
    location: StoreLocation, *, killed_after: float = 60.0
) -> Iterator[LocalTrackingService]:
    """A ``LocalTrackingService`` over ``location``; its engine is disposed afterwards."""
    metadata = open_metadata_store(location.metadata_url)
    settings = Settings(
        uri=location.metadata_url,
        metadata_url=location.metadata_url,
        artifacts_url=location.artifacts_url,
        killed_after=killed_after,
    )
    try:
        yield LocalTrackingService(metadata, open_artifact_store(location.artifacts_url), settings)
    finally:
        metadata.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _names(runs: Sequence[Run]) -> list[str]:
    return [run.name or "" for run in runs]


def _files_under(folder: Path, *, database_url: str | None = None) -> dict[str, bytes]:
    """Every file below ``folder`` with its content: a snapshot of the disk.

    The files of a SQLite database at ``database_url`` are left out: reads touch them.
    """
    skipped: set[Path] = set()
    if database_url is not None and database_url.startswith("sqlite:///"):
        database = Path(database_url.removeprefix("sqlite:///"))
        skipped = {database, *(Path(f"{database}{end}") for end in ("-wal", "-shm", "-journal"))}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink() and path not in skipped
    }


def _all_pages(
    service: LocalTrackingService, order_by: str | None, limit: int
) -> list[tuple[Run, ...]]:
    """Every page of a search, following the tokens (at most 20 pages)."""
    pages = []
    token: str | None = None
    for _ in range(20):
        page = service.search_runs(order_by=order_by, limit=limit, page_token=token)
        pages.append(page.runs)
        token = page.next_page_token
        if token is None:
            break
    return pages


def _dead_pid() -> int:
    """The pid of a process that has exited and been waited for."""
    probe = subprocess.Popen(["/bin/sh", "-c", "exit 0"])
    probe.wait()
    return probe.pid


def _write_foreign_run(
    location: StoreLocation,
    project_id: int,
    *,
    host: str,
    pid: int | None,
    heartbeat_at: int,
) -> str:
    """Insert a running run as another process (or host) would have, bypassing the service."""
    run_id = new_id()
    store = SqlMetadataStore(location.metadata_url)
    try:
        store.runs.create(
            NewRun(
                id=run_id,
                project_id=project_id,
                name=f"foreign-{host}-{pid}",
                parent_id=None,
                start_time=heartbeat_at,
                host=host,
                pid=pid,
                code=_no_code(),
                environment=None,
                tags={},
            )
        )
    finally:
        store.close()
    return run_id


def _no_code() -> CodeVersion:
    from modelcycle.core.entities.run import CodeVersion

    return CodeVersion()


# -- the search population --------------------------------------------------------------------

_POPULATION: tuple[tuple[str, Mapping[str, str], Mapping[str, float], Mapping[str, str]], ...] = (
    ("alpha", {"lr": "0.01", "model": "gbm"}, {"acc": 0.9}, {"team": "vision"}),
    ("beta", {"lr": "0.1", "model": "linear"}, {"acc": 0.7}, {"team": "Vision"}),
    ("gamma", {"lr": "0.5", "model": "gbm"}, {}, {}),
    ("delta", {"lr": "auto", "model": "GBM-large"}, {"acc": 0.8}, {}),
)
_POPULATION_STATUS = {
    "alpha": RunStatus.FINISHED,
    "beta": RunStatus.FAILED,
    "gamma": RunStatus.RUNNING,
    "delta": RunStatus.FINISHED,
}


def _populate(service: LocalTrackingService, project: str = "search") -> dict[str, Run]:
    created = {}
    for name, params, metrics, tags in _POPULATION:
        run = service.create_run(project, name=name, tags=tags)
        service.log_batch(
            run.id,
            params=params,
            metrics=[(key, value, 0, _now_ms()) for key, value in metrics.items()],
        )
        status = _POPULATION_STATUS[name]
        if status is not RunStatus.RUNNING:
            service.end_run(run.id, status, error="boom" if status is RunStatus.FAILED else None)
        created[name] = run
    return created


SEARCH_CASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("params.lr < 0.1", frozenset({"alpha"})),
    ("params.lr >= 0.1", frozenset({"beta", "gamma"})),
    ("params.lr != 0.1", frozenset({"alpha", "gamma"})),
    ("params.model = 'gbm'", frozenset({"alpha", "gamma"})),
    ("params.model like 'gbm%'", frozenset({"alpha", "gamma"})),
    ("params.model ilike 'gbm%'", frozenset({"alpha", "gamma", "delta"})),
    ("params.model in ('linear', 'GBM-large')", frozenset({"beta", "delta"})),
    ("params.model not in ('gbm')", frozenset({"beta", "delta"})),
    ("metrics.acc > 0.75", frozenset({"alpha", "delta"})),
    ("metrics.acc is null", frozenset({"gamma"})),
    ("metrics.acc is not null", frozenset({"alpha", "beta", "delta"})),
    ("tags.team = 'vision'", frozenset({"alpha"})),
    ("tags.team ilike 'VISION'", frozenset({"alpha", "beta"})),
    ("tags.team is null", frozenset({"gamma", "delta"})),
    ("tags.team = 'vision' or metrics.acc < 0.75", frozenset({"alpha", "beta"})),
    ("params.model = 'gbm' and not metrics.acc is null", frozenset({"alpha"})),
    ("not (params.model = 'gbm' or params.model = 'linear')", frozenset({"delta"})),
    (
        "(metrics.acc >= 0.8 or params.lr = 0.5) and NOT name = 'alpha'",
        frozenset({"gamma", "delta"}),
    ),
    ("status = 'finished'", frozenset({"alpha", "delta"})),
    ("attributes.status in ('FAILED', 'running')", frozenset({"beta", "gamma"})),
    ("status != 'finished'", frozenset({"beta", "gamma"})),
    ("name = 'beta'", frozenset({"beta"})),
    ("name like 'g%'", frozenset({"gamma"})),
    ("name not in ('alpha', 'beta')", frozenset({"gamma", "delta"})),
    ("start_time >= 0", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("start_time > '2000-01-01'", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("start_time < '2000-01-01T00:00:00'", frozenset()),
    ("end_time is null", frozenset({"gamma"})),
    ("project = 'search'", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("parent_id is null", frozenset({"alpha", "beta", "gamma", "delta"})),
)

ORDER_CASES: tuple[tuple[Sequence[str] | str, tuple[str, ...]], ...] = (
    ("metrics.acc DESC", ("alpha", "delta", "beta", "gamma")),
    ("metrics.acc", ("beta", "delta", "alpha", "gamma")),
    ("metrics.acc asc", ("beta", "delta", "alpha", "gamma")),
    ("params.lr", ("alpha", "beta", "gamma", "delta")),
    ("params.lr desc", ("delta", "gamma", "beta", "alpha")),
    ("tags.team", ("beta", "alpha", "delta", "gamma")),
    ("name desc", ("gamma", "delta", "beta", "alpha")),
    ("start_time desc", ("delta", "gamma", "beta", "alpha")),
    (["status", "name"], ("beta", "alpha", "delta", "gamma")),
    (["params.model", "metrics.acc desc"], ("delta", "alpha", "gamma", "beta")),
)

MALFORMED_FILTERS: tuple[tuple[str, int], ...] = (
    ("metrics.acc >", 13),
    ("metrics.acc > 0.5 and", 21),
    ("params.lr << 1", 11),
    ("metrics.acc = 'x'", 14),
    ("foo = 1", 0),
    ("name = 'a' or or", 14),
)
