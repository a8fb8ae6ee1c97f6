"""``modelcycle serve REF``: the real-time endpoint of one model reference."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.core.errors import NotFound, NotImplementedYet


def serve(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version to serve, e.g. churn@production.")],
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    poll_seconds: Annotated[
        float, typer.Option(help="How often to check whether the alias moved.")
    ] = 2.0,
    project: _store.ProjectOption = None,
) -> None:
    """Serve REF over HTTP: /predict, /invocations, /health, /ready, /metrics, /openapi.json.

    Every prediction is logged (with the id returned to the caller) to the store's prediction
    log; when the alias moves, the new version is loaded and swapped in without downtime.
    """
    import uvicorn

    from modelcycle.sdk.session import configure, get_session
    from modelcycle.services.registry.logged import load_logged_model
    from modelcycle.services.serve.app import build_app
    from modelcycle.services.serve.metrics import ServingMetrics
    from modelcycle.services.serve.model_holder import ModelHolder
    from modelcycle.services.serve.prediction_log import http_logger
    from modelcycle.store.predictions import PredictionLogWriter

    if workers != 1:
        raise NotImplementedYet(
            "--workers above 1 is not built yet; run several `modelcycle serve` processes "
            "behind a load balancer meanwhile"
        )
    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    session = get_session()
    project_name = _store.project_name(project)
    writer = PredictionLogWriter(session.metadata, session.artifacts)
    metrics = ServingMetrics(lambda: writer.depth, lambda: writer.dropped)
    holder = ModelHolder(
        lambda: session.registry.get(project_name, ref),
        lambda version: load_logged_model(session.artifacts, version.model),
        poll_seconds=poll_seconds,
        on_swap=lambda version: metrics.serving(version.name, version.version, version.id),
    )
    try:
        with hint_on(NotFound, "list the models with `modelcycle models list`"):
            serving = holder.load_now()
    except BaseException:
        writer.close()
        raise
    # Runs on a graceful stop (SIGTERM, Ctrl-C), before uvicorn re-raises the signal.
    app = build_app(
        holder,
        metrics,
        log_predictions=http_logger(writer),
        on_shutdown=(holder.stop, writer.close),
    )
    holder.start()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("modelcycle.serve").info(
        "serving %s (%s) on http://%s:%d", ref, serving.version.ref, host, port
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        holder.stop()
        writer.close()
