"""Models: logged models of runs, their signatures, and registered, approved versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class InputKind(StrEnum):
    """How a model takes its input."""

    FRAME = "frame"  # named columns (a DataFrame)
    ARRAY = "array"  # an unnamed 2-D array of one dtype


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One input or output column.

    ``dtype`` is one of ``integer``, ``float``, ``boolean``, ``string``, ``datetime``,
    ``category``; an integer column also accepts nothing wider than integers, a float column
    accepts integers too.
    """

    name: str
    dtype: str
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes and returns, inferred from an input example at logging time."""

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()
    kind: InputKind = InputKind.FRAME

    @property
    def input_names(self) -> tuple[str, ...]:
        """The input column names, in order."""
        return tuple(column.name for column in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "kind": self.kind.value,
            "inputs": [_column_dict(c) for c in self.inputs],
            "outputs": [_column_dict(c) for c in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """The inverse of ``to_dict``."""
        return cls(
            inputs=tuple(ColumnSpec(**c) for c in data.get("inputs", ())),
            outputs=tuple(ColumnSpec(**c) for c in data.get("outputs", ())),
            kind=InputKind(data.get("kind", InputKind.FRAME.value)),
        )


def _column_dict(column: ColumnSpec) -> dict[str, Any]:
    return {"name": column.name, "dtype": column.dtype, "nullable": column.nullable}


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model saved by a run: its flavor, content digest, signature and requirements.

    ``digest`` is the sha256 of the stored model bytes; loading refuses bytes that differ.
    """

    id: str
    run_id: str
    name: str
    flavor: str
    digest: str
    size_bytes: int
    signature: Signature
    requirements: tuple[str, ...]  # "package==version"
    task: str | None = None  # "classification" or "regression", when the flavor can tell
    classes: tuple[Any, ...] | None = None  # a classifier's classes, in predict_proba order
    input_example_digest: str | None = None
    created_at: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)


class ApprovalState(StrEnum):
    """Where a model version stands in review."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Approval:
    """One review decision on a version: who, when, what, why."""

    state: ApprovalState
    actor: str
    at: int  # epoch milliseconds
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The comparison of a version with the goal and with production on one dataset version."""

    passed: bool
    metric: str
    value: float
    goal: float | None
    production_ref: str | None
    production_value: float | None
    dataset_version_id: str
    tolerance: float
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered version of a named model, with lineage, aliases, reviews and its gate."""

    id: str
    project: str
    name: str
    version: int
    model: LoggedModel
    created_at: int
    aliases: tuple[str, ...] = ()
    approvals: tuple[Approval, ...] = ()
    gate: GateResult | None = None
    description: str | None = None
    exports: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # format -> record

    @property
    def ref(self) -> str:
        """The reference naming this version, e.g. ``"churn@3"``."""
        return f"{self.name}@{self.version}"

    @property
    def approval(self) -> ApprovalState:
        """The latest review decision (pending when none)."""
        return self.approvals[-1].state if self.approvals else ApprovalState.PENDING
