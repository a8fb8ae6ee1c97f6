"""The Java side of PMML: finding a runtime, running sklearn2pmml, opening a PMML evaluator.

sklearn2pmml converts in a ``java`` subprocess. We pickle the wrapped model ourselves into a
temporary folder and hand sklearn2pmml its path, for two reasons:

- the converter refuses a model pickled by a scikit-learn release newer than the newest it
  knows, even a patch release (sklearn2pmml 0.133.1 knows 1.9.0 and refuses 1.9.1). Patch
  releases keep estimators' fitted attributes, so the pickle declares the ``X.Y.0`` release of
  the installed ``X.Y.Z``; the parity check that follows every export is what proves the
  converter read the model right;
- a model that cannot be pickled (a lambda in a ``FunctionTransformer``) is caught here, with
  the step named, before Java starts.

sklearn2pmml prints Java's output rather than returning it; the printing is captured (under a
lock, since it swaps ``sys.stdout``) and mined for the converter's error message.

The evaluator uses jpmml-evaluator with the first JVM bridge installed, in this order: ``jpype``
(an in-process JVM, started once per process), ``pyjnius`` (also in-process), ``py4j`` (a
separate gateway process).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import pickle
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from modelcycle.core.errors import InvalidInput, MissingDependency, ModelCycleError
from modelcycle.services.packaging._export_steps import Step, culprit, iter_steps

MIN_JAVA = 11
_BACKENDS = (("jpype", "jpype"), ("pyjnius", "jnius"), ("py4j", "py4j"))
_JAVA_ERROR = re.compile(r"^((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)): (.+)$", re.M)
_convert_lock = threading.Lock()


class JavaRuntimeMissing(MissingDependency):
    """No usable Java runtime: PMML conversion and evaluation both run on the JVM."""

    def __init__(self, detail: str) -> None:
        ModelCycleError.__init__(
            self,
            f"PMML needs a Java {MIN_JAVA}+ runtime ('java' on PATH, or JAVA_HOME): {detail}",
        )
        self.package = "java"
        self.extra = "pmml"


def java_home() -> str | None:
    """``JAVA_HOME`` when it holds ``bin/java``, else ``None`` (``java`` from PATH is used)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return home
    return None


def check_java() -> str:
    """The Java version string, after checking it is at least ``MIN_JAVA``.

    Raises:
        JavaRuntimeMissing: no ``java``, or one older than ``MIN_JAVA``.
    """
    home = java_home()
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None:
        raise JavaRuntimeMissing("no 'java' executable was found")
    return _java_version(java)


@functools.cache
def _java_version(java: str) -> str:
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    )
    found = re.search(r'version "([^"]+)"', result.stderr + result.stdout)
    if result.returncode != 0 or found is None:
        raise JavaRuntimeMissing(f"'{java} -version' failed: {result.stderr.strip()[:200]}")
    version = found.group(1)
    parts = version.split(".")
    major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0].split("-")[0])
    if major < MIN_JAVA:
        raise JavaRuntimeMissing(f"'{java}' is Java {version}")
    return version


def evaluator_backend() -> str:
    """The jpmml-evaluator backend alias to use: the first bridge installed.

    Raises:
        MissingDependency: none of jpype1, pyjnius, py4j is installed.
    """
    for alias, module in _BACKENDS:
        if importlib.util.find_spec(module) is not None:
            return alias
    raise MissingDependency("jpype1", "pmml")


def declared_sklearn_version() -> str:
    """The scikit-learn release the conversion pickle declares: ``X.Y.0`` of the installed one."""
    import sklearn

    major, minor, *_rest = sklearn.__version__.split(".")
    return f"{major}.{minor}.0"


class _ConverterPickler(pickle.Pickler):
    """A pickler declaring ``declared_sklearn_version()`` in every estimator's state."""

    def __init__(self, file: io.BufferedWriter, version: str) -> None:
        super().__init__(file, protocol=4)  # what the converter's unpickler reads
        self._version = version

    def reducer_override(self, obj: Any) -> Any:
        from sklearn.base import BaseEstimator

        if not isinstance(obj, BaseEstimator):
            return NotImplemented
        reduced = obj.__reduce_ex__(4)
        if not isinstance(reduced, tuple) or len(reduced) < 3 or not isinstance(reduced[2], dict):
            return NotImplemented
        state = dict(reduced[2])
        if "_sklearn_version" in state:
            state["_sklearn_version"] = self._version
        return (*reduced[:2], state, *reduced[3:])


def _unpicklable_step(model: object) -> Step | None:
    for step in iter_steps(model):
        try:
            pickle.dumps(step.obj, protocol=4)
        except (pickle.PicklingError, AttributeError, TypeError):
            return step
    return None


def convert(pipeline: object, model: object, folder: Path) -> bytes:
    """Run sklearn2pmml on ``pipeline`` (wrapping ``model``) inside ``folder``; the PMML bytes.

    Raises:
        InvalidInput: a step cannot be pickled or converted (named, with Java's message).
    """
    from sklearn2pmml import sklearn2pmml

    pkl, pmml = folder / "model.pkl", folder / "model.pmml"
    try:
        with pkl.open("wb") as handle:
            _ConverterPickler(handle, declared_sklearn_version()).dump(pipeline)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        step = _unpicklable_step(model) or culprit(model, str(exc))
        msg = f"PMML cannot express {step.describe()}: it cannot be pickled ({exc})"
        raise InvalidInput(msg) from exc
    output = io.StringIO()
    with _convert_lock, contextlib.redirect_stdout(output):
        try:
            sklearn2pmml(str(pkl), str(pmml), escape_func=None, java_home=java_home())
        except RuntimeError as exc:
            failure: RuntimeError | None = exc
        else:
            failure = None
    if failure is not None or not pmml.is_file():
        text = output.getvalue()
        step = culprit(model, text)
        msg = f"PMML cannot express {step.describe()}: {_java_message(text)}"
        raise InvalidInput(msg) from failure
    return pmml.read_bytes()


def _java_message(text: str) -> str:
    found = _JAVA_ERROR.search(text)
    if found is None:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1][:600] if lines else "the converter failed without a message"
    message = f"{found.group(2).strip()} ({found.group(1).rsplit('.', 1)[-1]})"
    solution = re.search(r"^Solution:\s*\n\s*(.+)$", text[found.end() :], re.M)
    return f"{message}; {solution.group(1).strip()}" if solution else message
