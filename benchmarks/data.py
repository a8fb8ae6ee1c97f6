"""Data benchmark: our profile engine against ydata-profiling on the same frame, in one run.

Run by hand with the project venv, after ``make bench-setup-data``::

    .venv/bin/python benchmarks/data.py --ydata-python .bench-venv-data/bin/python \\
        [--quick] [--only small,large] [--json PATH]

One run generates a seeded synthetic frame of 20 columns (numeric, categorical, boolean,
datetime and text, with missing values and some duplicate rows), writes it to Parquet and then
runs each workload of ``WORKLOADS``:

- ``small``: ydata-profiling in full mode (``ProfileReport(df).to_file(html)``) in its own
  venv through a subprocess, against ours (``compute_profile`` + ``Profile.to_html``) in this
  process, both timed from a loaded frame to a written HTML report; prints both and the ratio.
- ``large``: ours alone on 1,000,000 rows x 20 columns, each round in a fresh child process:
  the median round's time, and the highest peak resident memory against the frame's
  ``estimated_size()``.
- ``register``: ``mc.data.register`` of a CSV of 1 GB or more in a fresh child process, its
  time and peak memory against the file's size, beside pandas reading the same file and
  writing it as Parquet.

A workload is a function ``(Context) -> list[Row]``; to measure something else on the same
frames (registering a 1 GB CSV, say), write such a function and add it to ``WORKLOADS``.
Never run in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUIET_ANCHOR = {"YDATA_PROFILING_NO_ANALYTICS": "True", "MPLBACKEND": "Agg", "DO_NOT_TRACK": "true"}

# ----------------------------------------------------------------------------- the frame

_WORDS = np.array(
    " ".join(
        [
            "the a model data value customer order late early price quality service delivery",
            "product return refund account support great poor good bad fast slow again never",
            "always package box store online phone email week month year",
        ]
    ).split(" ")
)
_CITIES = np.array([f"city_{i:04d}" for i in range(1_500)])


def _join(parts: list[pl.Series]) -> pl.Series:
    return pl.select(pl.concat_str([pl.lit(p) for p in parts], separator=" ")).to_series()


def make_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """The synthetic frame: 20 columns of every kind, missing values, about 1 % duplicate rows."""
    rng = np.random.default_rng(seed)
    n = rows - rows // 100  # the last 1 % repeats earlier rows

    def holes(values: Any, share: float) -> pl.Series:
        s = pl.Series(values)
        return s.scatter(np.flatnonzero(rng.random(n) < share), None)

    def words(k: int) -> list[pl.Series]:
        return [pl.Series(rng.choice(_WORDS, n)) for _ in range(k)]

    start_us = int(dt.datetime(2022, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
    frame = pl.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 0.8, n),
            "score": holes(rng.normal(0, 1, n), 0.05),
            "balance": rng.normal(1_000, 300, n).round(2),
            "visits": rng.poisson(3, n),
            "ratio": holes(rng.uniform(0, 1, n), 0.25),
            "latency_ms": rng.exponential(120, n),
            "temperature": holes(rng.normal(21, 4, n), 0.01),
            "segment": rng.choice(["retail", "sme", "corporate"], n, p=[0.7, 0.2, 0.1]),
            "country": holes(rng.choice([f"c{i:02d}" for i in range(30)], n), 0.03),
            "city": rng.choice(_CITIES, n),
            "plan": rng.choice(["free", "basic", "pro", "enterprise"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "channel": holes(rng.choice(["web", "app", "phone", "shop"], n), 0.10),
            "churned": rng.random(n) < 0.08,
            "newsletter": holes(rng.random(n) < 0.4, 0.05),
            "signup_at": pl.Series(start_us + rng.integers(0, 3 * 365 * 86400, n) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "last_order": pl.Series(rng.integers(19_000, 20_200, n)).cast(pl.Date),
            "review": holes(
                _join([*words(8), pl.Series(rng.integers(0, 10**6, n)).cast(pl.String)]), 0.15
            ),
            "title": _join(words(4)),
            "customer_id": pl.Series([f"cust_{i:08d}" for i in rng.permutation(n)]),
        }
    )
    dups = frame.sample(n=rows - n, seed=seed + 1, with_replacement=True)
    return pl.concat([frame, dups])


# ----------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the results table; ratio is how many times faster ModelCycle is."""

    work: str
    anchor: str = "-"
    ours: str = "-"
    ratio: str = "-"
    target: str = "-"
    verdict: str = "-"
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What every workload gets: the work folder and the command line."""

    work: Path
    args: argparse.Namespace

    def frame_file(self, rows: int) -> Path:
        """The Parquet file of the synthetic frame with ``rows`` rows (made once)."""
        path = self.work / f"frame_{rows}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            make_frame(rows, self.args.seed).write_parquet(path)
            print(f"  wrote {rows:,}-row frame in {time.perf_counter() - t0:.1f} s", flush=True)
        return path


# ----------------------------------------------------------------------------- ours

_CHILD = r"""
import json, sys, time
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
import polars as pl
from modelcycle.services.data.profile import compute_profile
import jinja2, orjson, plotly.offline, numpy  # everything the profile loads, before the baseline
baseline = status("VmRSS")
frame = pl.read_parquet(sys.argv[1])
loaded = status("VmRSS")
try:
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current size
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
profile = compute_profile(frame, title="benchmark")
t1 = time.perf_counter()
profile.to_html(sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "compute_s": t1 - t0, "html_s": t2 - t1,
    "baseline_rss": baseline, "loaded_rss": loaded, "peak_rss": status("VmHWM"),
    "peak_reset": reset, "estimated_size": frame.estimated_size(),
    "rows": frame.height, "columns": frame.width, "warnings": len(profile.warnings)}))
