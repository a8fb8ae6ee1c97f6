"""Tracking benchmark: ModelCycle's SDK against MLflow on the same work, in one run.

Run by hand with the project venv, after ``make bench-setup``::

    .venv/bin/python benchmarks/tracking.py [--backend sqlite|postgresql] [--quick] [--json PATH]

Each workload runs in a fresh subprocess on a fresh temporary store: MLflow's under the MLflow
venv (``benchmarks/_mlflow_side.py``), ours under this interpreter
(``benchmarks/_modelcycle_side.py``). Both sides generate the same data from the same seed
(``benchmarks/_workload.py``). With ``--backend postgresql`` the benchmark starts a throwaway
PostgreSQL cluster of its own and removes it at the end. Never run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Debian's postgresql-15 package; override with MODELCYCLE_BENCH_PG_BIN.
PG_BIN = Path(os.environ.get("MODELCYCLE_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

console = Console()


class SideError(RuntimeError):
    """A side's subprocess failed."""


# --------------------------------------------------------------------------- stores


@dataclass
class Store:
    """Where one side's workload keeps its data."""

    dir: Path
    uri: str
    artifacts: str = ""


class SqliteBackend:
    """A fresh SQLite store per workload, in a temporary folder."""

    name = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = _sqlite_version()

    def new_store(self, side: str, label: str) -> Store:
        d = Path(tempfile.mkdtemp(prefix=f"{side}-{label}-", dir=self.root))
        if side == "mlflow":
            return Store(d, f"sqlite:///{d / 'mlflow.db'}")
        return Store(d, str(d / "store"))


class PostgresBackend:
    """A throwaway PostgreSQL 15 cluster on a free loopback port; a database per workload."""

    name = "postgresql"

    def __init__(self, root: Path) -> None:
        self.root = root
        # Not under ``root``: the postgres OS user must be able to reach it.
        self.pg_root = Path(tempfile.mkdtemp(prefix="modelcycle-bench-pg-"))
        self.data = self.pg_root / "data"
        self.sock = self.pg_root / "sock"
        self.port = _free_port()
        self.count = 0
        self.version = ""

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise SystemExit(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.pg_root, "postgres")
            shutil.chown(self.sock, "postgres")
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1"
        subprocess.run(
            self._as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        subprocess.run(
            self._as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.pg_root / "log"),
                    "-o",
                    opts,
                    "-w",
                    "start",
                ]
            ),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        out = subprocess.run(
            [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True, check=True
        )
        self.version = out.stdout.strip()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._as_postgres(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
                ),
                stdout=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(self.pg_root, ignore_errors=True)

    def new_store(self, side: str, label: str) -> Store:
        self.count += 1
        db = f"{side}_{label}_{self.count}".lower()
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                db,
            ],
            check=True,
        )
        d = Path(tempfile.mkdtemp(prefix=f"{side}-{label}-", dir=self.root))
        at = f"postgres@127.0.0.1:{self.port}/{db}"
        if side == "mlflow":
            return Store(d, f"postgresql+psycopg://{at}")  # same driver as ours: psycopg 3
        return Store(d, f"postgresql+psycopg://{at}", artifacts=str(d / "artifacts"))


def _env() -> dict[str, str]:
    """The environment of every subprocess: MLflow's telemetry off."""
    return {**os.environ, **TELEMETRY_OFF}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sqlite_version() -> str:
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


# --------------------------------------------------------------------------- sides


@dataclass
class Sides:
    """How to start each side, and the progress display they report to."""

    mlflow_python: str
    project_python: str
    progress: Progress

    def run(self, side: str, work: str, store: Store, label: str, **opts: Any) -> dict[str, Any]:
        """Run one workload of one side in a fresh subprocess and return its result."""
        if side == "mlflow":
            cmd = [self.mlflow_python, str(HERE / "_mlflow_side.py"), work]
            name = "MLflow"
        else:
            cmd = [self.project_python, str(HERE / "_modelcycle_side.py"), work]
            name = "ModelCycle"
            if store.artifacts:
                cmd += ["--artifacts", store.artifacts]
        cmd += ["--uri", store.uri, "--store", str(store.dir)]
        for k, v in opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        task = self.progress.add_task(f"{name:<10} {label}", total=None)
        err_path = store.dir / f"{side}-{work}.stderr"
        result: dict[str, Any] | None = None
        with err_path.open("w") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=store.dir,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=_env(),
            )
            for line in proc.stdout or ():
                msg = json.loads(line)
                if "result" in msg:
                    result = msg["result"]
                    continue
                if "phase" in msg:
                    self.progress.update(
                        task, description=f"{name:<10} {label}: {msg['phase']}", completed=0
                    )
                self.progress.update(task, completed=msg["progress"], total=msg["total"])
            rc = proc.wait()
        info = next(t for t in self.progress.tasks if t.id == task)
        if rc == 0 and info.total is None:
            self.progress.update(task, visible=False)  # a short step that reported no progress
        if rc != 0 or result is None:
            tail = err_path.read_text().strip().splitlines()[-15:]
            raise SideError(f"{name} {work} failed (exit {rc}):\n" + "\n".join(tail))
        return result


