"""Online serving speed: ``modelcycle serve`` against ``mlflow models serve``, one row per request.

Both sides serve the same ``GradientBoostingClassifier(n_estimators=100, random_state=0)``
fitted on scikit-learn's breast-cancer data (each side fits it with the same scikit-learn
version and seed; the benchmark checks both answer the probe row alike). Ours is logged and
registered in a temporary store twice: ``bc``, exported to ONNX (served by ONNX Runtime when
the server loads through ``model_holder.load_runtime``), and ``bc_python``, never exported
(served by the Python model). MLflow's is logged with ``mlflow.sklearn.log_model`` to a
temporary SQLite tracking store and served with ``mlflow models serve --env-manager local -w 1``
from its own venv (``make bench-setup``).

Each server runs alone on a free loopback port. Measured for each:

- start to ready: from spawning the process until the readiness URL first answers 200 (ours:
  ``/ready``, 503 until the model is loaded; MLflow: ``/ping``);
- throughput and p99 latency with ``wrk`` (Debian's package) POSTing one row in MLflow's
  ``dataframe_split`` format to ``/invocations``: ``-t1 -c1`` and ``-t2 -c16``, each after a
  warm-up; our prediction logging is on (it always is) and the logged rows are counted after;
- resident memory: the sum of VmRSS over the server's process tree after the load.

The machine is shared: the load average is printed before each server, and figures move from
run to run; each ratio compares figures taken minutes apart in the same run. Run by hand::

    .venv/bin/python benchmarks/serving.py [--seconds 12] [--warmup 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench"
SEED = 0
THROUGHPUT_TARGET = 12.0  # x MLflow's requests per second, at both concurrencies
P99_TARGET = 20.0  # MLflow's p99 / ours
READY_TARGET_S = 1.5
RSS_TARGET_MIB = 250.0
READY_TIMEOUT_S = 120.0
LOADS = (("c1", 1, 1), ("c16", 2, 16))  # name, wrk threads, connections

_MLFLOW_SIDE = """
import json, os, sys
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
import mlflow, sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
experiment = mlflow.create_experiment("bench", artifact_location=f"file://{folder}/artifacts")
x, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = GradientBoostingClassifier(n_estimators=100, random_state=int(sys.argv[2])).fit(x, y)
with mlflow.start_run(experiment_id=experiment):
    info = mlflow.sklearn.log_model(
        model, name="model", input_example=x.head(5),
        skops_trusted_types=["sklearn.tree._tree.Tree"])
print(json.dumps({"uri": info.model_uri, "mlflow": mlflow.__version__,
                  "sklearn": sklearn.__version__}))
"""


@dataclass
class Load:
    """One wrk run."""

    requests_per_s: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


@dataclass
class Figures:
    """What one server measured."""

    name: str
    ready_s: float
    rss_mib: float
    loads: dict[str, Load] = field(default_factory=dict)
    runtime: str = ""
    logged: int | None = None
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _wait_ready(process: subprocess.Popen[bytes], url: str, started: float) -> float:
    while True:
        try:
            if _get(url)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url}")
        if time.perf_counter() - started > READY_TIMEOUT_S:
            raise RuntimeError(f"{url} did not answer 200 within {READY_TIMEOUT_S} s")
        time.sleep(0.005)


def _tree_rss_mib(pid: int) -> float:
    """The sum of VmRSS over ``pid`` and its descendants, in MiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total_kib, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read the wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def _wrk(url: str, script: Path, threads: int, connections: int, seconds: float) -> Load:
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or p99 is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}\n{done.stderr}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    load = Load(float(rate.group(1)), _wrk_ms(p99.group(1)), int(total.group(1)), errors)
    if errors:
        raise RuntimeError(f"{errors} of {load.requests} requests to {url} failed:\n{out}")
    return load


