"""``modelcycle deploy build``: a Dockerfile and a Kubernetes manifest for a model version."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import Annotated

import typer

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import console, print_json
from modelcycle.core.errors import NotFound

app = typer.Typer(help="Deployment artefacts (building the image needs a Docker engine).")


@app.command()
def build(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version to serve, e.g. churn@production.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write into.")],
    image: Annotated[
        str | None, typer.Option(help="The image name the manifest uses (default NAME-vN:latest).")
    ] = None,
    project: _store.ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")] = False,
) -> None:
    """Write a Dockerfile and kubernetes.yaml (Deployment, Service, autoscaler) for REF."""
    from modelcycle.sdk.session import configure, get_session
    from modelcycle.services.serve.deploy import write_artefacts

    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    registry = get_session().registry
    with hint_on(NotFound, "list the models with `modelcycle models list`"):
        version = registry.get(_store.project_name(project), ref)
    written = write_artefacts(version, ref, out, image=image)
    if as_json:
        print_json(
            {
                "ref": ref,
                "version": version.ref,
                "dockerfile": str(written.dockerfile),
                "manifest": str(written.manifest),
                "image": written.image,
            }
        )
        return
    console().print(
        f"Wrote {written.dockerfile} and {written.manifest} for {ref} ({version.ref}); build "
        f"with `docker build -t {written.image} {out}` (needs a Docker engine)"
    )
