"""``modelcycle db current|upgrade``: the store's schema revision, upgraded in place."""

from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli import _store
from modelcycle.cli._errors import add_hint
from modelcycle.cli._render import print_json
from modelcycle.core.errors import NotFound

if TYPE_CHECKING:  # SQLAlchemy is imported inside the commands, never at CLI import
    from sqlalchemy.engine import Engine

app = typer.Typer(help="The metadata store's schema.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")]


def _engine(ctx: typer.Context) -> "Engine":
    from modelcycle.store.metadata import SqlMetadataStore

    settings = _store.settings(ctx)
    _store.require_store(settings)
    return SqlMetadataStore(settings.metadata_url, create=False).engine


@app.command()
def current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the store's schema revision and the newest one this ModelCycle knows."""
    from modelcycle.store.metadata.schema import HEAD_REVISION, current_revision

    engine = _engine(ctx)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    finally:
        engine.dispose()
    if as_json:
        print_json(
            {"revision": revision, "head": HEAD_REVISION, "up_to_date": revision == HEAD_REVISION}
        )
        return
    if revision == HEAD_REVISION:
        state = "up to date"
    elif revision is None:
        state = "no schema yet: run `modelcycle init`"
    elif revision < HEAD_REVISION:
        state = "outdated: run `modelcycle db upgrade`"
    else:
        state = "newer than this ModelCycle: upgrade the modelcycle package"
    typer.echo(f"revision {revision or 'none'} (head {HEAD_REVISION}): {state}")


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Upgrade an older store to the head revision in place, keeping every record."""
    from modelcycle.store.metadata.schema import current_revision
    from modelcycle.store.metadata.schema import upgrade as upgrade_schema

    engine = _engine(ctx)
    try:
        with engine.connect() as connection:
            if current_revision(connection) is None:  # empty, or someone else's tables
                error = NotFound(f"no ModelCycle schema in {_store.settings(ctx).uri}")
                add_hint(error, "create a store with `modelcycle init`")
                raise error
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"already at revision {after}")
    else:
        typer.echo(f"revision {before or 'none'} → {after}")