def import_seconds(python: str, module: str, repeats: int) -> list[float]:
    """Wall times of ``python -c "import module"`` in fresh interpreters (after a warm-up)."""
    env = _env()
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", f"import {module}"], check=True, env=env, cwd=ROOT)
        if i:
            times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the result table."""

    work: str
    unit: str
    mlflow: float | None
    modelcycle: float | None
    higher_is_better: bool
    target: str
    passed: bool | None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """How many times better ModelCycle is (speed-up), > 1 when ours wins."""
        if not self.mlflow or not self.modelcycle:
            return None
        if self.higher_is_better:
            return self.modelcycle / self.mlflow
        return self.mlflow / self.modelcycle


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.0f} {unit}"


@dataclass
class Sizes:
    """How much work each workload does."""

    fluent: int
    batch: int
    runs: int
    history: int
    populate: int
    populate_budget: float
    repeats: int
    import_repeats: int
    rounds: int


def sizes_for(args: argparse.Namespace) -> Sizes:
    if args.quick:
        return Sizes(1_000, 10_000, 200, 10_000, min(args.populate, 10_000), 60.0, 5, 3, 1)
    return Sizes(
        10_000, 10_000, 1_000, 10_000, args.populate, args.populate_budget, 20, 5, args.rounds
    )


class Bench:
    """Runs the workloads on both sides and collects table rows and raw results."""

    def __init__(
        self,
        sides: Sides,
        backend: SqliteBackend | PostgresBackend,
        sz: Sizes,
        has_log_batch: bool,
    ) -> None:
        self.has_log_batch = has_log_batch
        self.sides = sides
        self.backend = backend
        self.sz = sz
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}

    def _one(
        self, side: str, work: str, label: str, verify_key: str | None, opts: dict[str, Any]
    ) -> dict[str, Any]:
        store = self.backend.new_store(side, work)
        res = self.sides.run(side, work, store, label, **opts)
        if verify_key is not None:
            res["verify"] = self.sides.run(
                side, "verify", store, f"{label} (verify)", run_id=res["run_id"], key=verify_key
            )
        return res

    def _side(
        self,
        side: str,
        work: str,
        label: str,
        verify_key: str | None = None,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        rounds: int = 1,
        **opts: Any,
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """Run a workload on one side ``rounds`` times (each a fresh process and store).

        Returns the median round by time (with every round's ``seconds`` attached), or None
        on failure, and notes: the failure, and what ``check`` says of any round's ``verify``.
        """
        name = "MLflow" if side == "mlflow" else "ModelCycle"
        results = []
        try:
            for k in range(rounds):
                tag = f"{label} [{k + 1}/{rounds}]" if rounds > 1 else label
                results.append(self._one(side, work, tag, verify_key, opts))
        except SideError as exc:
            console.print(f"[red]{exc}[/red]")
            return None, [f"{name} failed: {str(exc).splitlines()[-1]}"]
        notes = []
        for res in results:
            problem = check(res["verify"]) if check and "verify" in res else None
            if problem:
                notes.append(f"{name}: {problem}")
                break
        results.sort(key=lambda r: float(r.get("seconds", r.get("median_ms", 0.0))))
        chosen = dict(results[len(results) // 2])
        if rounds > 1:
            chosen["rounds_seconds"] = [r.get("seconds") for r in results]
        return chosen, notes

    def _both(
        self,
        work: str,
        label: str,
        verify_key: str | None = None,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        rounds: int = 1,
        **opts: Any,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
        """``_side`` for MLflow, then for ModelCycle, on the same work."""
        ml, notes = self._side("mlflow", work, label, verify_key, check, rounds, **opts)
        mc, more = self._side("modelcycle", work, label, verify_key, check, rounds, **opts)
        self.raw[work] = {"mlflow": ml, "modelcycle": mc}
        return ml, mc, notes + more

    @staticmethod
    def _rates(*results: dict[str, Any] | None) -> list[float | None]:
        return [r["points"] / r["seconds"] if r else None for r in results]

    def fluent(self) -> None:
        n = self.sz.fluent

        def check(v: dict[str, Any]) -> str | None:
            got = v["history_points"]
            return (
                f"only {got:,} of {n:,} points stored when end_run returned" if got != n else None
            )

        ml, mc, notes = self._both(
            "fluent", f"log_metric x {n:,}", "loss", check, rounds=self.sz.rounds, n=n
        )
        rates = self._rates(ml, mc)
        ok = not any("stored" in x for x in notes)
        passed = None if rates[1] is None else rates[1] >= 100_000 and ok
        if self.sz.rounds > 1:
            notes.append(f"median of {self.sz.rounds} rounds, each in a fresh process and store")
        self.rows.append(
            Row(
                f"fluent log_metric ({n:,} pts)",
                "pts/s",
                rates[0],
                rates[1],
                True,
                "≥ 100,000/s",
                passed,
                notes,
            )
        )

    def batch(self) -> None:
        n = self.sz.batch
        n_chunks = max(1, n // 1000)
        rounds = self.sz.rounds

        def check(v: dict[str, Any]) -> str | None:
            if v["keys"] != 1000 or v["history_points"] != n_chunks:
                return f"stored {v['keys']} keys, {v['history_points']} steps when the run ended"
            return None

        label = f"log_batch x {n:,}"
        ml, ml_notes = self._side("mlflow", "batch", label, "k0000", check, rounds, n=n)
        self.raw["batch"] = {"mlflow": ml}
        # Ours: mc.log_batch when the SDK has it (durable per call, like MLflow's), and the
        # buffered mc.log_metrics as well, for comparison.
        calls = ["log_batch", "log_metrics"] if self.has_log_batch else ["log_metrics"]
        for call in calls:
            mc, notes = self._side(
                "modelcycle",
                "batch",
                f"{label} via mc.{call}",
                "k0000",
                check,
                rounds,
                n=n,
                call=call,
            )
            self.raw["batch"][f"modelcycle:{call}"] = mc
            rates = self._rates(ml, mc)
            ok = not any("stored" in x for x in notes)
            passed = None if rates[1] is None else rates[1] >= 200_000 and ok
            notes = [*ml_notes, *notes, f"ours: one mc.{call} call per 1,000 points"]
            if rounds > 1:
                notes.append(f"median of {rounds} rounds, each in a fresh process and store")
            work = f"log_batch ({n:,} pts), mc.{call}"
            self.rows.append(
                Row(work, "pts/s", rates[0], rates[1], True, "≥ 200,000/s", passed, notes)
            )

    def runs_and_search(self) -> None:
        n = self.sz.runs
        stores = {s: self.backend.new_store(s, "runs") for s in ("mlflow", "modelcycle")}
        res: dict[str, dict[str, Any] | None] = {}
        srch: dict[str, dict[str, Any] | None] = {}
        notes_r: list[str] = []
        notes_s: list[str] = []
        for side, store in stores.items():
            try:
                res[side] = self.sides.run(side, "runs", store, f"create {n:,} runs", n=n)
            except SideError as exc:
                console.print(f"[red]{exc}[/red]")
                notes_r.append(f"{side} failed")
                res[side] = srch[side] = None
                continue
            try:
                srch[side] = self.sides.run(
                    side,
                    "search",
                    store,
                    f"search_runs over {n:,}",
                    n=n,
                    repeats=self.sz.repeats,
                )
                if not srch[side]["correct"]:  # type: ignore[index]
                    notes_s.append(f"{side}: WRONG search results")
            except SideError as exc:
                console.print(f"[red]{exc}[/red]")
                notes_s.append(f"{side} failed")
                srch[side] = None
        self.raw["runs"] = res
        self.raw["search"] = srch
        rates = [r["runs"] / r["seconds"] if r else None for r in res.values()]
        row = Row(
            f"create {n:,} runs",
            "runs/s",
            rates[0],
            rates[1],
            True,
            "≥ 20x",
            None,
            notes_r,
        )
        if row.ratio is not None:
            row.passed = row.ratio >= 20
        self.rows.append(row)
        ms = [s["median_ms"] if s else None for s in srch.values()]
        hits = srch["mlflow"]["results"] if srch["mlflow"] else None
        row = Row(
            f"search_runs ({n:,} runs)",
            "ms",
            ms[0],
            ms[1],
            False,
            "≥ 50x",
            None,
            [*notes_s, f"{hits} results"] if hits is not None else notes_s,
        )
        if row.ratio is not None:
            row.passed = row.ratio >= 50 and not notes_s
        self.rows.append(row)

    def big_search(self) -> None:
        want = self.sz.populate
        store = self.backend.new_store("modelcycle", "big")
        notes: list[str] = []
        try:
            pop = self.sides.run(
                "modelcycle",
                "populate",
                store,
                f"populate {want:,} runs",
                n=want,
                budget=self.sz.populate_budget,
            )
            got = pop["runs"]
            notes.append(f"populated {got:,} runs in {pop['seconds']:.0f} s via {pop['call']}")
            if got < want:
                notes.append(
                    f"populating {want:,} runs via the API takes over "
                    f"{self.sz.populate_budget:.0f} s: measured over {got:,}"
                )
            res = self.sides.run(
                "modelcycle",
                "search",
                store,
                f"search_runs over {got:,}",
                n=got,
                repeats=self.sz.repeats,
            )
            if not res["correct"]:
                notes.append("WRONG search results")
        except SideError as exc:
            console.print(f"[red]{exc}[/red]")
            notes.append("modelcycle failed")
            self.raw["big_search"] = None
            self.rows.append(
                Row(
                    "search_runs (many runs, ours)",
                    "ms",
                    None,
                    None,
                    False,
                    "≤ 50 ms @100k",
                    None,
                    notes,
                )
            )
            return
        self.raw["big_search"] = {"populate": pop, "search": res}
        ms = res["median_ms"]
        passed = ms <= 50 and res["correct"] and got >= 100_000
        if got < 100_000 and ms <= 50 and res["correct"]:
            passed = None  # not measured at the target's size
        self.rows.append(
            Row(
                f"search_runs ({got:,} runs, ours)",
                "ms",
                None,
                ms,
                False,
                "≤ 50 ms @100k",
                passed,
                notes,
            )
        )

    def history(self) -> None:
        n = self.sz.history
        ml, mc, notes = self._both(
            "history", f"get_metric_history {n:,}", n=n, repeats=self.sz.repeats
        )
        for name, res in (("MLflow", ml), ("ModelCycle", mc)):
            if res is not None and not res["correct"]:
                notes.append(f"{name}: returned {res['points']:,} points, not {n:,}")
        ms = [r["median_ms"] if r else None for r in (ml, mc)]
        row = Row(
            f"get_metric_history ({n:,} pts)",
            "ms",
            ms[0],
            ms[1],
            False,
            "≥ 50x",
            None,
            notes,
        )
        if row.ratio is not None:
            row.passed = row.ratio >= 50 and not notes
        self.rows.append(row)

    def imports(self) -> None:
        k = self.sz.import_repeats
        task = self.sides.progress.add_task(f"import time x {k} each", total=2 * k)
        ml = import_seconds(self.sides.mlflow_python, "mlflow", k)
        self.sides.progress.update(task, advance=k)
        mc = import_seconds(self.sides.project_python, "modelcycle", k)
        self.sides.progress.update(task, advance=k)
        self.raw["import"] = {"mlflow": ml, "modelcycle": mc}
        a, b = statistics.median(ml), statistics.median(mc)
        self.rows.append(
            Row(
                "import (fresh interpreter)",
                "s",
                a,
                b,
                False,
                "≤ 0.15 s",
                b <= 0.15,
            )
        )


# --------------------------------------------------------------------------- output


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not every platform has one
        return "unknown"


def _machine() -> str:
    mem = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB"
    return f"{os.cpu_count()} cores{mem}"


def _commit() -> str:
    """The checkout measured: short commit, and whether ``src/`` has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "commit unknown"
    return f"commit {head or 'unknown'}{' + uncommitted changes in src/' if dirty else ''}"


def render(rows: list[Row], meta: dict[str, Any]) -> None:
    backend = str(meta["backend"]).split(" ", 1)[0]
    table = Table(title=f"Tracking: ModelCycle vs MLflow, {backend}, {meta['mode']} run")
    for col in ("work", "MLflow", "ModelCycle", "ratio", "target", "pass/fail"):
        table.add_column(
            col, justify="left" if col in ("work", "target") else "right", no_wrap=True
        )
    for r in rows:
        verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a"}
        ratio = f"{r.ratio:,.1f}x" if r.ratio is not None else "—"
        table.add_row(
            r.work,
            _fmt(r.mlflow, r.unit),
            _fmt(r.modelcycle, r.unit),
            ratio,
            r.target,
            verdict[r.passed],
        )
    console.print(table)
    console.print("ratio = how many times better ModelCycle is (faster, or more per second)")
    if meta["mode"] == "quick":
        console.print("[yellow]quick run: smaller workloads; the targets are set for full size")
    for r in rows:
        for note in r.notes:
            console.print(f"  [dim]{r.work}:[/dim] {note}")
    for k, v in meta.items():
        console.print(f"  [bold]{k}[/bold]: {v}")


def side_info(python: str, script: str) -> dict[str, Any]:
    """What a side reports about itself (versions), or a stand-in if it cannot start."""
    out = subprocess.run(
        [python, str(HERE / script), "info"], capture_output=True, text=True, env=_env()
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        console.print(f"[red]{script} cannot start: {last}[/red]")
        return {"version": "unavailable", "batch_call": "unavailable"}
    return json.loads(out.stdout.strip().splitlines()[-1])["result"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def backend_for(name: str, root: Path) -> Iterator[SqliteBackend | PostgresBackend]:
    if name == "sqlite":
        yield SqliteBackend(root)
        return
    pg = PostgresBackend(root)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--mlflow-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    p.add_argument("--project-python", default=sys.executable)
    p.add_argument("--populate", type=int, default=100_000, help="runs for the large search")
    p.add_argument(
        "--populate-budget", type=float, default=180.0, help="seconds to spend populating"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="fresh-process rounds of the logging workloads, median reported (quick: 1)",
    )
    works = ["fluent", "batch", "runs", "big-search", "history", "import"]
    p.add_argument("--only", default=",".join(works), help=f"comma list of {','.join(works)}")
    args = p.parse_args()
    # Absolute (side processes run in their store's folder), but not resolved: a venv's
    # python is a symlink, and resolving it would leave the venv.
    args.mlflow_python = str(Path(args.mlflow_python).absolute())
    args.project_python = str(Path(args.project_python).absolute())
    if not Path(args.mlflow_python).exists():
        raise SystemExit(f"{args.mlflow_python} not found: run `make bench-setup` first")
    chosen = args.only.split(",")
    unknown = set(chosen) - set(works)
    if unknown:
        raise SystemExit(f"unknown work: {', '.join(sorted(unknown))}")

    mlinfo = side_info(args.mlflow_python, "_mlflow_side.py")
    mcinfo = side_info(args.project_python, "_modelcycle_side.py")
    sz = sizes_for(args)
    root = Path(tempfile.mkdtemp(prefix="modelcycle-bench-"))
    started = dt.datetime.now(dt.UTC)
    load_before = _load()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    try:
        with backend_for(args.backend, root) as backend, progress:
            sides = Sides(args.mlflow_python, args.project_python, progress)
            bench = Bench(sides, backend, sz, mcinfo["batch_call"] == "mc.log_batch")
            steps = {
                "fluent": bench.fluent,
                "batch": bench.batch,
                "runs": bench.runs_and_search,
                "big-search": bench.big_search,
                "history": bench.history,
                "import": bench.imports,
            }
            for w in works:
                if w in chosen:
                    steps[w]()
            backend_version = backend.version
    finally:
        shutil.rmtree(root, ignore_errors=True)

    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "backend": f"{args.backend} ({backend_version})",
        "machine": f"{_machine()}, {platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "mlflow": f"{mlinfo['version']} — {mlinfo.get('install', 'install method unknown')}",
        "modelcycle": f"{mcinfo['version']} ({_commit()})",
        "mode": "quick" if args.quick else "full",
        "medians": (
            f"search and history: median of {sz.repeats} after 1 warm-up; "
            f"import: median of {sz.import_repeats} fresh interpreters after 1 warm-up"
        ),
        "wall time": f"{(dt.datetime.now(dt.UTC) - started).total_seconds():.0f} s",
        # The machine is shared: how busy it was says how far to trust the figures.
        "load average (1, 5, 15 min)": f"before {load_before}, after {_load()}",
    }
    render(bench.rows, meta)
    if args.json:
        rows = [{**asdict(r), "ratio": r.ratio} for r in bench.rows]
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "raw": bench.raw}, indent=2))
        console.print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
