"""Drift benchmark: our drift engine against Evidently 0.7 ``DataDriftPreset``, in one run.

Run by hand with the project venv, after ``make bench-setup-monitor``::

    .venv/bin/python benchmarks/monitoring.py --evidently-python .bench-venv-monitor/bin/python \\
        [--rows 1000,10000,100000,1000000] [--repeat 2] [--quick] [--verbose] [--json PATH]

or ``make bench-monitor`` (``BENCH_MONITOR_ARGS="--quick"`` for the two small sizes).

For each size, one seeded synthetic pair of frames (reference and current, the same number of
rows each) of 20 columns: 12 numeric (floats with missing values, wide-range integers) and 8
categorical (string categories of 4 to 300 values, a boolean, a 4-valued integer), 8 of the 20
shifted in the current frame. Both frames are written to Parquet; then each side runs in its
own child process, which imports its library, reads the two Parquet files (polars for ours,
pandas for Evidently) and times only the comparison of the two in-memory frames:

- ours: ``compute_drift(reference, current)`` (defaults: every column, Evidently's default
  test and threshold per column);
- Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` over
  ``Dataset.from_pandas`` of each frame with an explicit ``DataDefinition`` (the numeric and
  categorical columns named), Dataset creation included in the timed part.

Each child runs the comparison ``--repeat`` times (2 by default) and the best time is kept;
the first run's time is printed too (it pays lazy imports: scipy for the small-data tests on
our side). Peak memory is each child's ``ru_maxrss`` (imports and the loaded frames included,
the same for both); the resident size after loading, and the peak above it, are printed too.
Agreement: for every column, the test Evidently chose, whether ours chose the same, and
whether both reached the same verdict (Evidently's verdict is its score against its
threshold, by Evidently's own comparison for that test). Never run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
QUIET = {"DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
TINY = 1e-12

NUMERIC = [
    "income", "score", "balance", "latency_ms", "temperature", "ratio",
    "height", "weight", "pressure", "spend", "age", "visits",
]  # fmt: skip
CATEGORICAL = ["segment", "country", "city", "plan", "channel", "device", "churned", "tier"]
SHIFTED = ["income", "score", "latency_ms", "age", "country", "plan", "churned", "tier"]

# Evidently's display name of each test -> our name, and how Evidently turns score into verdict
EVIDENTLY_TESTS = {
    "K-S p_value": ("ks", "le"),
    "chi-square p_value": ("chisquare", "lt"),
    "Z-test p_value": ("z", "lt"),
    "PSI": ("psi", "ge"),
    "Wasserstein distance (normed)": ("wasserstein", "ge"),
    "Jensen-Shannon distance": ("jensenshannon", "ge"),
}

# ----------------------------------------------------------------------------- the data


def make_frames(rows: int, seed: int = 0) -> tuple[Any, Any]:
    """The reference and current frames: 20 columns, 8 shifted in the current one."""
    import numpy as np
    import polars as pl

    def frame(rng: Any, shift: bool) -> pl.DataFrame:
        n = rows
        s = 1.0 if shift else 0.0

        def holes(values: Any, share: float) -> pl.Series:
            series = pl.Series(values)
            return series.scatter(np.flatnonzero(rng.random(n) < share), None)

        def cats(prefix: str, k: int, p: Any = None) -> pl.Series:
            labels = np.array([f"{prefix}{i:03d}" for i in range(k)])
            return pl.Series(rng.choice(labels, n, p=p)).cast(pl.Categorical)

        country_p = np.full(30, 1 / 30)
        if shift:
            country_p = np.linspace(2, 0.2, 30)
            country_p /= country_p.sum()
        plan_p = [0.35, 0.35, 0.2, 0.1] if shift else [0.5, 0.3, 0.15, 0.05]
        return pl.DataFrame(
            {
                "income": rng.lognormal(10 + 0.3 * s, 0.8, n),
                "score": holes(rng.normal(0.5 * s, 1, n), 0.05),
                "balance": rng.normal(1_000, 300, n).round(2),
                "latency_ms": rng.exponential(120 * (1 + 0.5 * s), n),
                "temperature": holes(rng.normal(21, 4, n), 0.01),
                "ratio": holes(rng.uniform(0, 1, n), 0.2),
                "height": rng.normal(170, 10, n),
                "weight": rng.normal(70, 12, n),
                "pressure": rng.normal(120, 15, n),
                "spend": rng.gamma(2.0, 50.0, n),
                "age": rng.integers(18 + int(10 * s), 90, n),
                "visits": rng.poisson(30, n),
                "segment": cats("seg", 4),
                "country": cats("c", 30, country_p),
                "city": cats("city", 300),
                "plan": cats("plan", 4, plan_p),
                "channel": cats("ch", 6),
                "device": cats("dev", 12),
                "churned": rng.random(n) < (0.2 if shift else 0.08),
                "tier": rng.integers(0, 4 if not shift else 2, n) + (2 if shift else 0),
            }
        )

    rng = np.random.default_rng(seed)
    return frame(rng, shift=False), frame(rng, shift=True)


# ----------------------------------------------------------------------------- children


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(work: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    """The result of the last of ``repeat`` runs of ``work``, and each run's seconds."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return result, times


