"""Settings → services, cached per store: the explicit half of the SDK.

``configure`` replaces the settings for the rest of the process; the first use of a store
opens it (creating an empty store on first use). The current project is process-wide, like
the store; only the active run is per thread or asyncio task (see ``context``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelcycle.core.errors import NotImplementedYet
from modelcycle.core.settings import Settings, resolve_settings

if TYPE_CHECKING:
    from modelcycle.core.ports import TrackingService
    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.services.registry.versions import ModelRegistry
    from modelcycle.services.tracking import RunBuffer
    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

DEFAULT_PROJECT = "default"


@dataclass(slots=True)
class Session:
    """The open services of one store, plus the current project."""

    settings: Settings
    tracking: TrackingService
    buffer: RunBuffer
    metadata: SqlMetadataStore
    artifacts: ArtifactStore
    project: str = DEFAULT_PROJECT
    project_chosen: bool = False  # set_project was called: searches default to it
    _data: DatasetVersions | None = None
    _registry: ModelRegistry | None = None

    @property
    def data(self) -> DatasetVersions:
        """The dataset versions of this store (pyarrow is imported on first use)."""
        if self._data is None:
            from modelcycle.services.data.versions import DatasetVersions

            self._data = DatasetVersions(self.metadata, self.artifacts)
        return self._data

    @property
    def registry(self) -> ModelRegistry:
        """The model registry of this store."""
        if self._registry is None:
            from modelcycle.services.registry.versions import ModelRegistry

            self._registry = ModelRegistry(self.metadata, self.artifacts)
        return self._registry

    def close(self) -> None:
        """Write what is buffered and release the store."""
        self.buffer.shutdown()
        self.tracking.close()


_lock = threading.RLock()
_settings: Settings | None = None
_session: Session | None = None


def configure(uri: str | None = None, artifacts: str | None = None) -> Settings:
    """Point the SDK at a store (see ``core.settings`` for the forms a URI takes)."""
    global _settings, _session
    settings = resolve_settings(uri, artifacts)
    with _lock:
        if _session is not None:
            _session.close()
        _settings, _session = settings, None
    return settings


def current_settings() -> Settings:
    """The settings in force (resolved from the environment on first use)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = resolve_settings()
        return _settings


def get_session() -> Session:
    """The session of the configured store, opened on first use."""
    global _session
    with _lock:
        if _session is None:
            _session = open_session(current_settings())
        return _session


def open_session(settings: Settings) -> Session:
    """Open the services for ``settings``."""
    if settings.is_remote:
        raise NotImplementedYet(
            f"{settings.metadata_url!r} names a ModelCycle server, and the server and its "
            "HTTP client are not built yet; use a folder or a database URL"
        )
    from modelcycle.services.tracking import LocalTrackingService, RunBuffer
    from modelcycle.store.artifacts import open_artifact_store
    from modelcycle.store.metadata import open_metadata_store

    if settings.artifacts_url is None:  # pragma: no cover - resolve_settings refuses this
        raise NotImplementedYet("a local store needs an artifact location")
    metadata = open_metadata_store(settings.metadata_url)
    artifacts = open_artifact_store(settings.artifacts_url)
    tracking = LocalTrackingService(metadata, artifacts, settings)
    buffer = RunBuffer(
        tracking,
        flush_interval=settings.flush_interval,
        heartbeat_interval=settings.heartbeat_interval,
    )
    return Session(settings, tracking, buffer, metadata, artifacts)
