"""Several serving processes on one port: a supervisor and its workers.

Design. The parent binds the listening socket once (``listener.bind_listener``, so it is
``IPPROTO_TCP`` and every accepted connection gets ``TCP_NODELAY``, with asyncio as with
uvloop) and runs uvicorn's ``Multiprocess`` supervisor, which starts ``workers`` spawned
processes sharing that socket: the kernel hands each new connection to whichever worker
accepts first. Each worker is a whole ``endpoint``: it opens the stores, loads the model,
watches the alias (its own ``ModelHolder``), and logs its predictions through its own
``PredictionLogWriter`` (segments from every worker land in the same prediction log).

- A worker that dies is replaced (its queued connections stay in the shared socket); one that
  cannot load the model stops the server with an error rather than restarting forever.
- SIGTERM or Ctrl-C stops every worker gracefully: each lets its requests in flight finish
  and flushes its prediction log before it exits.
- A worker whose supervisor disappears (SIGKILL) stops itself the same way within a second.
- ``/metrics`` shows the whole server (``_worker_metrics``).
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput, ModelCycleError
from modelcycle.services.serve.endpoint import ServeSpec, build_endpoint, uvicorn_config
from modelcycle.services.serve.log_format import (
    lean_records,
    logging_config,
    resolve_log_format,
)

if TYPE_CHECKING:
    import socket

    from modelcycle.services.serve.request_log import ASGIApp

log = logging.getLogger("modelcycle.serve")

HEALTHCHECK_SECONDS = 10
"""A worker that does not answer the supervisor's ping for this long is replaced."""


class WorkerStartupFailed(ModelCycleError):
    """A worker could not start serving (its log line says why); the server stopped."""

    code = "worker_startup_failed"


def run_workers(spec: ServeSpec, sock: socket.socket, workers: int) -> None:
    """Serve ``spec`` with ``workers`` processes on ``sock`` until SIGTERM or Ctrl-C.

    Raises:
        InvalidInput: ``workers`` is below 2 (run one process with ``endpoint.run_endpoint``).
        WorkerStartupFailed: a worker could not load the model.
    """
    from modelcycle.services.serve._worker_metrics import MULTIPROC_ENV

    if workers < 2:
        raise InvalidInput(f"workers={workers!r}: run_workers needs 2 or more")
    directory = tempfile.mkdtemp(prefix="modelcycle-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory  # spawned workers inherit it
    try:
        config = uvicorn_config(
            WorkerApp(spec, os.getpid()),
            spec,
            factory=True,
            workers=workers,
            log_config=logging_config(resolve_log_format(spec.log_format)),
            timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        )
        supervisor = _supervisor(config, sock, directory)
        supervisor.run()
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)
    if supervisor.failed:
        raise WorkerStartupFailed(
            f"a worker could not start serving {spec.ref}; its log line above says why"
        )
    log.info("stopped", extra={"fields": {"workers": workers}})


@dataclass(frozen=True, slots=True)
class WorkerApp:
    """The app factory run in each worker (uvicorn calls it once the worker has started).

    It builds the endpoint with whole-server metrics; if that fails, it logs why and exits
    with uvicorn's start-up failure status, which stops the supervisor.
    """

    spec: ServeSpec
    supervisor: int  # its pid: a worker whose parent is another has lost it

    def __call__(self) -> ASGIApp:
        """Build this worker's app."""
        from uvicorn.config import STARTUP_FAILURE

        from modelcycle.services.serve._worker_metrics import WorkerMetrics

        lean_records()  # uvicorn configured this worker's logging from logging_config
        try:
            endpoint = build_endpoint(self.spec, WorkerMetrics)
        except Exception as exc:  # noqa: BLE001 - reported, then the supervisor stops
            message = exc.message if isinstance(exc, ModelCycleError) else str(exc)
            log.error(
                "worker could not load %s: %s",
                self.spec.ref,
                message,
                extra={"fields": {"error": f"{type(exc).__name__}: {message}"}},
            )
            logging.shutdown()  # flush the line above
            # At once: nothing is left to save (the prediction log closed), and a normal exit
            # can wait on the store's threads while the supervisor waits on this worker.
            os._exit(STARTUP_FAILURE)
        atexit.register(endpoint.close)
        _stop_with_parent(self.supervisor)
        gc.freeze()  # what start-up made lives on: the collector stops walking it per request
        log.info(
            "worker ready",
            extra={"fields": {"ref": self.spec.ref, "model": endpoint.serving.version.ref}},
        )
        return endpoint.app


def _stop_with_parent(supervisor: int) -> None:
    """SIGTERM this worker (a graceful stop) once its supervisor is gone."""

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        log.warning("the supervisor is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="modelcycle-parent-watch", daemon=True).start()


def _supervisor(config: Any, sock: socket.socket, directory: str) -> Any:
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    from modelcycle.services.serve._worker_metrics import forget_worker

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, which also tidies a dead worker's metrics and says why."""

        failed = False

        def keep_subprocess_alive(self) -> None:
            self.handle_signals()  # a Ctrl-C that killed the workers is not a crash
            for index, process in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()
                process.join()
                if process.pid is not None:
                    forget_worker(directory, process.pid)
                fields = {"worker_pid": process.pid, "exitcode": process.exitcode}
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start; stopping", extra={"fields": fields})
                    self.failed = True
                    self.should_exit.set()
                    return
                log.warning("a worker died; starting another", extra={"fields": fields})
                replacement = Process(self.config, self.sockets)
                replacement.start()
                self.processes[index] = replacement

    return Supervisor(config, [sock])
