"""``modelcycle serve REF``: the real-time endpoint of one model reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli import _store
from modelcycle.cli._errors import add_hint, hint_on
from modelcycle.core.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from modelcycle.services.serve.endpoint import ServeSpec

_MIB = 1024 * 1024


def serve(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version to serve, e.g. churn@production.")],
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes sharing the port (about one per CPU core).")
    ] = 1,
    poll_seconds: Annotated[
        float, typer.Option(help="How often to check whether the alias moved.")
    ] = 2.0,
    flush_seconds: Annotated[
        float,
        typer.Option(
            help="Write the prediction log at least this often: the most a crash can lose."
        ),
    ] = 2.0,
    max_body_mb: Annotated[
        float, typer.Option(help="Answer 413 to request bodies larger than this (MiB).")
    ] = 32.0,
    log_format: Annotated[
        str,
        typer.Option(help="Log lines as json or text; auto: text on a terminal, else json."),
    ] = "auto",
    access_log: Annotated[
        bool, typer.Option(help="Log one line per request (with its request id).")
    ] = True,
    loop: Annotated[
        str, typer.Option(help="The event loop: auto (uvloop when installed), asyncio, uvloop.")
    ] = "auto",
    project: _store.ProjectOption = None,
) -> None:
    """Serve REF over HTTP: /predict, /invocations, /feedback, /health, /ready, /metrics.

    /openapi.json describes the model's input. POST /feedback takes the true label of a
    logged prediction ({"prediction_id": ..., "label": ...}, or {"items": [...]}).

    Every prediction is logged (with the id returned to the caller) to the store's prediction
    log; when the alias moves, the new version is loaded and swapped in without downtime. Each
    request gets an id (the caller's X-Request-Id, or a new one), echoed in the response and
    written in its log line on stderr.

    With --workers N, N processes share the port; each loads the model, follows the alias and
    logs its own predictions; a worker that dies is replaced; /metrics shows the whole server.

    What a stop can lose: SIGTERM and Ctrl-C lose nothing (requests in flight finish, then
    every worker flushes its prediction log). A SIGKILL or a power cut loses at most the
    predictions of the last --flush-seconds (plus any being written at that moment); every
    prediction written before is readable when the server starts again on the same store.
    """
    from modelcycle.sdk.session import configure, get_session
    from modelcycle.services.monitor.feedback_route import feedback_openapi, feedback_route
    from modelcycle.services.serve.endpoint import ServeSpec
    from modelcycle.services.serve.log_format import LOG_FORMATS, resolve_log_format

    if workers < 1:
        error = InvalidInput(f"--workers must be 1 or more, got {workers}")
        add_hint(error, "give --workers 1 for one process, or about one per CPU core")
        raise error
    if log_format not in LOG_FORMATS:
        raise InvalidInput(
            f"--log-format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    if not max_body_mb > 0:
        raise InvalidInput(f"--max-body-mb must be above 0, got {max_body_mb}")
    opts = _store.options(ctx)
    settings = configure(opts.uri, opts.artifacts)
    _store.require_store(settings)
    spec = ServeSpec(
        metadata_url=settings.metadata_url,
        artifacts_url=settings.artifacts_url or "",
        project=_store.project_name(project),
        ref=ref,
        poll_seconds=poll_seconds,
        flush_seconds=flush_seconds,
        max_body_bytes=int(max_body_mb * _MIB),
        log_format=resolve_log_format(log_format),
        access_log=access_log,
        loop=loop,
        routes=(feedback_route,),  # POST /feedback: labels joined to logged predictions
        openapi_paths={"/feedback": feedback_openapi()},
    )
    with hint_on(NotFound, "list the models with `modelcycle models list`"):
        get_session().registry.get(spec.project, ref)  # fails here, before binding the port
    _serve(spec, host, port, workers)


def _serve(spec: ServeSpec, host: str, port: int, workers: int) -> None:
    import gc
    import logging

    from modelcycle.services.serve.endpoint import build_endpoint, run_endpoint
    from modelcycle.services.serve.listener import bind_listener
    from modelcycle.services.serve.log_format import configure_logging, resolve_log_format
    from modelcycle.services.serve.workers import run_workers

    with (
        hint_on(Conflict, f"stop the process listening on port {port}, or pick another --port"),
        hint_on(InvalidInput, "give --host an address of this machine (e.g. 127.0.0.1, 0.0.0.0)"),
    ):
        sock = bind_listener(host, port)
    configure_logging(resolve_log_format(spec.log_format))
    log = logging.getLogger("modelcycle.serve")
    url = f"http://{host}:{sock.getsockname()[1]}"
    fields = {"ref": spec.ref, "url": url, "workers": workers}
    try:
        if workers > 1:
            log.info(
                "serving %s on %s with %d workers", spec.ref, url, workers, extra={"fields": fields}
            )
            run_workers(spec, sock, workers)
            return
        with hint_on(NotFound, "list the models with `modelcycle models list`"):
            endpoint = build_endpoint(spec)
        fields["model"] = endpoint.serving.version.ref
        log.info("serving %s (%s) on %s", spec.ref, fields["model"], url, extra={"fields": fields})
        gc.freeze()  # what start-up made lives on: the collector stops walking it per request
        run_endpoint(spec, sock, endpoint)
    finally:
        sock.close()
