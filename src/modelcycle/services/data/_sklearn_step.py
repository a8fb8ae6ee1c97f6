"""A recipe step running any scikit-learn transformer over some columns.

Stored as the transformer's public dotted name plus its non-default ``get_params()`` (JSON-safe
values only). Loading accepts only classes under ``sklearn.`` that subclass ``TransformerMixin``:
stored metadata never names arbitrary code. A fitted transformer is stored as its attributes
(arrays, numbers, text), restored onto a fresh instance of the same allowed class.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._recipe_steps import State, Step
from modelcycle.services.data._specs import require_names

_DOTTED = re.compile(r"sklearn(\.[A-Za-z][A-Za-z0-9_]*)+")


class _NotPortable(Exception):
    """A value that has no JSON form here."""


def dotted_name(cls: type) -> str:
    """The shortest public ``sklearn.x.Name`` path that leads to ``cls``."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module = ".".join(parts[:end])
        if getattr(importlib.import_module(module), cls.__name__, None) is cls:
            return f"{module}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__name__}"


def resolve(name: object) -> type:
    """The transformer class a stored name refers to, if it is one scikit-learn ships."""
    refusal = (
        f"transformer {name!r} is refused: only scikit-learn transformers "
        "(sklearn.<module>.<Class>, subclassing TransformerMixin) can be loaded, because "
        "stored metadata never names arbitrary code"
    )
    if not isinstance(name, str) or not _DOTTED.fullmatch(name):
        raise InvalidInput(refusal)
    from sklearn.base import TransformerMixin

    module_name, _, attr = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        found = None
    if not (
        isinstance(found, type)
        and issubclass(found, TransformerMixin)
        and found.__module__.startswith("sklearn.")
    ):
        raise InvalidInput(refusal)
    return found


def _same(left: object, right: object) -> bool:
    if left is right:
        return True
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if type(left) is not type(right):
        return False
    try:
        return bool(left == right)
    except (TypeError, ValueError):
        return False


def _plain_param(name: str, value: object) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [_plain_param(name, item) for item in value]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: _plain_param(name, item) for key, item in value.items()}
    raise InvalidInput(
        f"parameter {name}={value!r} cannot be stored: only text, numbers, booleans, lists and "
        "mappings of them can; keep its default or use a separate step"
    )


def _defaults(cls: type) -> dict[str, Any]:
    try:
        return dict(cls().get_params(deep=False))
    except TypeError:  # a class with required parameters has no defaults to leave out
        return {}


def plain_params(transformer: Any) -> dict[str, Any]:
    """The parameters that differ from the class defaults, JSON-safe."""
    defaults = _defaults(type(transformer))
    return {
        name: _plain_param(name, value)
        for name, value in transformer.get_params(deep=False).items()
        if name not in defaults or not _same(value, defaults[name])
    }


def _wants_tuple(default: object, value: object) -> bool:
    return isinstance(default, tuple) and isinstance(value, list)


def build_transformer(cls: type, params: object) -> Any:
    """An instance of an allowed class with stored parameters (lists back to tuples)."""
    if not isinstance(params, Mapping):
        raise InvalidInput(f"field 'params' must be a mapping, got {params!r}")
    defaults = _defaults(cls)
    valid = set(defaults) or set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - valid)
    if unknown:
        raise InvalidInput(
            f"{cls.__name__} has no parameter {unknown[0]!r}; valid: {', '.join(sorted(valid))}"
        )
    restored = {
        name: tuple(value)
        if isinstance(defaults[name], tuple) and isinstance(value, list)
        else value
        for name, value in params.items()
    }
    return cls(**restored)


def _encode_numpy(value: object) -> Any:
    if isinstance(value, np.generic):
        return {"scalar": value.dtype.str, "value": _encode(value.item())}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        items = [_encode(item) for item in value.ravel().tolist()]
        return {"array": value.dtype.str, "shape": list(value.shape), "data": items}
    if isinstance(value, np.dtype):
        return {"dtype": value.str}
    if isinstance(value, type) and issubclass(value, np.generic):
        return {"numpy_type": np.dtype(value).str}
    raise _NotPortable(type(value).__name__)