def _measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    args: argparse.Namespace,
    script: Path,
    body: bytes,
    log_path: Path,
) -> tuple[Figures, Any]:
    """Start a server, time its readiness, load it with wrk, read its memory, stop it."""
    base = f"http://127.0.0.1:{port}"
    load_average = os.getloadavg()
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)
        try:
            try:
                ready_s = _wait_ready(process, base + ready_path, started)
            except RuntimeError as exc:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name}: {exc}; its log ends:\n{tail}") from None
            answer = _post(base + "/invocations", body)
            ready_body = _get(base + ready_path)[1]
            url = base + "/invocations"
            figures = Figures(name, ready_s, 0.0, load_average=load_average)
            try:
                figures.runtime = str(json.loads(ready_body).get("runtime", ""))
            except ValueError:
                figures.runtime = ""
            for load_name, threads, connections in LOADS:
                _wrk(url, script, threads, connections, args.warmup)
                figures.loads[load_name] = _wrk(url, script, threads, connections, args.seconds)
            figures.rss_mib = _tree_rss_mib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return figures, answer


def _ours(
    folder: Path, args: argparse.Namespace, script: Path, body: bytes
) -> tuple[list[Figures], list[Any]]:
    import modelcycle as mc
    from modelcycle.sdk import session

    store = folder / "store"
    mc.configure(str(store))
    mc.set_project(PROJECT)
    x, y = _data()
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=100, random_state=SEED).fit(x, y)
    versions = {}
    for name, onnx in (("bc", True), ("bc_python", False)):
        with mc.start_run() as run:
            mc.log_model(model, input_example=x.head(20))
        version = mc.models.register(run, name)
        mc.models.set_alias(name, "production", version.version, force=True, reason="benchmark")
        if onnx:
            parity = mc.models.export(version.ref, format="onnx").parity
            print(f"ONNX export of {version.ref}: parity passed={parity.passed}")
        versions[name] = mc.models.get(version.ref).id
    session.configure()
    env = {**os.environ, "MODELCYCLE_URI": str(store)}
    results, answers = [], []
    for name, label in (("bc", "ModelCycle, ONNX form"), ("bc_python", "ModelCycle, Python")):
        port = _free_port()
        command = [sys.executable, "-m", "modelcycle", "serve", f"{name}@production"]
        command += ["-p", PROJECT, "--port", str(port)]
        figures, answer = _measure(
            label, command, env, port, "/ready", args, script, body, folder / f"{name}.log"
        )
        figures.logged = _logged(store, versions[name])
        results.append(figures)
        answers.append(answer)
    return results, answers


def _logged(store: Path, version_id: str) -> int:
    import modelcycle as mc
    from modelcycle.sdk import session
    from modelcycle.store.predictions import read_predictions

    mc.configure(str(store))
    try:
        current = session.get_session()
        table = read_predictions(current.metadata, current.artifacts, model_version_id=version_id)
        return int(table.num_rows)
    finally:
        session.configure()


