"""The model a server answers with, and its swap when the alias moves.

The holder resolves the served reference (``churn@production``) every ``poll_seconds`` on a
thread of its own. When it names another version, that version is loaded (verified) in the
background while the old one keeps answering, and then one reference assignment swaps them:
every request reads ``holder.current`` once and is answered, start to end, by one version,
which it names in its response. A version that fails to load is reported and the old one stays.

What a version answers with is decided when it is loaded (``load_runtime``): its ONNX form in
ONNX Runtime when the version has one whose parity check passed, else the Python model. The
holder also takes a ``load`` that returns a plain ``LoadedModel``; that is served by the Python
runtime.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelcycle.services.serve._runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.store.artifacts import ArtifactStore

log = logging.getLogger("modelcycle.serve")


@dataclass(frozen=True, slots=True)
class Serving:
    """One loaded version: what a request is answered with."""

    version: ModelVersion
    runtime: Runtime


def load_runtime(
    artifacts: ArtifactStore, version: ModelVersion, *, prefer_onnx: bool = True
) -> Runtime:
    """What ``version`` is served with: its parity-checked ONNX form, else the Python model.

    The ONNX form is used when ``prefer_onnx`` is true, the version was exported to ONNX and
    that export passed its parity check, and onnxruntime is installed; loading it imports
    neither scikit-learn nor pandas. If the session cannot be built (say, an older onnxruntime
    than the export's), the Python model is served and the reason logged.

    Raises:
        IntegrityError: the stored ONNX or model bytes differ from what was recorded.
        NotFound: the bytes are missing from the artifact store.
    """
    from modelcycle.core.errors import MissingDependency
    from modelcycle.services.registry.exports import passed_export, read_export

    record = passed_export(version, "onnx") if prefer_onnx else None
    if record is not None:
        from modelcycle.services.serve._runtime_onnx import OnnxRuntime

        data = read_export(artifacts, version, "onnx")
        try:
            return OnnxRuntime(data, record, version.model)
        except MissingDependency as exc:
            log.warning("serving %s with the Python model: %s", version.ref, exc)
        except Exception as exc:  # noqa: BLE001 - the Python model still serves; say why
            log.warning(
                "the ONNX form of %s does not load (%s: %s); serving the Python model",
                version.ref,
                type(exc).__name__,
                exc,
            )
    from modelcycle.services.registry.logged import load_logged_model
    from modelcycle.services.serve._runtime_python import PythonRuntime

    return PythonRuntime(load_logged_model(artifacts, version.model))


def _as_runtime(loaded: Runtime | LoadedModel) -> Runtime:
    if isinstance(loaded, Runtime):
        return loaded
    from modelcycle.services.serve._runtime_python import PythonRuntime

    return PythonRuntime(loaded)


class ModelHolder:
    """Holds the current ``Serving`` and swaps it when the reference moves."""

    def __init__(
        self,
        resolve: Callable[[], ModelVersion],
        load: Callable[[ModelVersion], Runtime | LoadedModel],
        *,
        poll_seconds: float = 2.0,
        on_swap: Callable[[ModelVersion], None] | None = None,
    ) -> None:
        self._resolve = resolve
        self._load = load
        self._on_swap = on_swap
        self._poll = poll_seconds
        self._current: Serving | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.last_error: str | None = None

    @property
    def current(self) -> Serving | None:
        """The version answering now (None until the first one is loaded)."""
        return self._current

    def load_now(self) -> Serving:
        """Resolve and load synchronously (at start-up); raises what loading raises."""
        version = self._resolve()
        serving = Serving(version, _as_runtime(self._load(version)))
        self._current = serving
        if self._on_swap is not None:
            self._on_swap(version)
        return serving

    def start(self) -> None:
        """Watch the reference on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="modelcycle-model-watch", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> bool:
        """Resolve once; load and swap when the reference names another version."""
        version = self._resolve()
        current = self._current
        if current is not None and current.version.id == version.id:
            return False
        serving = Serving(version, _as_runtime(self._load(version)))
        self._current = serving  # one assignment: requests see the old or the new, whole
        self.swaps += 1
        if self._on_swap is not None:
            self._on_swap(version)
        log.info("now serving %s (%s)", version.ref, serving.runtime.describe())
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep serving the old version; say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("could not load the new version: %s", self.last_error)
