"""The work both sides of a tracking benchmark do, and how a side reports to the driver.

Standard library only: this module is imported by the ModelCycle side (project venv) and by the
MLflow side (its own venv), so both generate exactly the same data from the same seed.

A side prints one JSON object a line on stdout: ``{"progress": done, "total": n}`` while it
works and a final ``{"result": {...}}``. Anything else (warnings, logs) belongs on stderr.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

SEED = 20261122
PARAM_VALUES = ("a", "b", "c")
N_PARAMS = 10
N_METRICS = 10
N_TAGS = 3

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER_BY = "metrics.m1 DESC"
SEARCH_LIMIT = 100

FLUENT_KEY = "loss"
HISTORY_KEY = "loss"
BATCH_CHUNK = 1_000


@dataclass(frozen=True)
class RunData:
    """What one benchmark run logs: 10 params, 10 metrics, 3 tags."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def run_data(n: int, seed: int = SEED) -> list[RunData]:
    """The params, metrics and tags of ``n`` runs, the same on every side for a given seed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        params = {f"p{j}": rng.choice(PARAM_VALUES) for j in range(N_PARAMS)}
        metrics = {f"m{j}": rng.random() for j in range(N_METRICS)}
        tags = {f"t{j}": f"tag{j}-{i % 7}" for j in range(N_TAGS)}
        out.append(RunData(params, metrics, tags))
    return out


def expected_search(runs: list[RunData]) -> list[int]:
    """Indices of the runs the search must return, in order (the reference answer)."""
    hits = [i for i, r in enumerate(runs) if r.metrics["m0"] > 0.5 and r.params["p0"] == "a"]
    hits.sort(key=lambda i: runs[i].metrics["m1"], reverse=True)
    return hits[:SEARCH_LIMIT]


def series(n: int, seed: int = SEED) -> list[float]:
    """``n`` metric values (a noisy decreasing loss)."""
    rng = random.Random(seed + 1)
    return [1.0 / (1 + i) + 0.01 * rng.random() for i in range(n)]


def batch_points(n: int, seed: int = SEED) -> list[list[tuple[str, float, int]]]:
    """``n`` points as chunks of ``BATCH_CHUNK``: each chunk is one step of 1,000 keys.

    Returns a list of chunks, each a list of ``(key, value, step)``.
    """
    rng = random.Random(seed + 2)
    chunks = []
    n_chunks = max(1, n // BATCH_CHUNK)
    for step in range(n_chunks):
        chunk = [(f"k{j:04d}", rng.random(), step) for j in range(BATCH_CHUNK)]
        chunks.append(chunk)
    return chunks


class Reporter:
    """Prints progress lines (at most about 50 per phase) and the final result as JSON."""

    def __init__(self) -> None:
        self._every = 1
        self._total = 0

    def phase(self, name: str, total: int) -> None:
        """Start a phase of ``total`` steps."""
        self._total = total
        self._every = max(1, total // 50)
        self._emit({"phase": name, "progress": 0, "total": total})

    def tick(self, done: int) -> None:
        """Report ``done`` steps of the current phase (cheap when not on a reporting step)."""
        if done % self._every == 0 or done == self._total:
            self._emit({"progress": done, "total": self._total})

    def result(self, payload: dict[str, Any]) -> None:
        """Report the final result."""
        self._emit({"result": payload})

    @staticmethod
    def _emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def median_ms(fn: Any, repeats: int, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup``.

    Returns the median and the value of the last call.
    """
    value = None
    for _ in range(warmup):
        value = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    mid = len(times) // 2
    med = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return med, value
