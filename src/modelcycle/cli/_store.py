"""Which store a command works on: the root ``--uri``/``--artifacts`` options, resolved once.

Reading commands refuse a folder or SQLite file that holds no store yet (opening it would
create an empty one); only ``modelcycle init`` creates a store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli._errors import add_hint
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.core.settings import Settings, resolve_settings

if TYPE_CHECKING:
    from modelcycle.core.ports import TrackingService
    from modelcycle.services.data.versions import DatasetVersions

_PASSWORD = re.compile(r"(://[^:/@]+):[^@]*@")


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """The root options: the store URI and artifact root (None: environment, then default)."""

    uri: str | None = None
    artifacts: str | None = None


def options(ctx: typer.Context) -> StoreOptions:
    """The root options of the running command."""
    found = ctx.find_object(StoreOptions)
    return found if found is not None else StoreOptions()


def settings(ctx: typer.Context) -> Settings:
    """The settings the root options resolve to (see ``core.settings``)."""
    opts = options(ctx)
    return resolve_settings(opts.uri, opts.artifacts)


def display_url(url: str) -> str:
    """A URL safe to print: any password replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)


def sqlite_file(metadata_url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    if not metadata_url.startswith("sqlite"):
        return None
    database = metadata_url.split(":///", 1)[1] if ":///" in metadata_url else ""
    database = database.split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database)


def require_store(resolved: Settings) -> None:
    """Raise ``NotFound`` when the store's SQLite file does not exist yet.

    Raises:
        InvalidInput: the URI names a ModelCycle server, which the CLI cannot reach yet.
        NotFound: no store at the URI.
    """
    if resolved.is_remote:
        raise InvalidInput(
            f"{resolved.uri!r} names a ModelCycle server; the CLI works on a folder or a "
            "database URL"
        )
    database = sqlite_file(resolved.metadata_url)
    if database is not None and not database.is_file():
        error = NotFound(f"no ModelCycle store at {resolved.uri}")
        add_hint(error, f"create one with `modelcycle --uri {resolved.uri} init`")
        raise error


def tracking(ctx: typer.Context) -> TrackingService:
    """The tracking port of an existing store (through the SDK session)."""
    from modelcycle.sdk.session import configure, get_session

    opts = options(ctx)
    require_store(configure(opts.uri, opts.artifacts))
    return get_session().tracking


ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        envvar="MODELCYCLE_PROJECT",
        help="The project (default: MODELCYCLE_PROJECT, else 'default').",
        show_default=False,
    ),
]


def project_name(project: str | None) -> str:
    """The project a command works in."""
    from modelcycle.sdk.session import DEFAULT_PROJECT

    return project or DEFAULT_PROJECT


def data_versions(ctx: typer.Context) -> DatasetVersions:
    """The dataset versions of an existing store (through the SDK session)."""
    from modelcycle.sdk.session import configure, get_session

    opts = options(ctx)
    require_store(configure(opts.uri, opts.artifacts))
    return get_session().data