def _encode(value: object) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": {key: _encode(item) for key, item in value.items()}}
    if type(value).__module__.startswith("sklearn.") and hasattr(value, "get_params"):
        # a helper transformer inside a fitted one (OneHotEncoder keeps one)
        attributes = {key: _encode(item) for key, item in vars(value).items()}
        return {"estimator": dotted_name(type(value)), "attributes": attributes}
    return _encode_numpy(value)


def _decode_array(value: dict[str, Any]) -> Any:
    dtype = np.dtype(value["array"])
    data = [_decode(item) for item in value["data"]]
    flat = np.empty(len(data), dtype=dtype)
    flat[:] = data
    return flat.reshape(value["shape"])


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    decoders: dict[str, Any] = {
        "float": lambda: float(value["float"]),
        "scalar": lambda: np.dtype(value["scalar"]).type(_decode(value["value"])),
        "array": lambda: _decode_array(value),
        "dtype": lambda: np.dtype(value["dtype"]),
        "numpy_type": lambda: np.dtype(value["numpy_type"]).type,
        "tuple": lambda: tuple(_decode(item) for item in value["tuple"]),
        "dict": lambda: {key: _decode(item) for key, item in value["dict"].items()},
        "estimator": lambda: restore_estimator(value["estimator"], value["attributes"]),
    }
    tag = next((key for key in decoders if key in value), None)
    if tag is None:
        raise InvalidInput(f"fitted state holds an unknown entry {sorted(value)!r}")
    return decoders[tag]()