def _mlflow(
    folder: Path, args: argparse.Namespace, script: Path, body: bytes
) -> tuple[Figures, Any, dict[str, Any]]:
    python = Path(args.mlflow_python)
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow/mlflow.db",
        # mlflow models serve runs `uvicorn` from PATH: its own venv's, as if activated
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    (folder / "mlflow").mkdir()
    logged = subprocess.run(
        [str(python), "-c", _MLFLOW_SIDE, str(folder / "mlflow"), str(SEED)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if logged.returncode != 0:
        raise RuntimeError(f"logging the model to MLflow failed:\n{logged.stderr}")
    info = json.loads(logged.stdout.strip().splitlines()[-1])
    port = _free_port()
    command = [str(python.parent / "mlflow"), "models", "serve", "-m", info["uri"]]
    command += ["--env-manager", "local", "-w", "1", "-h", "127.0.0.1", "-p", str(port)]
    figures, answer = _measure(
        "MLflow", command, env, port, "/ping", args, script, body, folder / "mlflow.log"
    )
    return figures, answer, info


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y


def _request(folder: Path) -> tuple[Path, bytes]:
    x, _ = _data()
    row = x.iloc[[7]]
    body = json.dumps(
        {"dataframe_split": {"columns": list(row.columns), "data": row.to_numpy().tolist()}}
    )
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [==[{body}]==]\n"
    )
    return script, body.encode()


def _row(label: str, theirs: str, ours: list[str], ratios: list[str], target: str) -> str:
    cells = [f"{label:24s}", f"{theirs:>10s}"]
    for value, ratio in zip(ours, ratios, strict=True):
        cells += [f"{value:>10s}", f"{ratio:>12s}"]
    cells.append(f"  {target}")
    return " ".join(cells)


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _table(mlflow: Figures, ours: list[Figures]) -> list[str]:
    names = [f.name.replace("ModelCycle, ", "") for f in ours]
    lines = [_row("", "MLflow", names, ["ratio"] * len(ours), "target")]
    for load_name, _threads, connections in LOADS:
        theirs = mlflow.loads[load_name]
        values = [f.loads[load_name] for f in ours]
        lines.append(
            _row(
                f"req/s, c={connections}",
                f"{theirs.requests_per_s:,.0f}",
                [f"{v.requests_per_s:,.0f}" for v in values],
                [
                    f"{v.requests_per_s / theirs.requests_per_s:.1f}x "
                    f"{_verdict(v.requests_per_s >= THROUGHPUT_TARGET * theirs.requests_per_s)}"
                    for v in values
                ],
                f">= {THROUGHPUT_TARGET:g}x MLflow",
            )
        )
        lines.append(
            _row(
                f"p99 ms, c={connections}",
                f"{theirs.p99_ms:.2f}",
                [f"{v.p99_ms:.2f}" for v in values],
                [
                    f"1/{theirs.p99_ms / v.p99_ms:.1f} "
                    f"{_verdict(v.p99_ms * P99_TARGET <= theirs.p99_ms)}"
                    for v in values
                ],
                f"<= 1/{P99_TARGET:g} of MLflow",
            )
        )
    lines.append(
        _row(
            "start to ready, s",
            f"{mlflow.ready_s:.2f}",
            [f"{f.ready_s:.2f}" for f in ours],
            [
                f"{mlflow.ready_s / f.ready_s:.1f}x {_verdict(f.ready_s <= READY_TARGET_S)}"
                for f in ours
            ],
            f"<= {READY_TARGET_S:g} s",
        )
    )
    lines.append(
        _row(
            "RSS after load, MiB",
            f"{mlflow.rss_mib:.0f}",
            [f"{f.rss_mib:.0f}" for f in ours],
            [
                f"{mlflow.rss_mib / f.rss_mib:.1f}x {_verdict(f.rss_mib <= RSS_TARGET_MIB)}"
                for f in ours
            ],
            f"<= {RSS_TARGET_MIB:g} MiB",
        )
    )
    return lines


def main() -> int:
    """Run both servers, print the table (and write ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="each wrk run (default 12)")
    parser.add_argument("--warmup", type=float, default=3.0, help="wrk warm-up before each run")
    parser.add_argument(
        "--mlflow-python", default=str(ROOT / ".bench-venv" / "bin" / "python"), help="MLflow's"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk")
        return 2
    if not Path(args.mlflow_python).exists():
        print(f"no {args.mlflow_python}: run make bench-setup first")
        return 2
    import sklearn

    with tempfile.TemporaryDirectory(prefix="modelcycle-serving-") as temp:
        folder = Path(temp)
        script, body = _request(folder)
        ours, our_answers = _ours(folder, args, script, body)
        mlflow, their_answer, info = _mlflow(folder, args, script, body)
    print(
        f"\nMLflow {info['mlflow']} (scikit-learn {info['sklearn']}), ModelCycle "
        f"(scikit-learn {sklearn.__version__}); {os.cpu_count()} CPUs shared with other work"
    )
    same = all(a["predictions"] == their_answer["predictions"] for a in our_answers)
    print(
        f"probe row: MLflow {their_answer['predictions']}, ours "
        f"{[a['predictions'] for a in our_answers]} (same: {same})"
    )
    for figures in (*ours, mlflow):
        loads = ", ".join(
            f"{name}: {load.requests} requests, {load.errors} errors"
            for name, load in figures.loads.items()
        )
        extra = f", runtime {figures.runtime!r}" if figures.runtime else ""
        logged = f", {figures.logged} predictions logged" if figures.logged is not None else ""
        avg = ", ".join(f"{v:.2f}" for v in figures.load_average)
        print(f"  {figures.name}: load average before {avg}; {loads}{extra}{logged}")
    print()
    for line in _table(mlflow, ours):
        print(line)
    if args.json:
        record = {
            "mlflow": asdict(mlflow),
            "ours": [asdict(f) for f in ours],
            "versions": {**info, "modelcycle_sklearn": sklearn.__version__},
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
