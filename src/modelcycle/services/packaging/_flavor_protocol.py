"""The contract every model flavor implements.

A flavor knows how to recognise one family of models, turn a fitted model into bytes and back,
and describe it (task, classes, the inputs it records about itself). It never reads or writes
storage: packaging and the store are wired together elsewhere. ``modelcycle.testing.check_flavor``
is the conformance suite every flavor passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from modelcycle.core.entities.model import Signature

Task = Literal["classification", "regression"]


@runtime_checkable
class Flavor(Protocol):
    """One family of models: how to recognise, save, load and describe them.

    Attributes:
        name: the registry name stored with a model (never a module path).
        packages: distribution names whose installed versions are the model's requirements.
    """

    name: str
    packages: tuple[str, ...]

    def matches(self, model: object) -> bool:
        """Whether this flavor can save ``model``."""
        ...

    def save(self, model: object) -> bytes:
        """The model as bytes; ``load`` of these bytes gives an equivalent model."""
        ...

    def load(self, data: bytes, digest: str) -> object:
        """The model saved in ``data``.

        Raises ``IntegrityError`` when the sha256 of ``data`` is not ``digest``, before
        interpreting a single byte (pickled bytes go through ``packaging.load.load_verified``).
        """
        ...

    def task_of(self, model: object) -> Task | None:
        """``"classification"`` or ``"regression"`` when the model tells, else ``None``."""
        ...

    def classes_of(self, model: object) -> tuple[Any, ...] | None:
        """A classifier's classes in ``predict_proba`` column order, else ``None``."""
        ...

    def input_signature(self, model: object) -> Signature | None:
        """The inputs a fitted model records about itself, when that is enough to check input.

        Used when no input example is given; ``None`` when the model does not record enough
        (then the caller must pass an input example).
        """
        ...

    def feed(self, model: object, data: Any) -> Any:
        """Turn validated input (a pandas DataFrame or numpy array) into what ``predict`` takes."""
        ...
