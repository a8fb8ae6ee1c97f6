"""Install MLflow (the anchor) into its own venv for the benchmarks: ``make bench-setup``.

Run by any Python 3.11+ (standard library only) after ``python -m venv VENV``.

``mlflow==3.18.0`` pins ``mlflow-skinny==3.18.0`` and ``mlflow-tracing==3.18.0``, which the
package index may lack. The ``mlflow`` wheel carries the whole ``mlflow`` package itself, so we
install it with ``--no-deps`` and then its declared dependencies, taking those of
``mlflow-skinny``/``mlflow-tracing`` from the newest release of each that the index has (the
two packages themselves are never installed: they would overwrite ``mlflow/``). If any of that
fails we fall back to ``mlflow==3.17.2``, which resolves normally. Either way the venv gets
``psycopg[binary]`` and ``psycopg2-binary`` (PostgreSQL drivers: SQLAlchemy 2.1 defaults to
psycopg 3, older releases to psycopg2) and a marker file
``VENV/modelcycle-bench.json`` saying what was installed, which the benchmark prints.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WANTED = "3.18.0"
FALLBACK = "3.17.2"
SPLIT_OUT = ("mlflow-skinny", "mlflow-tracing")
EXTRA = ["psycopg[binary]", "psycopg2-binary"]


def _pip(venv: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=check, text=True)


def _venv_python(venv: Path, code: str) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
    )
    return out.stdout.strip()


def _name(req: str) -> str:
    for i, ch in enumerate(req):
        if not (ch.isalnum() or ch in "-_."):
            return req[:i].lower().replace("_", "-")
    return req.lower().replace("_", "-")


def _base_requires(lines: list[str]) -> list[str]:
    """Requirements that apply without extras."""
    return [r for r in lines if "extra ==" not in r and "extra==" not in r]


def _wheel_requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def _install_wanted(venv: Path) -> str:
    _pip(venv, "install", "--no-deps", f"mlflow=={WANTED}")
    declared = json.loads(
        _venv_python(
            venv, "import json, importlib.metadata as m; print(json.dumps(m.requires('mlflow')))"
        )
    )
    reqs = [r for r in _base_requires(declared) if _name(r) not in SPLIT_OUT]
    with tempfile.TemporaryDirectory() as tmp:
        _pip(venv, "download", "--no-deps", "--dest", tmp, *SPLIT_OUT)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != len(SPLIT_OUT):
            raise RuntimeError(f"expected {len(SPLIT_OUT)} wheels, got {wheels}")
        used = [w.name.split("-")[0] + "==" + w.name.split("-")[1] for w in wheels]
        for w in wheels:
            reqs += [r for r in _base_requires(_wheel_requires(w)) if _name(r) not in SPLIT_OUT]
    reqs = sorted(set(reqs + EXTRA))
    _pip(venv, "install", *reqs)
    _venv_python(venv, "import mlflow, mlflow.tracking, sqlalchemy, psycopg, psycopg2")
    return (
        f"mlflow=={WANTED} --no-deps + its declared dependencies "
        f"(those of {' and '.join(SPLIT_OUT)} taken from {', '.join(used)})"
    )


def _install_fallback(venv: Path) -> str:
    _pip(venv, "uninstall", "-y", "mlflow", check=False)
    _pip(venv, "install", f"mlflow=={FALLBACK}", *EXTRA)
    return f"mlflow=={FALLBACK} (mlflow=={WANTED} could not be installed)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--venv", type=Path, default=Path(".bench-venv"))
    args = p.parse_args()
    venv: Path = args.venv
    if not (venv / "bin" / "python").exists():
        sys.exit(f"{venv} is not a venv: run `python3 -m venv {venv}` first")
    _pip(venv, "install", "--upgrade", "pip", check=False)
    try:
        how = _install_wanted(venv)
    except (subprocess.CalledProcessError, RuntimeError, StopIteration) as exc:
        print(f"mlflow=={WANTED} with --no-deps failed ({exc}); falling back", flush=True)
        how = _install_fallback(venv)
    version = _venv_python(venv, "import mlflow; print(mlflow.__version__)")
    (venv / "modelcycle-bench.json").write_text(
        json.dumps({"version": version, "install": how}, indent=2) + "\n"
    )
    print(f"MLflow {version} installed in {venv}: {how}")


if __name__ == "__main__":
    main()