def restore_estimator(name: object, attributes: object) -> Any:
    """A fresh instance of an allowed class with stored fitted attributes set on it."""
    if not isinstance(attributes, dict):
        raise InvalidInput(
            f"the fitted {name} was not stored in a portable form; "
            "apply the recipe without fitted statistics to refit it"
        )
    estimator = resolve(name)()
    estimator.__dict__.update({key: _decode(item) for key, item in attributes.items()})
    return estimator


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SklearnTransform(Step):
    """Fit a scikit-learn transformer on ``columns`` and put its output in the frame.

    Without ``output_prefix`` the output replaces the input columns, where the first of them
    stood, named by ``get_feature_names_out`` (so a scaler keeps the names and places, a
    one-hot encoder writes ``color_red``…). With ``output_prefix`` the inputs stay and the
    output columns are added at the end as ``<prefix><name>``. Sparse output is made dense.
    The transformer given is never fitted itself: each application fits a clone.
    """

    transformer: Any
    columns: Sequence[str]
    output_prefix: str | None = None
    kind = "sklearn"

    def __post_init__(self) -> None:
        transformer = self.transformer
        if isinstance(transformer, type) or not all(
            callable(getattr(transformer, method, None))
            for method in ("fit", "transform", "get_params")
        ):
            raise InvalidInput(
                f"transformer must be a scikit-learn transformer instance such as "
                f"StandardScaler(), got {transformer!r}"
            )
        object.__setattr__(self, "columns", require_names(self.columns, "columns"))
        if self.output_prefix is not None and not isinstance(self.output_prefix, str):
            raise InvalidInput(f"field 'output_prefix' must be text, got {self.output_prefix!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SklearnTransform):
            return NotImplemented
        mine, theirs = (
            self.transformer.get_params(deep=False),
            other.transformer.get_params(deep=False),
        )
        return (
            type(self.transformer) is type(other.transformer)
            and mine.keys() == theirs.keys()
            and all(_same(mine[key], theirs[key]) for key in mine)
            and (self.columns, self.output_prefix) == (other.columns, other.output_prefix)
        )

    __hash__ = None  # type: ignore[assignment]

    def describe(self) -> str:
        """One line saying what the step does."""
        return f"{type(self.transformer).__name__} on {', '.join(self.columns)}"

    def to_fields(self) -> dict[str, Any]:
        """Class name, non-default parameters, columns and prefix; refuses non-sklearn code."""
        name = dotted_name(type(self.transformer))
        resolve(name)
        fields: dict[str, Any] = {"transformer": name}
        params = plain_params(self.transformer)
        if params:
            fields["params"] = params
        fields["columns"] = list(self.columns)
        if self.output_prefix is not None:
            fields["output_prefix"] = self.output_prefix
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> SklearnTransform:
        """Build from stored fields, accepting only scikit-learn transformer classes."""
        valid = ("transformer", "params", "columns", "output_prefix")
        unknown = sorted(set(fields) - set(valid))
        if unknown:
            raise InvalidInput(f"unknown field {unknown[0]!r}; valid fields: {', '.join(valid)}")
        for required in ("transformer", "columns"):
            if required not in fields:
                raise InvalidInput(f"missing field {required!r}; fields: {', '.join(valid)}")
        transformer_class = resolve(fields["transformer"])
        transformer = build_transformer(transformer_class, fields.get("params", {}))
        return cls(transformer, fields["columns"], fields.get("output_prefix"))

    def fit(self, frame: pl.DataFrame) -> State:
        """Fit a clone of the transformer; the state holds the fitted object."""
        from sklearn.base import clone

        fitted = clone(self.transformer)
        try:
            fitted.fit(frame.select(self.columns).to_pandas())
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{type(fitted).__name__} cannot fit: {exc}") from None
        return {"estimator": fitted}

    def plain_state(self, state: State) -> dict[str, Any]:
        """The fitted transformer as class name plus attributes, or ``None`` if not portable."""
        estimator = state["estimator"]
        try:
            attributes = {key: _encode(value) for key, value in vars(estimator).items()}
        except _NotPortable:
            attributes = None
        return {"transformer": dotted_name(type(estimator)), "attributes": attributes}

    def restore_state(self, plain: Mapping[str, Any]) -> State:
        """Rebuild the fitted transformer from ``plain_state`` output, for allowed classes."""
        return {"estimator": restore_estimator(plain.get("transformer"), plain.get("attributes"))}

    def transform(self, frame: pl.DataFrame, state: State) -> pl.DataFrame:
        """Transform the columns with the fitted transformer and place the output."""
        estimator = state["estimator"]
        try:
            output = estimator.transform(frame.select(self.columns).to_pandas())
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{type(estimator).__name__} cannot transform: {exc}") from None
        if hasattr(output, "toarray"):
            output = output.toarray()
        matrix = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output)
        if matrix.ndim == 1:
            matrix = matrix.reshape(-1, 1)
        if matrix.shape[0] != frame.height:
            raise InvalidInput(
                f"{type(estimator).__name__} returned {matrix.shape[0]} rows for {frame.height}"
            )
        return self._place(frame, self._names(estimator, matrix.shape[1]), matrix)

    def _names(self, estimator: Any, width: int) -> list[str]:
        try:
            names = [str(name) for name in estimator.get_feature_names_out(list(self.columns))]
        except (AttributeError, ValueError, TypeError):
            names = []
        if len(names) != width:
            stem = type(estimator).__name__.lower()
            names = list(self.columns) if width == len(self.columns) else []
            names = names or [f"{stem}{index}" for index in range(width)]
        return [f"{self.output_prefix}{name}" for name in names] if self.output_prefix else names

    def _place(self, frame: pl.DataFrame, names: list[str], matrix: np.ndarray) -> pl.DataFrame:
        kept = frame if self.output_prefix else frame.drop(self.columns)
        clash = sorted(set(kept.columns) & set(names))
        if clash:
            raise InvalidInput(
                f"output column(s) {', '.join(clash)} already exist; set output_prefix"
            )
        added = [
            pl.Series(name, matrix[:, index], strict=False) for index, name in enumerate(names)
        ]
        if self.output_prefix:
            return frame.with_columns(added)
        if sorted(names) == sorted(self.columns):  # same columns: each stays where it was
            return kept.with_columns(added).select(frame.columns)
        at = min(frame.columns.index(name) for name in self.columns)
        before = [name for name in frame.columns[:at] if name not in self.columns]
        after = [name for name in frame.columns[at:] if name not in self.columns]
        return kept.with_columns(added).select([*before, *names, *after])
