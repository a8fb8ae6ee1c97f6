"""The ModelCycle side of ``benchmarks/tracking.py``: run by the project venv.

One workload per process, in a store the driver chose. Prints JSON lines (see ``_workload``).
Uses only the public SDK (``import modelcycle as mc``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _workload as wl

import modelcycle as mc

PROJECT = "bench"


def _setup(args: argparse.Namespace) -> None:
    if args.artifacts:
        mc.configure(uri=args.uri, artifacts=args.artifacts)
    else:
        mc.configure(uri=args.uri)
    mc.set_project(PROJECT)


def _run_id(run: Any) -> str:
    for attr in ("id", "run_id"):
        if hasattr(run, attr):
            return str(getattr(run, attr))
    return str(run.info.run_id)


def _metrics_of(run: Any) -> Mapping[str, float]:
    """The latest metric values of a run object returned by ``get_run``/``search_runs``."""
    for obj in (run, getattr(run, "data", None)):
        metrics = getattr(obj, "metrics", None)
        if isinstance(metrics, Mapping):
            return metrics
    if isinstance(run, Mapping):
        return run.get("metrics", {})  # type: ignore[no-any-return]
    raise TypeError(f"cannot find metrics on {type(run).__name__}")


def _batch_call() -> str:
    return "mc.log_batch" if hasattr(mc, "log_batch") else "mc.log_metrics"


def _version() -> str:
    return str(getattr(mc, "__version__", "unknown"))


def work_fluent(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args)
    values = wl.series(args.n)
    rep.phase("log_metric", args.n)
    log_metric = mc.log_metric
    t0 = time.perf_counter()
    with mc.start_run() as run:
        for i, v in enumerate(values):
            log_metric(wl.FLUENT_KEY, v, step=i)
            rep.tick(i + 1)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "points": args.n, "run_id": _run_id(run), "call": "mc.log_metric"}


def work_batch(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args)
    chunks = wl.batch_points(args.n)
    call = _batch_call() if args.call == "auto" else f"mc.{args.call}"
    ts = int(time.time() * 1000)
    if call == "mc.log_batch":
        prepared: list[Any] = [[(k, v, s, ts) for k, v, s in chunk] for chunk in chunks]
    else:
        prepared = [({k: v for k, v, _ in chunk}, chunk[0][2]) for chunk in chunks]
    rep.phase(call, len(chunks))
    t0 = time.perf_counter()
    with mc.start_run() as run:
        rid = _run_id(run)
        for i, item in enumerate(prepared):
            if call == "mc.log_batch":
                mc.log_batch(rid, metrics=item)
            else:
                mc.log_metrics(item[0], step=item[1])
            rep.tick(i + 1)
    dt = time.perf_counter() - t0
    points = sum(len(c) for c in chunks)
    return {"seconds": dt, "points": points, "run_id": rid, "call": call}


def _create_runs(data: list[wl.RunData], rep: wl.Reporter, budget_s: float = 0.0) -> int:
    """Create one run per item; stop early once ``budget_s`` (if > 0) is spent."""
    t0 = time.perf_counter()
    for i, r in enumerate(data):
        with mc.start_run():
            mc.log_params(r.params)
            mc.log_metrics(r.metrics)
            mc.set_tags(r.tags)
        rep.tick(i + 1)
        if budget_s and i % 100 == 99 and time.perf_counter() - t0 > budget_s:
            return i + 1
    return len(data)


def work_runs(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args)
    data = wl.run_data(args.n)
    rep.phase("runs", args.n)
    t0 = time.perf_counter()
    done = _create_runs(data, rep)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "runs": done}


def work_populate(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    """Fill a store with up to ``n`` runs for the large search, within ``budget`` seconds."""
    _setup(args)
    data = wl.run_data(args.n)
    rep.phase("populate", args.n)
    t0 = time.perf_counter()
    done = _create_runs(data, rep, budget_s=args.budget)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "runs": done, "wanted": args.n, "call": "start_run loop"}


def work_search(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args)
    rep.phase("search", args.repeats + 1)

    def once() -> list[Any]:
        return list(
            mc.search_runs(
                filter=wl.SEARCH_FILTER, order_by=[wl.SEARCH_ORDER_BY], limit=wl.SEARCH_LIMIT
            )
        )

    med, runs = wl.median_ms(once, args.repeats)
    rep.tick(args.repeats + 1)
    data = wl.run_data(args.n)
    want = [data[i].metrics["m1"] for i in wl.expected_search(data)]
    got = [_metrics_of(r)["m1"] for r in runs]
    return {"median_ms": med, "results": len(runs), "correct": got == want, "over_runs": args.n}


def work_history(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args)
    values = wl.series(args.n)
    rep.phase("populate", args.n)
    with mc.start_run() as run:
        for i, v in enumerate(values):
            mc.log_metric(wl.HISTORY_KEY, v, step=i)
            rep.tick(i + 1)
    rid = _run_id(run)
    rep.phase("get_metric_history", args.repeats + 1)
    med, hist = wl.median_ms(lambda: mc.get_metric_history(rid, wl.HISTORY_KEY), args.repeats)
    rep.tick(args.repeats + 1)
    return {"median_ms": med, "points": len(hist), "correct": len(hist) == args.n}


def work_verify(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    """Count what a finished workload left in the store (a fresh process: proves durability)."""
    _setup(args)
    run = mc.get_run(args.run_id)
    hist = mc.get_metric_history(args.run_id, args.key)
    status = getattr(run, "status", None) or getattr(getattr(run, "info", None), "status", "")
    return {
        "status": str(getattr(status, "value", status)),
        "keys": len(_metrics_of(run)),
        "history_points": len(hist),
    }


WORKS = {
    "fluent": work_fluent,
    "batch": work_batch,
    "runs": work_runs,
    "populate": work_populate,
    "search": work_search,
    "history": work_history,
    "verify": work_verify,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("work", choices=[*WORKS, "info"])
    p.add_argument("--uri", default="")
    p.add_argument("--artifacts", default="")
    p.add_argument("--store", type=Path, default=Path())
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--budget", type=float, default=0.0)
    p.add_argument("--call", choices=["auto", "log_batch", "log_metrics"], default="auto")
    p.add_argument("--run-id", default="")
    p.add_argument("--key", default=wl.FLUENT_KEY)
    args = p.parse_args()
    rep = wl.Reporter()
    if args.work == "info":
        rep.result({"version": _version(), "batch_call": _batch_call()})
    else:
        out = WORKS[args.work](args, rep)
        out["modelcycle"] = {"version": _version()}
        rep.result(out)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit hooks: whatever was not stored when the timed call returned must be lost,
    # so that the "verify" process proves durability rather than a flush at exit.
    os._exit(0)


if __name__ == "__main__":
    main()
