"""The root of the ``modelcycle`` command: global options, ``init``, ``version``, the nouns."""

import platform
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from urllib.request import url2pathname

import typer

from modelcycle._version import __version__
from modelcycle.cli import _store, data, db, deploy, models, monitor, predict, projects, runs, serve
from modelcycle.cli._errors import ErrorHandlingGroup
from modelcycle.cli._render import console, key_values

app = typer.Typer(
    name="modelcycle",
    cls=ErrorHandlingGroup,
    help="ModelCycle: the machine-learning lifecycle in one package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(projects.app, name="projects")
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(deploy.app, name="deploy")
app.add_typer(monitor.app, name="monitor")
app.command("serve")(serve.serve)
app.command("predict")(predict.predict)
app.add_typer(db.app, name="db")


@app.callback()
def root(
    ctx: typer.Context,
    uri: Annotated[
        str | None,
        typer.Option(
            help="The store: a folder, sqlite:///file.db or postgresql+psycopg://user@host/db. "
            "Default: MODELCYCLE_URI, else the folder .modelcycle.",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            help="The artifact root (a folder or a URL such as s3://bucket/prefix). "
            "Default: MODELCYCLE_ARTIFACTS, else <store folder>/artifacts.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """ModelCycle: the machine-learning lifecycle in one package.

    Set MODELCYCLE_DEBUG=1 to see the traceback of an unexpected error.
    """
    ctx.obj = _store.StoreOptions(uri, artifacts)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the store (schema at head, artifact folder); safe to run again."""
    from modelcycle.sdk.session import configure, get_session
    from modelcycle.store.metadata.schema import HEAD_REVISION

    opts = _store.options(ctx)
    settings = configure(opts.uri, opts.artifacts)
    database = _store.sqlite_file(settings.metadata_url)
    existed = database is not None and database.is_file()
    get_session()  # creates an empty store, or checks an existing one is at the head revision
    artifacts = settings.artifacts_url or ""
    folder = _local_folder(artifacts)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    verb = "Found the existing" if existed else "Created a"
    out = console()
    out.print(f"{verb} ModelCycle store at [bold]{settings.uri}[/bold]", markup=True)
    out.print(
        key_values(
            {
                "metadata": _store.display_url(settings.metadata_url),
                "schema revision": HEAD_REVISION,
                "artifacts": str(folder) if folder is not None else artifacts,
            }
        )
    )


def _local_folder(url: str) -> Path | None:
    """The folder a plain path or ``file://`` URL names; None for remote URLs."""
    if "://" not in url:
        return Path(url).expanduser().absolute()
    parts = urlsplit(url)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path)).absolute()
    return None


@app.command()
def version() -> None:
    """Print the ModelCycle version."""
    typer.echo(f"modelcycle {__version__} (Python {platform.python_version()})")


def main() -> None:
    """The ``modelcycle`` console script."""
    app(prog_name="modelcycle")