def child_ours(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    """Our side: read both frames with polars, time ``compute_drift`` only."""
    import polars as pl

    from modelcycle.services.monitor.drift import compute_drift

    reference, current = pl.read_parquet(ref_path), pl.read_parquet(cur_path)
    loaded = _rss_mib()
    report, times = _timed(lambda: compute_drift(reference, current), repeat)
    columns = {
        c.name: {"test": c.test, "score": c.score, "drifted": c.drifted, "kind": c.kind.value}
        for c in report.columns.values()
    }
    return {
        "seconds": min(times),
        "all_seconds": times,
        "rss_loaded_mib": loaded,
        "peak_mib": _peak_mib(),
        "share": report.share,
        "columns": columns,
    }


def child_evidently(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    """Evidently's side: read both frames with pandas, time Dataset + Report.run only."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

    reference, current = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    loaded = _rss_mib()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)

    def run() -> Any:
        cur = Dataset.from_pandas(current, data_definition=definition)
        ref = Dataset.from_pandas(reference, data_definition=definition)
        return Report([DataDriftPreset()]).run(cur, ref)

    snapshot, times = _timed(run, repeat)
    columns: dict[str, Any] = {}
    share = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            name, rule = EVIDENTLY_TESTS[config["method"]]
            score, threshold = float(metric["value"]), float(config["threshold"])
            drifted = {
                "le": score <= threshold,
                "lt": score < threshold,
                "ge": score >= threshold,
            }[rule]
            columns[config["column"]] = {"test": name, "score": score, "drifted": drifted}
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    return {
        "seconds": min(times),
        "all_seconds": times,
        "rss_loaded_mib": loaded,
        "peak_mib": _peak_mib(),
        "share": share,
        "columns": columns,
    }


def _run_child(python: str, side: str, ref: Path, cur: Path, repeat: int) -> dict[str, Any]:
    cmd = [python, str(HERE), "--child", side, str(ref), str(cur), "--repeat", str(repeat)]
    env = {**os.environ, **QUIET, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- the run


def _agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    same_test = agreed = 0
    rows = []
    for name, e in theirs["columns"].items():
        o = ours["columns"].get(name, {})
        test_ok = o.get("test") == e["test"]
        verdict_ok = test_ok and o.get("drifted") == e["drifted"]
        same_test += test_ok
        agreed += verdict_ok
        rel = absolute = None
        if test_ok and o.get("score") is not None:
            absolute = abs(o["score"] - e["score"])
            # p-values far in the tail differ by rounding only (Evidently's 1 - cdf reaches 0)
            rel = absolute / abs(e["score"]) if abs(e["score"]) >= TINY else None
        rows.append((name, e["test"], o.get("test"), e["drifted"], o.get("drifted"), rel, absolute))
    return {"total": len(theirs["columns"]), "same_test": same_test, "agreed": agreed, "rows": rows}


def _print_size(rows: int, ours: dict[str, Any], theirs: dict[str, Any], verbose: bool) -> None:
    agree = _agreement(ours, theirs)
    print(f"\n== {rows:,} rows x 20 columns (reference and current each)")
    print(
        f"   {'':12s}{'first run s':>12s}{'best s':>9s}{'peak MiB':>10s}"
        f"{'after load MiB':>16s}{'compute MiB':>13s}{'share':>7s}"
    )
    for label, r in (("Evidently", theirs), ("ModelCycle", ours)):
        r["compute_mib"] = r["peak_mib"] - r["rss_loaded_mib"]
        print(
            f"   {label:12s}{r['all_seconds'][0]:12.3f}{r['seconds']:9.3f}{r['peak_mib']:10.0f}"
            f"{r['rss_loaded_mib']:16.0f}{r['compute_mib']:13.0f}{r['share']:7.2f}"
        )
    print(
        f"   speed (best): {theirs['seconds'] / ours['seconds']:.1f}x faster; "
        f"first run: {theirs['all_seconds'][0] / ours['all_seconds'][0]:.1f}x; "
        f"peak memory: {theirs['peak_mib'] / ours['peak_mib']:.1f}x less; "
        f"above the loaded frames: {theirs['compute_mib'] / max(ours['compute_mib'], 1):.1f}x less"
    )
    worst = max((r[5] for r in agree["rows"] if r[5] is not None), default=0.0)
    worst_abs = max((r[6] for r in agree["rows"] if r[6] is not None), default=0.0)
    print(
        f"   agreement: same test {agree['same_test']}/{agree['total']}, "
        f"same verdict {agree['agreed']}/{agree['total']}; largest score difference "
        f"{worst:.1e} relative (scores >= {TINY:g}), {worst_abs:.1e} absolute"
    )
    if verbose or agree["agreed"] != agree["total"]:
        for name, et, ot, ed, od, rel, _ in agree["rows"]:
            mark = "" if (et == ot and ed == od) else "   <-- differs"
            rel_s = "-" if rel is None else f"{rel:.1e}"
            print(f"     {name:12s} {et:14s} {ot!s:14s} {ed!s:6s} {od!s:6s} {rel_s}{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evidently-python", default=".bench-venv-monitor/bin/python")
    parser.add_argument("--rows", default="1000,10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=2, help="runs per child; the best is kept")
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 10,000 only")
    parser.add_argument("--verbose", action="store_true", help="print every column")
    parser.add_argument("--json", help="write the raw results to this file")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "REF", "CUR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, ref, cur = args.child
        run = child_ours if side == "ours" else child_evidently
        print(json.dumps(run(ref, cur, args.repeat)))
        return
    sizes = [1_000, 10_000] if args.quick else [int(r) for r in args.rows.split(",")]
    python = sys.version.split()[0]
    print(f"drift benchmark on {platform.node()} ({os.cpu_count()} CPUs), python {python}")
    results = []
    with tempfile.TemporaryDirectory(prefix="mc-drift-bench-") as tmp:
        for rows in sizes:
            reference, current = make_frames(rows)
            ref, cur = Path(tmp) / f"ref-{rows}.parquet", Path(tmp) / f"cur-{rows}.parquet"
            reference.write_parquet(ref)
            current.write_parquet(cur)
            del reference, current
            theirs = _run_child(args.evidently_python, "evidently", ref, cur, args.repeat)
            ours = _run_child(sys.executable, "ours", ref, cur, args.repeat)
            _print_size(rows, ours, theirs, args.verbose)
            results.append({"rows": rows, "ours": ours, "evidently": theirs})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
