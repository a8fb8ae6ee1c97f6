"""The MLflow side of ``benchmarks/tracking.py``: run by the MLflow venv (``.bench-venv``).

One workload per process, in a store the driver chose. Prints JSON lines (see ``_workload``).
Never imported by the project; MLflow is not a dependency of ModelCycle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import _workload as wl

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

EXPERIMENT = "bench"


def _install_info() -> dict[str, Any]:
    marker = Path(sys.prefix) / "modelcycle-bench.json"
    info: dict[str, Any] = {"version": mlflow.__version__}
    if marker.exists():
        info.update(json.loads(marker.read_text()))
    return info


def _setup(uri: str, store: Path) -> str:
    """Point MLflow at ``uri``, create the experiment (artifacts under ``store``), return its id."""
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        exp_id = client.create_experiment(EXPERIMENT, artifact_location=(store / "art").as_uri())
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def work_fluent(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args.uri, args.store)
    values = wl.series(args.n)
    rep.phase("log_metric", args.n)
    t0 = time.perf_counter()
    run = mlflow.start_run()
    for i, v in enumerate(values):
        mlflow.log_metric(wl.FLUENT_KEY, v, step=i)
        rep.tick(i + 1)
    mlflow.end_run()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "points": args.n, "run_id": run.info.run_id, "call": "log_metric"}


def work_batch(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    exp_id = _setup(args.uri, args.store)
    chunks = wl.batch_points(args.n)
    client = MlflowClient()
    ts = int(time.time() * 1000)
    prepared = [[Metric(k, v, ts, s) for k, v, s in chunk] for chunk in chunks]
    rep.phase("log_batch", len(chunks))
    t0 = time.perf_counter()
    run = client.create_run(exp_id)
    for i, metrics in enumerate(prepared):
        client.log_batch(run.info.run_id, metrics=metrics)
        rep.tick(i + 1)
    client.set_terminated(run.info.run_id)
    dt = time.perf_counter() - t0
    points = sum(len(c) for c in chunks)
    return {
        "seconds": dt,
        "points": points,
        "run_id": run.info.run_id,
        "call": "MlflowClient.log_batch",
    }


def work_runs(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    _setup(args.uri, args.store)
    data = wl.run_data(args.n)
    rep.phase("runs", args.n)
    t0 = time.perf_counter()
    for i, r in enumerate(data):
        with mlflow.start_run():
            mlflow.log_params(r.params)
            mlflow.log_metrics(r.metrics)
            mlflow.set_tags(r.tags)
        rep.tick(i + 1)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "runs": args.n}


def work_search(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    exp_id = _setup(args.uri, args.store)
    client = MlflowClient()
    rep.phase("search", args.repeats + 1)

    def once() -> list[Any]:
        out = client.search_runs(
            [exp_id],
            filter_string=wl.SEARCH_FILTER,
            order_by=[wl.SEARCH_ORDER_BY],
            max_results=wl.SEARCH_LIMIT,
        )
        return list(out)

    med, runs = wl.median_ms(once, args.repeats)
    rep.tick(args.repeats + 1)
    data = wl.run_data(args.n)
    want = [data[i].metrics["m1"] for i in wl.expected_search(data)]
    got = [r.data.metrics["m1"] for r in runs]
    return {"median_ms": med, "results": len(runs), "correct": got == want, "over_runs": args.n}


def work_history(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    exp_id = _setup(args.uri, args.store)
    client = MlflowClient()
    values = wl.series(args.n)
    ts = int(time.time() * 1000)
    run = client.create_run(exp_id)
    rep.phase("populate", args.n)
    for start in range(0, args.n, wl.BATCH_CHUNK):
        chunk = [
            Metric(wl.HISTORY_KEY, values[i], ts, i)
            for i in range(start, min(args.n, start + wl.BATCH_CHUNK))
        ]
        client.log_batch(run.info.run_id, metrics=chunk)
        rep.tick(start + len(chunk))
    client.set_terminated(run.info.run_id)
    rep.phase("get_metric_history", args.repeats + 1)
    med, hist = wl.median_ms(
        lambda: client.get_metric_history(run.info.run_id, wl.HISTORY_KEY), args.repeats
    )
    rep.tick(args.repeats + 1)
    return {"median_ms": med, "points": len(hist), "correct": len(hist) == args.n}


def work_verify(args: argparse.Namespace, rep: wl.Reporter) -> dict[str, Any]:
    """Count what a finished workload left in the store (a fresh process: proves durability)."""
    mlflow.set_tracking_uri(args.uri)
    client = MlflowClient()
    run = client.get_run(args.run_id)
    hist = client.get_metric_history(args.run_id, args.key)
    return {
        "status": run.info.status,
        "keys": len(run.data.metrics),
        "history_points": len(hist),
    }


WORKS = {
    "fluent": work_fluent,
    "batch": work_batch,
    "runs": work_runs,
    "search": work_search,
    "history": work_history,
    "verify": work_verify,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("work", choices=[*WORKS, "info"])
    p.add_argument("--uri", default="")
    p.add_argument("--store", type=Path, default=Path())
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--run-id", default="")
    p.add_argument("--key", default=wl.FLUENT_KEY)
    args = p.parse_args()
    rep = wl.Reporter()
    if args.work == "info":
        rep.result(_install_info())
    else:
        out = WORKS[args.work](args, rep)
        out["mlflow"] = _install_info()
        rep.result(out)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit hooks: whatever was not stored when the timed call returned must be lost,
    # so that the "verify" process proves durability rather than a flush at exit.
    os._exit(0)


if __name__ == "__main__":
    main()