"""


def ours_in_process(parquet: Path, html: Path) -> dict[str, float]:
    """Profile and write the report in this process; the frame is loaded before the clock."""
    from modelcycle.services.data.profile import compute_profile

    frame = pl.read_parquet(parquet)
    t0 = time.perf_counter()
    profile = compute_profile(frame, title="benchmark")
    t1 = time.perf_counter()
    profile.to_html(html)
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "compute_s": t1 - t0, "html_s": t2 - t1}


def ours_in_child(parquet: Path, html: Path) -> dict[str, Any]:
    """Profile in a fresh interpreter and read its time and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(parquet), str(html)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"our profile failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- ydata

_YDATA = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from ydata_profiling import ProfileReport, __version__
frame = pd.read_parquet(sys.argv[1])
t0 = time.perf_counter()
report = ProfileReport(frame, title="benchmark", progress_bar=False)
report.get_description()
t1 = time.perf_counter()
report.to_file(sys.argv[2], silent=True)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "describe_s": t1 - t0, "render_s": t2 - t1,
                  "version": __version__, "pandas": pd.__version__}))
"""


def ydata(python: str, parquet: Path, html: Path) -> dict[str, Any]:
    """ydata-profiling in full mode in its own venv, from a loaded frame to a written report."""
    out = subprocess.run(
        [python, "-c", _YDATA, str(parquet), str(html)],
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET_ANCHOR},
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"ydata-profiling failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- workloads

# The targets hold at these sizes; other sizes (--quick) print figures without a verdict.
TARGET_SMALL_ROWS = 10_000
TARGET_LARGE_ROWS = 1_000_000


def _verdict(ok: bool, applies: bool) -> str:
    if not applies:
        return "-"
    return "pass" if ok else "fail"


def profile_small(ctx: Context) -> list[Row]:
    """ydata-profiling (full) against ours on the small frame, HTML report included."""
    rows = ctx.args.small_rows
    parquet = ctx.frame_file(rows)
    print(f"  ydata-profiling on {rows:,} rows (full mode) ...", flush=True)
    anchor = ydata(ctx.args.ydata_python, parquet, ctx.work / "ydata.html")
    runs = [ours_in_process(parquet, ctx.work / "ours_small.html") for _ in range(ctx.args.rounds)]
    cold = runs[0]["seconds"]
    median = statistics.median(r["seconds"] for r in runs)
    ratio = anchor["seconds"] / cold
    return [
        Row(
            work=f"profile + HTML, {rows:,} rows x 20 columns (ours: first call in the process)",
            anchor=f"{anchor['seconds']:.2f} s",
            ours=f"{cold:.3f} s",
            ratio=f"{ratio:.0f}x",
            target=">= 30x" if rows == TARGET_SMALL_ROWS else "(at 10,000)",
            verdict=_verdict(ratio >= 30, rows == TARGET_SMALL_ROWS),
            raw={"ydata": anchor, "ours": runs, "ours_median_s": median},
        ),
        Row(
            work=f"  same, ours median of {len(runs)} calls",
            anchor=f"{anchor['seconds']:.2f} s",
            ours=f"{median:.3f} s",
            ratio=f"{anchor['seconds'] / median:.0f}x",
        ),
    ]


def profile_large(ctx: Context) -> list[Row]:
    """Ours alone on the large frame: time and peak memory in a fresh child process."""
    rows = ctx.args.large_rows
    parquet = ctx.frame_file(rows)
    rounds = ctx.args.large_rounds
    print(f"  ours on {rows:,} rows, {rounds} fresh child process(es) ...", flush=True)
    runs = [ours_in_child(parquet, ctx.work / "ours_large.html") for _ in range(rounds)]
    # the median round's time; memory of the round with the highest peak over its baseline
    r = sorted(runs, key=lambda x: x["seconds"])[len(runs) // 2]
    m = max(runs, key=lambda x: x["peak_rss"] - x["baseline_rss"])
    size = r["estimated_size"]
    at_size = rows == TARGET_LARGE_ROWS
    with_frame = (m["peak_rss"] - m["baseline_rss"]) / size
    extra = (m["peak_rss"] - m["loaded_rss"]) / size
    mb = 1024 * 1024
    return [
        Row(
            work=f"profile + HTML, {rows:,} rows x {r['columns']} columns: time (median)",
            ours=f"{r['seconds']:.2f} s",
            target="<= 10 s" if at_size else "(at 1,000,000)",
            verdict=_verdict(r["seconds"] <= 10, at_size),
            raw={"median": r, "rounds": runs},
        ),
        Row(
            work=(
                f"  peak RSS over baseline, frame included (frame {size / mb:,.0f} MiB estimated)"
            ),
            ours=f"{(m['peak_rss'] - m['baseline_rss']) / mb:,.0f} MiB = {with_frame:.2f}x",
            target="<= 3x" if at_size else "(at 1,000,000)",
            verdict=_verdict(with_frame <= 3, at_size),
        ),
        Row(
            work="  the frame as loaded (RSS after read_parquet over baseline)",
            ours=f"{(m['loaded_rss'] - m['baseline_rss']) / mb:,.0f} MiB = "
            f"{(m['loaded_rss'] - m['baseline_rss']) / size:.2f}x",
        ),
        Row(
            work="  the profile itself (peak over RSS with the frame loaded)",
            ours=f"{(m['peak_rss'] - m['loaded_rss']) / mb:,.0f} MiB = {extra:.2f}x",
        ),
    ]


# ----------------------------------------------------------------------------- register

TARGET_CSV_BYTES = 1 << 30

_REGISTER_CHILD = r"""
import json, sys, time
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
import modelcycle as mc
import pyarrow, pyarrow.csv, pyarrow.parquet, sqlalchemy, fsspec  # loaded before the baseline
mc.configure(sys.argv[2])
mc.set_project("bench")  # opens the store
baseline = status("VmRSS")
t0 = time.perf_counter()
version = mc.data.register("big", sys.argv[1])
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "baseline_rss": baseline, "peak_rss": status("VmHWM"),
    "rows": version.num_rows, "snapshot_bytes": version.size_bytes}))
