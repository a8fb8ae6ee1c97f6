"""The evaluation's value objects and their JSON-safe dictionary form.

Every float held here is finite or ``None`` and every value is a plain Python scalar, list or
dict (the engine converts numpy values on the way in), so ``to_dict`` needs no conversion and
``Evaluation.from_dict(e.to_dict()).to_dict() == e.to_dict()``. The failure-case frame is the
one exception: it stays a pandas DataFrame on the object and only its size and column names go
into the dictionary.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

JSONScalar = str | int | float | bool | None
Figure = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SliceResult:
    """The metrics of the rows sharing one value (or one bin) of a column.

    ``kind`` is ``"value"`` (one category), ``"other"`` (the categories past the most frequent),
    ``"bin"`` (a quantile bin of a numeric column) or ``"missing"``. ``gap`` is how much worse
    than overall the primary metric is (positive = worse, in the metric's own units), ``None``
    when the slice's metric is undefined. ``flagged`` follows the rule in ``_slices``.
    """

    column: str
    label: str
    kind: str
    count: int
    metrics: dict[str, float | None]
    gap: float | None
    flagged: bool

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SliceResult:
        """Rebuild from ``to_dict`` output."""
        return cls(**{**d, "metrics": dict(d["metrics"])})


@dataclass(frozen=True, slots=True)
class FeatureImportance:
    """How much one feature matters globally: mean and spread over the repeats or rows."""

    feature: str
    importance: float
    std: float | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureImportance:
        """Rebuild from ``to_dict`` output."""
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's share in one row's prediction.

    ``baseline`` is the value it was replaced with (the ``"baseline"`` method) or ``None``
    (SHAP, whose reference is the background sample).
    """

    feature: str
    value: JSONScalar
    baseline: JSONScalar
    effect: float | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Contribution:
        """Rebuild from ``to_dict`` output."""
        return cls(**d)


@dataclass(frozen=True, slots=True)
class LocalExplanation:
    """Why the model predicted what it did for one row (by position in the evaluated frame).

    ``output`` names the explained quantity (e.g. ``"P(y = 1)"`` or ``"predicted value"``) and
    ``value`` is its value for the row; ``contributions`` are sorted by absolute effect.
    """

    row: int
    method: str
    output: str
    value: float | None
    prediction: JSONScalar
    actual: JSONScalar
    contributions: tuple[Contribution, ...]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LocalExplanation:
        """Rebuild from ``to_dict`` output."""
        parts = tuple(Contribution.from_dict(c) for c in d["contributions"])
        return cls(**{**d, "contributions": parts})


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The evaluation of one model on one frame; built by ``evaluate_model``.

    ``metrics`` maps each metric name to its value (``None`` when it cannot be computed, with
    the reason in ``notes``). ``failure_cases`` is the frame of the worst rows (``None`` after
    ``from_dict``; its size and columns stay in ``failure_case_rows``/``failure_case_columns``).
    ``settings`` records how the evaluation was made (sample sizes, seed, methods) so the report
    can state it.
    """

    title: str
    generated_at: str
    task: str
    target: str
    num_rows: int
    classes: tuple[JSONScalar, ...] | None
    positive_class: JSONScalar
    primary_metric: str
    metrics: dict[str, float | None]
    notes: tuple[str, ...]
    slices: tuple[SliceResult, ...]
    importance: tuple[FeatureImportance, ...]
    shap_importance: tuple[FeatureImportance, ...] | None
    local_explanations: tuple[LocalExplanation, ...]
    figures: dict[str, Figure]
    settings: dict[str, Any]
    failure_case_rows: int
    failure_case_columns: tuple[str, ...]
    failure_cases: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def flagged_slices(self) -> tuple[SliceResult, ...]:
        """The slices much worse than overall (see ``_slices`` for the rule)."""
        return tuple(s for s in self.slices if s.flagged)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (no NaN); the failure frame is left out, its shape kept."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name == "failure_cases":
                continue
            out[name] = _plain(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evaluation:
        """Rebuild an evaluation from ``to_dict`` output (a stored one); no failure frame."""
        shap = d["shap_importance"]
        return cls(
            title=d["title"],
            generated_at=d["generated_at"],
            task=d["task"],
            target=d["target"],
            num_rows=d["num_rows"],
            classes=tuple(d["classes"]) if d["classes"] is not None else None,
            positive_class=d["positive_class"],
            primary_metric=d["primary_metric"],
            metrics=dict(d["metrics"]),
            notes=tuple(d["notes"]),
            slices=tuple(SliceResult.from_dict(s) for s in d["slices"]),
            importance=tuple(FeatureImportance.from_dict(i) for i in d["importance"]),
            shap_importance=(
                tuple(FeatureImportance.from_dict(i) for i in shap) if shap is not None else None
            ),
            local_explanations=tuple(
                LocalExplanation.from_dict(e) for e in d["local_explanations"]
            ),
            figures=dict(d["figures"]),
            settings=dict(d["settings"]),
            failure_case_rows=d["failure_case_rows"],
            failure_case_columns=tuple(d["failure_case_columns"]),
        )

    def to_json(self) -> bytes:
        """The ``to_dict`` form as UTF-8 JSON bytes."""
        import orjson

        return orjson.dumps(self.to_dict())

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A self-contained, offline HTML report; also written atomically to ``path`` if given.

        Raises:
            InvalidInput: the folder of ``path`` does not exist.
        """
        from modelcycle.services.evaluate._html import render_html, write_atomic

        if path is not None:
            folder = Path(os.fspath(path)).parent
            if not folder.is_dir():
                from modelcycle.core.errors import InvalidInput

                raise InvalidInput(
                    f"cannot write the report to {os.fspath(path)!r}: folder {str(folder)!r} "
                    "does not exist; create it first"
                )
        text = render_html(self)
        if path is not None:
            write_atomic(os.fspath(path), text)
        return text


def _plain(obj: Any) -> Any:
    """Dataclasses as dicts, tuples as lists; everything else is already plain."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
