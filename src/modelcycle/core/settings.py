"""Where the store lives, resolved once from arguments and the environment.

Resolution, first match wins:

1. ``mc.configure(uri=..., artifacts=...)`` or the CLI's ``--uri``;
2. the environment: ``MODELCYCLE_URI``, ``MODELCYCLE_ARTIFACTS``, ``MODELCYCLE_DASK``;
3. the embedded default: the folder ``.modelcycle`` in the working directory.

A URI is one of:

- a folder (``.modelcycle``, ``/data/mc``, ``file:///data/mc``): the SQLite file
  ``<folder>/modelcycle.db`` and the artifact folder ``<folder>/artifacts``;
- a database URL (``sqlite:///path/mc.db``, ``postgresql+psycopg://user@host/db``): the metadata
  store; artifacts default to ``artifacts`` beside a SQLite file, and must be given
  (``MODELCYCLE_ARTIFACTS`` or ``artifacts=``) for any other database;
- a server URL (``http://host:5000``): the REST client. The server is not built yet, so this
  raises ``NotImplementedYet`` when used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelcycle.core.errors import InvalidInput

DEFAULT_FOLDER = ".modelcycle"
DATABASE_FILE = "modelcycle.db"
ARTIFACTS_FOLDER = "artifacts"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration of one store.

    Attributes:
        uri: what the user gave (or the default), used as the cache key of sessions.
        metadata_url: a SQLAlchemy URL, or an ``http(s)://`` server URL.
        artifacts_url: the artifact root (a folder or an fsspec URL); None for a server URL.
        dask: a Dask scheduler address for scale-out, if any.
        flush_interval: seconds between background flushes of buffered tracking writes; this
            bounds what a crash can lose.
        heartbeat_interval: seconds between heartbeats of a running run.
        killed_after: seconds without a heartbeat after which a running run is shown as killed.
    """

    uri: str
    metadata_url: str
    artifacts_url: str | None
    dask: str | None = None
    flush_interval: float = 1.0
    heartbeat_interval: float = 10.0
    killed_after: float = 60.0

    @property
    def is_remote(self) -> bool:
        """Whether the store is reached through a ModelCycle server."""
        return self.metadata_url.startswith(("http://", "https://"))


def resolve_settings(uri: str | None = None, artifacts: str | None = None) -> Settings:
    """Resolve the settings from the arguments, then the environment, then the default."""
    raw_uri = uri or os.environ.get("MODELCYCLE_URI") or DEFAULT_FOLDER
    raw_artifacts = artifacts or os.environ.get("MODELCYCLE_ARTIFACTS") or None
    dask = os.environ.get("MODELCYCLE_DASK") or None
    flush = _env_float("MODELCYCLE_FLUSH_INTERVAL", 1.0)
    heartbeat = _env_float("MODELCYCLE_HEARTBEAT_INTERVAL", 10.0)
    killed_after = _env_float("MODELCYCLE_KILLED_AFTER", max(60.0, 3 * heartbeat))
    metadata_url, default_artifacts = _split_uri(raw_uri)
    artifacts_url = raw_artifacts or default_artifacts
    if artifacts_url is None and not metadata_url.startswith(("http://", "https://")):
        raise InvalidInput(
            f"no artifact location for {raw_uri!r}: set MODELCYCLE_ARTIFACTS "
            "(a folder or a URL such as s3://bucket/prefix) or pass artifacts=..."
        )
    return Settings(
        uri=raw_uri,
        metadata_url=metadata_url,
        artifacts_url=artifacts_url,
        dask=dask,
        flush_interval=flush,
        heartbeat_interval=heartbeat,
        killed_after=killed_after,
    )


def _split_uri(uri: str) -> tuple[str, str | None]:
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        return uri, None
    if scheme in _DATABASE_SCHEMES:
        if scheme == "sqlite":
            db_path = uri.split(":///", 1)[1] if ":///" in uri else ""
            if db_path and db_path != ":memory:":
                return uri, str(Path(db_path).parent / ARTIFACTS_FOLDER)
        return uri, None
    if scheme not in ("", "file"):
        raise InvalidInput(
            f"unsupported store URI {uri!r}: use a folder, sqlite:///file.db, "
            "postgresql+psycopg://user@host/db or http(s)://server"
        )
    folder = Path(uri.removeprefix("file://")).expanduser().absolute()
    return f"sqlite:///{folder / DATABASE_FILE}", str(folder / ARTIFACTS_FOLDER)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise InvalidInput(f"{name}={raw!r} must be a positive number of seconds")
    return value
