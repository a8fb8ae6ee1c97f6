"""Packaging a fitted model into bytes plus metadata, and loading it back, verified.

``package_model`` picks the flavor, infers the signature (running the model on the input
example, which also proves the example fits), serialises the model, hashes the bytes and pins
the requirements. ``load_packaged`` refuses bytes whose sha256 is not the recorded digest
before reading any of them, then returns a ``LoadedModel`` that checks input against the
signature. Nothing here touches a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.model import InputKind, Signature
from modelcycle.core.errors import InvalidInput
from modelcycle.services.packaging._requirements import requirements_for
from modelcycle.services.packaging.example import ExampleFormat, encode_input_example
from modelcycle.services.packaging.flavors import flavor_for, get_flavor
from modelcycle.services.packaging.load import digest_of, verify_digest
from modelcycle.services.packaging.loaded import LoadedModel
from modelcycle.services.packaging.signature import infer_signature

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.services.packaging._flavor_protocol import Flavor, Task


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A model ready to store: its bytes and everything recorded about them."""

    flavor: str
    data: bytes
    digest: str  # sha256 hex of ``data``
    size_bytes: int
    signature: Signature
    requirements: tuple[str, ...]  # "package==version", sorted
    task: Task | None
    classes: tuple[Any, ...] | None
    input_example: bytes | None = None
    input_example_format: ExampleFormat | None = None

    @property
    def input_example_digest(self) -> str | None:
        """The sha256 of the stored input example, when there is one."""
        return None if self.input_example is None else digest_of(self.input_example)


def package_model(
    model: object, *, input_example: object = None, flavor: str | Flavor | None = None
) -> PackagedModel:
    """Serialise ``model`` with its signature, digest and pinned requirements.

    Args:
        model: a fitted model (scikit-learn, LightGBM, XGBoost, or any object with ``predict``).
        input_example: a few rows of input (DataFrame, dict, list of row dicts, 2-D array);
            without one, the signature comes from what the model records about itself
            (``feature_names_in_`` / ``n_features_in_``) where that is enough.
        flavor: a flavor name or object; found from the model when not given.

    Raises:
        InvalidInput: the model type is unsupported, the flavor does not fit the model, the
            example does not fit the model, or there is no example and the model does not
            record its inputs.
    """
    chosen = _choose_flavor(model, flavor)
    if input_example is not None:
        signature = infer_signature(input_example, model, flavor=chosen)
    else:
        recorded = chosen.input_signature(model)
        if recorded is None:
            raise InvalidInput(
                f"cannot tell what this {type(model).__name__} takes as input: pass "
                "input_example=<a few rows of the training data>"
            )
        signature = recorded
    data = chosen.save(model)
    example, example_format = (
        encode_input_example(input_example) if input_example is not None else (None, None)
    )
    return PackagedModel(
        flavor=chosen.name,
        data=data,
        digest=digest_of(data),
        size_bytes=len(data),
        signature=signature,
        requirements=requirements_for(chosen, model, named_input=signature.kind is InputKind.FRAME),
        task=chosen.task_of(model),
        classes=chosen.classes_of(model),
        input_example=example,
        input_example_format=example_format,
    )


def load_packaged(
    data: bytes, *, flavor: str, digest: str, signature: Signature | Mapping[str, Any]
) -> LoadedModel:
    """Load packaged bytes after checking them against their recorded digest.

    Args:
        data: the model bytes, as stored.
        flavor: the recorded flavor name.
        digest: the recorded sha256 hex digest of ``data``.
        signature: the recorded signature (or its ``to_dict`` form).

    Raises:
        IntegrityError: the bytes differ from what was recorded; nothing was deserialised.
        InvalidInput: the flavor is unknown.
    """
    verify_digest(data, digest)
    chosen = get_flavor(flavor)
    raw = chosen.load(data, digest)
    if not isinstance(signature, Signature):
        signature = Signature.from_dict(signature)
    return LoadedModel(raw, flavor=chosen, signature=signature)


def _choose_flavor(model: object, flavor: str | Flavor | None) -> Flavor:
    if flavor is None:
        return flavor_for(model)
    chosen = get_flavor(flavor) if isinstance(flavor, str) else flavor
    if not chosen.matches(model):
        raise InvalidInput(
            f"the {chosen.name} flavor cannot save a {type(model).__name__}; "
            f"leave flavor unset to detect it (it would be {flavor_for(model).name})"
        )
    return chosen
