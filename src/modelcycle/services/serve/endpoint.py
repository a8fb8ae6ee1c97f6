"""One serving process: the app built from a ``ServeSpec``, and uvicorn running it on a socket.

``build_endpoint`` opens the stores, starts the prediction log writer, loads the version the
reference names (raising what loading raises), and wraps ``app.build_app`` in the body limit
and the request log (``wrap_app``), which also counts and times every request.
``run_endpoint`` serves it on an already bound socket (see ``listener``) until SIGTERM or
Ctrl-C, then flushes the prediction log. ``workers`` runs several of these.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Mapping

    import uvicorn

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.serve.metrics import ServingMetrics
    from modelcycle.services.serve.model_holder import ModelHolder, Serving
    from modelcycle.services.serve.request_log import ASGIApp
    from modelcycle.store.artifacts.protocol import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore
    from modelcycle.store.predictions import PredictionLogWriter

    MetricsFactory = Callable[[Callable[[], float], Callable[[], float]], ServingMetrics]

log = logging.getLogger("modelcycle.serve")

GRACEFUL_SECONDS = 20
"""How long a stopping server lets requests in flight finish before it flushes and exits."""

LOOPS = ("auto", "asyncio", "uvloop")


@dataclass(frozen=True, slots=True)
class ServeSpec:
    """What one serving process needs; plain values, so it crosses to worker processes.

    Attributes:
        metadata_url: The metadata store (a SQLAlchemy URL).
        artifacts_url: The artifact root.
        project: The project of the model.
        ref: The reference served, e.g. ``churn@production``.
        poll_seconds: How often the reference is resolved again (alias swaps).
        flush_seconds: The prediction log is written at least this often; the most a
            SIGKILL can lose.
        max_body_bytes: Larger request bodies are answered with 413.
        log_format: ``json`` or ``text``.
        access_log: Whether each request is logged.
        loop: The event loop: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``.
        routes: More routes, each made in every serving process from its stores by a
            module-level function (so that the spec still crosses to worker processes); the
            command adds ``POST /feedback`` this way.
        openapi_paths: OpenAPI path items of those routes, by path, for ``/openapi.json``.
    """

    metadata_url: str
    artifacts_url: str
    project: str
    ref: str
    poll_seconds: float = 2.0
    flush_seconds: float = 2.0
    max_body_bytes: int = 32 * 1024 * 1024
    log_format: str = "json"
    access_log: bool = True
    loop: str = "auto"
    routes: tuple[Callable[[SqlMetadataStore, ArtifactStore], Any], ...] = ()
    openapi_paths: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("poll_seconds", "flush_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidInput(f"{name}={value!r} must be a positive number of seconds")
        if self.loop not in LOOPS:
            raise InvalidInput(f"loop {self.loop!r} is not one of {', '.join(LOOPS)}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A built app, the version it first loaded, and how to release what it holds."""

    app: ASGIApp
    serving: Serving
    close: Callable[[], None]


def build_endpoint(spec: ServeSpec, metrics_factory: MetricsFactory | None = None) -> Endpoint:
    """Open the stores, load the version ``spec.ref`` names, and build the wrapped app.

    The model watcher is started; ``Endpoint.close`` (also run when the server stops
    gracefully) stops it and flushes the prediction log.

    Raises:
        NotFound: the reference names no version.
        IntegrityError: the model's bytes do not match their digest.
        StoreError: a store cannot be reached.
    """
    from modelcycle.services.registry.versions import ModelRegistry
    from modelcycle.services.serve.app import build_app
    from modelcycle.services.serve.metrics import ServingMetrics
    from modelcycle.services.serve.model_holder import ModelHolder, load_runtime
    from modelcycle.services.serve.monitor_gauges import MonitorGauges
    from modelcycle.services.serve.prediction_log import http_logger
    from modelcycle.store.artifacts import open_artifact_store
    from modelcycle.store.metadata import open_metadata_store
    from modelcycle.store.predictions import PredictionLogWriter

    metadata = open_metadata_store(spec.metadata_url)
    artifacts = open_artifact_store(spec.artifacts_url)
    registry = ModelRegistry(metadata, artifacts)
    writer = PredictionLogWriter(metadata, artifacts, max_seconds=spec.flush_seconds)
    metrics = (metrics_factory or ServingMetrics)(lambda: writer.depth, lambda: writer.dropped)
    holder = ModelHolder(
        lambda: registry.get(spec.project, spec.ref),
        lambda version: load_runtime(artifacts, version),  # the ONNX form when it passed parity
        poll_seconds=spec.poll_seconds,
        on_swap=lambda version: metrics.serving(version.name, version.version, version.id),
    )
    metrics.add_collector(MonitorGauges(metadata, lambda: _version(holder)))
    try:
        serving = holder.load_now()
    except BaseException:
        writer.close()
        raise
    closed: list[bool] = []

    def close() -> None:
        if not closed:
            closed.append(True)
            log.info("stopping: flushing the prediction log")
            holder.stop()
            _close_log(writer)

    app = build_app(
        holder,
        metrics,
        log_predictions=http_logger(writer),
        on_shutdown=(close,),
        openapi_paths=spec.openapi_paths,
    )
    extra = [make(metadata, artifacts) for make in spec.routes]
    app.router.routes.extend(extra)
    metrics.routes.update(route.path for route in extra)
    wrapped = wrap_app(app, metrics, max_body_bytes=spec.max_body_bytes, access=spec.access_log)
    holder.start()
    return Endpoint(wrapped, serving, close)


def wrap_app(
    app: ASGIApp, metrics: ServingMetrics, *, max_body_bytes: int, access: bool = True
) -> ASGIApp:
    """``app`` as a server runs it: behind the body limit, inside the request log.

    The request log is outermost, so its request id, access line and request metrics cover
    every answer, the body limit's 413 included.
    """
    from modelcycle.services.serve.body_limit import BodyLimit
    from modelcycle.services.serve.request_log import RequestLog

    return RequestLog(BodyLimit(app, max_body_bytes), access=access, metrics=metrics)


def _version(holder: ModelHolder) -> ModelVersion | None:
    serving = holder.current
    return None if serving is None else serving.version


def _close_log(writer: PredictionLogWriter) -> None:
    """Flush the prediction log; a failure is logged (with what it loses), never raised."""
    from modelcycle.core.errors import StoreError

    try:
        writer.close()
    except StoreError as exc:
        log.error(
            "the prediction log could not be flushed: %s",
            exc.message,
            extra={"fields": {"unwritten": writer.depth}},
        )
        return
    log.info(
        "prediction log flushed",
        extra={
            "fields": {
                "written": writer.written,
                "dropped": writer.dropped,
                "rejected": writer.rejected,
            }
        },
    )


def uvicorn_config(app: Any, spec: ServeSpec, **options: Any) -> uvicorn.Config:
    """The uvicorn settings every serving process shares; ``options`` adds or overrides."""
    import uvicorn

    settings: dict[str, Any] = {
        "loop": spec.loop,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }
    settings.update(options)
    return uvicorn.Config(app, **settings)


def run_endpoint(spec: ServeSpec, sock: socket.socket, endpoint: Endpoint) -> None:
    """Serve ``endpoint`` on ``sock`` in this process until SIGTERM or Ctrl-C.

    A graceful stop lets requests in flight finish, then flushes the prediction log; uvicorn
    re-raises the signal afterwards.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn_config(endpoint.app, spec))
    try:
        server.run(sockets=[sock])
    finally:
        endpoint.close()  # already done by a graceful stop; here for any other way out
