"""The model a server answers with, and its swap when the alias moves.

The holder resolves the served reference (``churn@production``) every ``poll_seconds`` on a
thread of its own. When it names another version, that version is loaded (verified) in the
background while the old one keeps answering, and then one reference assignment swaps them:
every request reads ``holder.current`` once and is answered, start to end, by one version,
which it names in its response. A version that fails to load is reported and the old one stays.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.packaging.loaded import LoadedModel

log = logging.getLogger("modelcycle.serve")


@dataclass(frozen=True, slots=True)
class Serving:
    """One loaded version: what a request is answered with."""

    version: ModelVersion
    model: LoadedModel


class ModelHolder:
    """Holds the current ``Serving`` and swaps it when the reference moves."""

    def __init__(
        self,
        resolve: Callable[[], ModelVersion],
        load: Callable[[ModelVersion], LoadedModel],
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
        serving = Serving(version, self._load(version))
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
        serving = Serving(version, self._load(version))
        self._current = serving  # one assignment: requests see the old or the new, whole
        self.swaps += 1
        if self._on_swap is not None:
            self._on_swap(version)
        log.info("now serving %s", version.ref)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep serving the old version; say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("could not load the new version: %s", self.last_error)
