"""The conformance suite every model flavor passes: ``check_flavor``.

Shipped in the package, like scikit-learn's ``check_estimator``, so that a third-party flavor
(registered through the ``modelcycle.flavors`` entry-point group) can prove itself with the
same checks as the built-in ones::

    from modelcycle.testing import check_flavor


    def test_my_flavor():
        check_flavor(MY_FLAVOR, fitted_model, X_train[:20])

Checks, in order: the flavor recognises the model (and detection picks it, when registered);
save/load round trip gives the same type, task and classes; a signature is inferred from the
example, with outputs, and survives its dict form; packaging pins every installed flavor package;
predictions (and class probabilities) of the loaded model equal the original's on the example
(exactly for scikit-learn, else within ``numpy.allclose``); and the digest is verified: one
changed byte, or a foreign pickle, is refused with ``IntegrityError`` before anything is
deserialised. A failure raises ``AssertionError`` saying which check failed and why.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from modelcycle.core.entities.model import Signature
from modelcycle.core.errors import IntegrityError
from modelcycle.services.packaging._flavor_protocol import Flavor
from modelcycle.services.packaging._requirements import ALTERNATIVES
from modelcycle.services.packaging.flavors import flavor_for, get_flavor, known_flavors
from modelcycle.services.packaging.load import digest_of
from modelcycle.services.packaging.loaded import LoadedModel
from modelcycle.services.packaging.package import package_model
from modelcycle.services.packaging.signature import infer_signature, validate_input

__all__ = ["check_flavor"]

_TRIPPED: list[str] = []


def _trip() -> None:
    _TRIPPED.append("a tampered pickle was unpickled")


class _Tripwire:
    """Unpickling it records that it happened: the proof a flavor read unverified bytes."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_trip, ())


def check_flavor(flavor: Flavor | str, model: object, input_example: object) -> None:
    """Run the flavor conformance checks on a fitted ``model`` and a few rows of its input.

    Args:
        flavor: the flavor object, or the name of a registered one.
        model: a fitted model the flavor saves.
        input_example: rows the model accepts (DataFrame, dict, list of rows, 2-D array).

    Raises:
        AssertionError: a check failed; the message names it.
    """
    chosen = get_flavor(flavor) if isinstance(flavor, str) else flavor
    _check_identity(chosen, model)
    data = chosen.save(model)
    _expect(len(data) > 0, f"{chosen.name}.save returned no bytes")
    digest = digest_of(data)
    restored = chosen.load(data, digest)
    _check_round_trip(chosen, model, restored)
    signature = _check_signature(chosen, model, input_example)
    _check_requirements(chosen, model, input_example)
    loaded = LoadedModel(restored, flavor=chosen, signature=signature)
    _check_parity(chosen, model, loaded, input_example)
    _check_digest_verified(chosen, data, digest)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_identity(flavor: Flavor, model: object) -> None:
    _expect(isinstance(flavor, Flavor), f"{flavor!r} does not implement the Flavor protocol")
    _expect(bool(flavor.name), "a flavor needs a name")
    _expect(
        all(bool(p) for p in flavor.packages),
        f"{flavor.name}.packages must be distribution names, got {flavor.packages!r}",
    )
    kind = type(model).__name__
    _expect(flavor.matches(model), f"{flavor.name}.matches is False for a {kind}")
    if flavor.name in known_flavors():
        detected = flavor_for(model).name
        _expect(detected == flavor.name, f"a {kind} is detected as {detected!r}, not {flavor.name}")


def _check_round_trip(flavor: Flavor, model: object, restored: object) -> None:
    _expect(
        type(restored) is type(model),
        f"{flavor.name} round trip gave a {type(restored).__name__}, not a {type(model).__name__}",
    )
    _expect(
        flavor.task_of(restored) == flavor.task_of(model),
        f"{flavor.name}: task {flavor.task_of(restored)!r} after loading, "
        f"{flavor.task_of(model)!r} before",
    )
    _expect(
        flavor.classes_of(restored) == flavor.classes_of(model),
        f"{flavor.name}: classes {flavor.classes_of(restored)!r} after loading, "
        f"{flavor.classes_of(model)!r} before",
    )


def _check_signature(flavor: Flavor, model: object, example: object) -> Signature:
    signature = infer_signature(example, model, flavor=flavor)
    _expect(bool(signature.inputs), f"{flavor.name}: the signature has no inputs")
    _expect(bool(signature.outputs), f"{flavor.name}: the signature has no outputs")
    _expect(
        Signature.from_dict(signature.to_dict()) == signature,
        f"{flavor.name}: the signature does not survive to_dict/from_dict",
    )
    classes = flavor.classes_of(model)
    if classes is not None and callable(getattr(model, "predict_proba", None)):
        proba = [c.name for c in signature.outputs if c.name.startswith("proba_")]
        _expect(
            len(proba) == len(classes),
            f"{flavor.name}: {len(proba)} probability outputs for {len(classes)} classes",
        )
    return signature


def _check_requirements(flavor: Flavor, model: object, example: object) -> None:
    packaged = package_model(model, input_example=example, flavor=flavor)
    pinned = {r.partition("==")[0].lower() for r in packaged.requirements}
    _expect(
        all("==" in r for r in packaged.requirements),
        f"{flavor.name}: requirements must be pinned, got {packaged.requirements!r}",
    )
    accepted = (
        {flavor.packages[0].lower(), *ALTERNATIVES.get(flavor.packages[0], ())}
        if (flavor.packages)
        else set()
    )
    _expect(
        bool(accepted & pinned) if flavor.packages else True,
        f"{flavor.name}: requirements {packaged.requirements!r} miss {flavor.packages[:1]}",
    )
    _expect(packaged.digest == digest_of(packaged.data), f"{flavor.name}: wrong digest")


def _check_parity(flavor: Flavor, model: object, loaded: LoadedModel, example: object) -> None:
    exact = flavor.name == "sklearn"
    fed = flavor.feed(model, validate_input(example, loaded.signature))
    methods = ["predict"]
    if callable(getattr(model, "predict_proba", None)):
        methods.append("predict_proba")
    for method in methods:
        expected = np.asarray(getattr(model, method)(fed))
        got = getattr(loaded, method)(example)
        same = _equal(expected, got) if exact else _close(expected, got)
        _expect(same, f"{flavor.name}: {method} after loading differs from before:\n{got!r}")


def _equal(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _close(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
        return bool(np.allclose(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _check_digest_verified(flavor: Flavor, data: bytes, digest: str) -> None:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    _expect_refused(flavor, bytes(changed), digest, "one changed byte")
    _TRIPPED.clear()
    _expect_refused(flavor, pickle.dumps(_Tripwire(), protocol=5), digest, "a foreign pickle")
    _expect(
        not _TRIPPED,
        f"{flavor.name}.load unpickled bytes before verifying their digest",
    )


def _expect_refused(flavor: Flavor, data: bytes, digest: str, what: str) -> None:
    try:
        flavor.load(data, digest)
    except IntegrityError:
        return
    except Exception as exc:
        raise AssertionError(
            f"{flavor.name}.load of {what} raised {type(exc).__name__}, not IntegrityError: {exc}"
        ) from exc
    raise AssertionError(f"{flavor.name}.load accepted {what} under the original digest")
