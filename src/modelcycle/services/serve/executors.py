"""Executors for scale-out: the one module that knows Dask exists.

``open_executor`` yields a ``concurrent.futures.Executor`` (or None for "score in this
process"); everything that submits work takes an ``Executor`` and never names Dask.

- ``open_executor()``: None;
- ``open_executor(dask="tcp://host:8786")``: an executor on a running Dask scheduler;
- ``open_executor(workers=N)``: a throwaway ``distributed.LocalCluster`` of N single-threaded
  worker processes, closed on exit. Nobody can watch it (it has no dashboard), so it runs
  without what only a dashboard shows: no statistical profiling of tasks, and the event-loop
  health check and system monitor at a slower pace. On two cores that leaves a few percent
  more CPU to the work itself.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from modelcycle.core.errors import InvalidInput, MissingDependency

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Future

_P = ParamSpec("_P")
_T = TypeVar("_T")
# Dask warns whenever a task's arguments exceed 10 MB; a chunk of rows is meant to be that big.
_LARGE_GRAPH = "Sending large graph"
# What a cluster without a dashboard does not need (see the module docstring). Worker processes
# get the configuration in force when their nanny is made.
_QUIET = {
    "distributed.worker.profile.enabled": False,  # a stack sample of every task every 10 ms
    "distributed.admin.tick.interval": "500ms",  # event-loop health check, 20 ms by default
    "distributed.admin.system-monitor.interval": "2s",  # psutil host metrics, 500 ms by default
}

__all__ = ["open_executor"]


@contextmanager
def open_executor(dask: str | None = None, workers: int | None = None) -> Iterator[Executor | None]:
    """An executor on a Dask cluster or on N local worker processes; None for neither.

    Args:
        dask: a Dask scheduler address such as ``tcp://host:8786``.
        workers: start a local cluster of this many worker processes for the block.

    Raises:
        InvalidInput: both or a bad value were given.
        MissingDependency: ``dask[distributed]`` is not installed (the ``dask`` extra).
    """
    if dask is not None and workers is not None:
        raise InvalidInput("give a Dask scheduler address or a number of workers, not both")
    if workers is not None and workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}")
    if dask is None and workers is None:
        yield None
        return
    distributed = _distributed()
    if dask is not None:
        with _client(distributed, dask) as client:
            yield _ClientExecutor(client.get_executor(pure=False))
        return
    with ExitStack() as stack:
        with _dask_config().set(_QUIET):  # only while the cluster and its client are made
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # The scheduler serves its health and metrics routes even without a
                    # dashboard, on port 8787 unless told: two clusters at once (two jobs,
                    # parallel tests) would contend for it. A free loopback port instead.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        yield _ClientExecutor(client.get_executor(pure=False))


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependency("dask[distributed]", "dask") from exc
    return distributed


def _dask_config() -> Any:
    import dask.config

    return dask.config


@contextmanager
def _client(distributed: Any, address: str) -> Iterator[Any]:
    if "://" not in address and ":" not in address:
        raise InvalidInput(
            f"{address!r} is not a Dask scheduler address; give one like tcp://host:8786"
        )
    try:
        client = distributed.Client(address, timeout="10s")
    except OSError as exc:
        raise InvalidInput(
            f"cannot reach the Dask scheduler at {address}: {exc}; is it running?"
        ) from exc
    with client:
        yield client


class _ClientExecutor(Executor):
    """A Dask client's executor, without the warning Dask gives on every chunk-sized task.

    Tasks are submitted as impure (``pure=False``): each gets a fresh key instead of a hash of
    its arguments, which spares hashing a model's bytes on every submission and never hands
    back an earlier task's result.
    """

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Submit ``fn(*args, **kwargs)`` to the cluster."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LARGE_GRAPH, category=UserWarning)
            return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work (the cluster itself is closed by ``open_executor``)."""
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)
