"""Models benchmark: logging and loading a model, ours against MLflow in one run; evaluation.

Run by hand with the project venv, after ``make bench-setup`` (MLflow in ``.bench-venv``)::

    .venv/bin/python benchmarks/models.py [--mlflow-python .bench-venv/bin/python]
        [--rounds 3] [--eval-rows 100000] [--only log,load,evaluate] [--json PATH]

Every measurement runs in a fresh child process on a fresh store (SQLite file + local folder
for both tools), for ``GradientBoostingClassifier(n_estimators=100, random_state=0)`` fit on
breast_cancer before the clock starts:

- ``log``: one ``log_model`` call inside a run with a 5-row input example
  (``mc.log_model`` / ``mlflow.sklearn.log_model``; MLflow 3.18 needs
  ``skops_trusted_types`` for tree models), the first call of the process;
- ``load``: a fresh process that already imported the library loads the registered model and
  predicts one row (``mc.models.load(ref).predict`` / ``mlflow.pyfunc.load_model(uri).predict``);
- ``evaluate``: ours alone, ``mc.evaluate`` of the model on a dataset version of 100,000 rows
  (breast_cancer rows resampled with noise), report included, without SHAP.

Medians of ``--rounds`` processes. Never run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONWARNINGS": "ignore"}

_TRAIN = r"""
import json, sys, time
from pathlib import Path
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y)
store = Path(sys.argv[1])
"""

_OURS_LOG = (
    _TRAIN
    + r"""
import modelcycle as mc
mc.configure(str(store)); mc.set_project("bench")
with mc.start_run() as run:
    t0 = time.perf_counter()
    mc.log_model(model, input_example=X.head(5))
    seconds = time.perf_counter() - t0
mc.models.register(run, "gbm")
print(json.dumps({"seconds": seconds}))
"""
)

_MLFLOW_LOG = (
    _TRAIN
    + r"""
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
mlflow.set_experiment("bench")
with mlflow.start_run() as run:
    t0 = time.perf_counter()
    mlflow.sklearn.log_model(model, name="model", input_example=X.head(5),
                             skops_trusted_types=["sklearn.tree._tree.Tree"])
    seconds = time.perf_counter() - t0
(store / "run_id").write_text(run.info.run_id)
print(json.dumps({"seconds": seconds, "version": mlflow.__version__}))
"""
)

_OURS_LOAD = r"""
import json, sys, time
import modelcycle as mc
import numpy, pandas, sklearn.ensemble  # the libraries a caller already has loaded
from sklearn.datasets import load_breast_cancer
row = load_breast_cancer(as_frame=True).data.head(1)
mc.configure(sys.argv[1]); mc.set_project("bench")
t0 = time.perf_counter()
model = mc.models.load("gbm@latest")
model.predict(row)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

_MLFLOW_LOAD = r"""
import json, sys, time
from pathlib import Path
import mlflow, mlflow.pyfunc
import numpy, pandas, sklearn.ensemble
from sklearn.datasets import load_breast_cancer
row = load_breast_cancer(as_frame=True).data.head(1)
store = Path(sys.argv[1])
mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
run_id = (store / "run_id").read_text()
t0 = time.perf_counter()
model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
model.predict(row)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

_OURS_EVALUATE = (
    _TRAIN
    + r"""
import numpy as np
import modelcycle as mc
rows = int(sys.argv[2])
rng = np.random.default_rng(0)
picks = rng.integers(0, len(X), rows)
frame = X.iloc[picks].reset_index(drop=True)
frame = frame * (1 + rng.normal(0, 0.01, frame.shape))
frame["target"] = y.iloc[picks].to_numpy()
mc.configure(str(store))
mc.set_project("bench", task="classification", target="target", metric="roc_auc", goal=0.9)
with mc.start_run() as run:
    mc.log_model(model, input_example=X.head(5))
mc.models.register(run, "gbm")
data = mc.data.register("eval", frame)
t0 = time.perf_counter()
result = mc.evaluate("gbm@1", data)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "rows": rows, "roc_auc": result.metrics.get("roc_auc")}))
"""
)


def _child(python: str, code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter inside the store folder (MLflow writes ./mlruns)."""
    env = {**os.environ, **QUIET, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=args[0],
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _median(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["seconds"] for r in runs)


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print both figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlflow-python", default=".bench-venv/bin/python")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eval-rows", type=int, default=100_000)
    parser.add_argument("--only", default="log,load,evaluate")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    args.mlflow_python = str(Path(args.mlflow_python).absolute())  # children run elsewhere
    ours_python = sys.executable
    print(f"CPython {platform.python_version()}, {os.cpu_count()} CPUs")
    results: dict[str, Any] = {}
    lines = []
    with tempfile.TemporaryDirectory(prefix="mc-bench-models-") as tmp:
        root = Path(tmp)
        stores = []
        if wanted & {"log", "load"}:
            ours, theirs = [], []
            for i in range(args.rounds):
                mine, mlf = root / f"ours{i}", root / f"mlflow{i}"
                mine.mkdir()
                mlf.mkdir()
                ours.append(_child(ours_python, _OURS_LOG, str(mine)))
                theirs.append(_child(args.mlflow_python, _MLFLOW_LOG, str(mlf)))
                stores.append((mine, mlf))
            results["log"] = {"ours": ours, "mlflow": theirs}
            a, b = _median(theirs), _median(ours)
            lines.append(("log_model, GBM 100 trees", a, b, ">= 50x", a / b >= 50))
        if "load" in wanted:
            ours = [_child(ours_python, _OURS_LOAD, str(m)) for m, _ in stores]
            theirs = [_child(args.mlflow_python, _MLFLOW_LOAD, str(f)) for _, f in stores]
            results["load"] = {"ours": ours, "mlflow": theirs}
            a, b = _median(theirs), _median(ours)
            lines.append(("load + first predict, 1 row", a, b, "<= 0.1 s", b <= 0.1))
        if "evaluate" in wanted:
            runs = []
            for i in range(args.rounds):
                folder = root / f"eval{i}"
                folder.mkdir()
                runs.append(_child(ours_python, _OURS_EVALUATE, str(folder), str(args.eval_rows)))
            results["evaluate"] = runs
            b = _median(runs)
            label = f"mc.evaluate, {args.eval_rows:,} rows, report included"
            lines.append((label, None, b, "<= 5 s", b <= 5))
    print(f"\n{'work':<48} {'MLflow':>9} {'ModelCycle':>11} {'ratio':>7}  target")
    for work, anchor, ours_s, target, ok in lines:
        ratio = f"{anchor / ours_s:.0f}x" if anchor else "-"
        shown = f"{anchor:.3f} s" if anchor else "-"
        verdict = "pass" if ok else "FAIL"
        print(f"{work:<48} {shown:>9} {ours_s:>9.3f} s {ratio:>7}  {target} {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(line[4] for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