"""

_PANDAS_CHILD = r"""
import json, sys, time
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
import pandas as pd, pyarrow.parquet
baseline = status("VmRSS")
t0 = time.perf_counter()
pd.read_csv(sys.argv[1]).to_parquet(sys.argv[2])
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "baseline_rss": baseline, "peak_rss": status("VmHWM")}))
"""


def _big_csv(ctx: Context, target_bytes: int) -> Path:
    """A CSV of at least ``target_bytes``: the synthetic frame written again and again."""
    path = ctx.work / f"big_{target_bytes}.csv"
    if path.exists():
        return path
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    chunk = make_frame(200_000, ctx.args.seed).to_arrow()
    with pacsv.CSVWriter(path, chunk.schema) as writer:
        while path.stat().st_size < target_bytes:
            writer.write_table(chunk)
    size = path.stat().st_size
    print(f"  wrote a {size / 1e9:.2f} GB CSV in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def _child(code: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def register_csv(ctx: Context) -> list[Row]:
    """Register a CSV of a gigabyte or more: time and peak memory against the file's size.

    The anchor column is pandas reading the same file and writing it as Parquet, the usual
    hand-made snapshot; it holds the whole file in memory.
    """
    target = ctx.args.csv_bytes
    csv = _big_csv(ctx, target)
    size = csv.stat().st_size
    print(f"  mc.data.register of {size / 1e9:.2f} GB in a fresh child process ...", flush=True)
    ours = _child(_REGISTER_CHILD, str(csv), str(ctx.work / "store"))
    print("  pandas.read_csv(...).to_parquet(...) in a fresh child process ...", flush=True)
    pandas = _child(_PANDAS_CHILD, str(csv), str(ctx.work / "pandas.parquet"))
    ours_peak = ours["peak_rss"] - ours["baseline_rss"]
    pandas_peak = pandas["peak_rss"] - pandas["baseline_rss"]
    at_size = target >= TARGET_CSV_BYTES
    mb = 1024 * 1024
    return [
        Row(
            work=f"register a {size / 1e9:.2f} GB CSV ({ours['rows']:,} rows): time",
            anchor=f"{pandas['seconds']:.1f} s (pandas)",
            ours=f"{ours['seconds']:.1f} s",
            ratio=f"{pandas['seconds'] / ours['seconds']:.1f}x",
        ),
        Row(
            work="  peak RSS over baseline, against the file's size",
            anchor=f"{pandas_peak / mb:,.0f} MiB = {pandas_peak / size:.2f}x",
            ours=f"{ours_peak / mb:,.0f} MiB = {ours_peak / size:.2f}x",
            target="well under 1x" if at_size else "(at 1 GB)",
            verdict=_verdict(ours_peak < size / 2, at_size),
            raw={"ours": ours, "pandas": pandas, "csv_bytes": size},
        ),
    ]


Workload = tuple[str, "Callable[[Context], list[Row]]"]
WORKLOADS: list[Workload] = [
    ("small", profile_small),
    ("large", profile_large),
    ("register", register_csv),
]


# ----------------------------------------------------------------------------- main


def _table(rows: list[Row]) -> str:
    head = ("work", "anchor", "ModelCycle", "ratio", "target", "")
    cells = [head] + [(r.work, r.anchor, r.ours, r.ratio, r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ydata-python", default=".bench-venv-data/bin/python")
    parser.add_argument("--small-rows", type=int, default=TARGET_SMALL_ROWS)
    parser.add_argument("--large-rows", type=int, default=TARGET_LARGE_ROWS)
    parser.add_argument("--rounds", type=int, default=3, help="calls of ours on the small frame")
    parser.add_argument("--large-rounds", type=int, default=3, help="child runs on the large frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--csv-bytes", type=int, default=TARGET_CSV_BYTES, help="size of the registered CSV"
    )
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--quick", action="store_true", help="2,000 and 100,000 rows")
    parser.add_argument("--keep", type=Path, help="keep the frames and reports in this folder")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.small_rows, args.large_rows, args.csv_bytes = 2_000, 100_000, 50_000_000
    wanted = {w for w in args.only.split(",") if w}
    selected = [(name, fn) for name, fn in WORKLOADS if not wanted or name in wanted]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"{python}, polars {pl.__version__}, {os.cpu_count()} CPUs, {today}")
    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mc-bench-data-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(work=work, args=args)
        for name, fn in selected:
            print(f"[{name}]", flush=True)
            results += fn(ctx)
    print()
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    return 0 if all(r.verdict != "fail" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
