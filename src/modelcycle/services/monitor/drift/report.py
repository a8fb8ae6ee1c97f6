"""The result of a drift computation: one ``ColumnDrift`` per column and the dataset verdict.

``DriftReport.to_dict()`` is plain JSON (non-finite numbers are written as the strings
``"Infinity"``, ``"-Infinity"`` and ``"NaN"``) and ``DriftReport.from_dict`` reads it back
into an equal report, so a stored report can be reloaded and rendered again with ``to_html``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Mapping

FORMAT = "modelcycle.drift_report/1"

__all__ = ["ColumnDrift", "Distribution", "DriftReport"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """What the report draws for one column, counts of both sides over the same bins.

    Attributes:
        edges: a numeric column's bin edges (one more than the counts), else ``None``.
        categories: a categorical column's most frequent categories, else ``None``.
        reference: reference values per bin or category.
        current: current values per bin or category.
        reference_other: reference values in categories not shown.
        current_other: current values in categories not shown.
    """

    edges: tuple[float, ...] | None
    categories: tuple[str, ...] | None
    reference: tuple[int, ...]
    current: tuple[int, ...]
    reference_other: int = 0
    current_other: int = 0


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift verdict of one column.

    Attributes:
        name: the column.
        kind: how it was read (``numeric`` or ``categorical``; another kind when not tested).
        test: the drift test's name, ``None`` when the column was not tested.
        score: the test's score (a p-value or a distance), ``None`` when not tested.
        threshold: the threshold the score was judged by.
        drifted: whether the column drifted (never for a column not tested).
        higher_is_drift: ``True`` for a distance, ``False`` for a p-value.
        label: how the score reads, e.g. ``"K-S p-value"``.
        reference_rows: rows in the reference, nulls included.
        current_rows: rows in the current sample, nulls included.
        reference_nulls: reference values dropped before testing (null, NaN, infinite).
        current_nulls: current values dropped before testing.
        reason: why the column was not tested, else ``None``.
        distribution: both sides' counts for the report's plots.
    """

    name: str
    kind: ColumnKind
    test: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    higher_is_drift: bool | None
    label: str | None
    reference_rows: int
    current_rows: int
    reference_nulls: int
    current_nulls: int
    reason: str | None = None
    distribution: Distribution | None = None

    @property
    def tested(self) -> bool:
        """Whether a test ran on this column."""
        return self.test is not None and self.score is not None


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Per-column drift and the dataset verdict.

    The dataset drifts when the share of drifted columns among the tested ones reaches
    ``drift_share``.

    Attributes:
        columns: each column's result, by name, in the order compared.
        drift_share: the share of drifted columns that makes the dataset drifted.
        reference_rows: rows in the reference.
        current_rows: rows in the current sample.
        generated_at: when the report was computed (ISO 8601, UTC).
        elapsed_seconds: how long the computation took.
    """

    columns: dict[str, ColumnDrift]
    drift_share: float
    reference_rows: int
    current_rows: int
    generated_at: str
    elapsed_seconds: float = 0.0
    title: str | None = field(default=None)

    @property
    def drifted_columns(self) -> list[str]:
        """The names of the columns that drifted, in column order."""
        return [c.name for c in self.columns.values() if c.drifted]

    @property
    def tested_columns(self) -> list[str]:
        """The names of the columns a test ran on."""
        return [c.name for c in self.columns.values() if c.tested]

    @property
    def share(self) -> float:
        """The share of tested columns that drifted (0 when none was tested)."""
        tested = len(self.tested_columns)
        return len(self.drifted_columns) / tested if tested else 0.0

    @property
    def drifted(self) -> bool:
        """The dataset verdict: ``share >= drift_share`` over at least one tested column."""
        return bool(self.tested_columns) and self.share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        """The result of one column.

        Raises:
            NotFound: the report has no such column.
        """
        try:
            return self.columns[name]
        except KeyError:
            raise NotFound(
                f"no column {name!r} in this drift report; columns: {', '.join(self.columns)}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-safe data (see the module docstring)."""
        return {
            "format": FORMAT,
            "title": self.title,
            "generated_at": self.generated_at,
            "elapsed_seconds": self.elapsed_seconds,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drift_share": self.drift_share,
            "share": self.share,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "columns": [_column_dict(c) for c in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Read back what ``to_dict`` wrote.

        Raises:
            InvalidInput: ``data`` is not a drift report of a known format.
        """
        if not hasattr(data, "get") or data.get("format") != FORMAT:
            found = data.get("format") if hasattr(data, "get") else type(data).__name__
            raise InvalidInput(f"not a drift report: expected format {FORMAT!r}, got {found!r}")
        try:
            columns = [_column_from(c) for c in data["columns"]]
            return cls(
                columns={c.name: c for c in columns},
                drift_share=float(data["drift_share"]),
                reference_rows=int(data["reference_rows"]),
                current_rows=int(data["current_rows"]),
                generated_at=str(data["generated_at"]),
                elapsed_seconds=float(data.get("elapsed_seconds", 0.0)),
                title=data.get("title"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"a drift report with a missing or malformed field: {exc}") from exc

    def to_html(self, path: str | os.PathLike[str]) -> None:
        """Write a self-contained HTML report (plotly.js inline, works offline) to ``path``.

        Written atomically: a temporary file in the same folder, then a rename.
        """
        from modelcycle.services.monitor.drift._html import render_html, write_atomic

        write_atomic(os.fspath(path), render_html(self))


def _number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _read_number(value: Any) -> float | None:
    return None if value is None else float(value)


def _column_dict(c: ColumnDrift) -> dict[str, Any]:
    d = c.distribution
    return {
        "name": c.name,
        "kind": c.kind.value,
        "test": c.test,
        "score": _number(c.score),
        "threshold": c.threshold,
        "drifted": c.drifted,
        "higher_is_drift": c.higher_is_drift,
        "label": c.label,
        "reference_rows": c.reference_rows,
        "current_rows": c.current_rows,
        "reference_nulls": c.reference_nulls,
        "current_nulls": c.current_nulls,
        "reason": c.reason,
        "distribution": None
        if d is None
        else {
            "edges": None if d.edges is None else [_number(e) for e in d.edges],
            "categories": None if d.categories is None else list(d.categories),
            "reference": list(d.reference),
            "current": list(d.current),
            "reference_other": d.reference_other,
            "current_other": d.current_other,
        },
    }


def _column_from(c: Mapping[str, Any]) -> ColumnDrift:
    d = c.get("distribution")
    return ColumnDrift(
        name=str(c["name"]),
        kind=ColumnKind(c["kind"]),
        test=c["test"],
        score=_read_number(c["score"]),
        threshold=_read_number(c["threshold"]),
        drifted=bool(c["drifted"]),
        higher_is_drift=c["higher_is_drift"],
        label=c["label"],
        reference_rows=int(c["reference_rows"]),
        current_rows=int(c["current_rows"]),
        reference_nulls=int(c["reference_nulls"]),
        current_nulls=int(c["current_nulls"]),
        reason=c.get("reason"),
        distribution=None
        if d is None
        else Distribution(
            edges=None if d["edges"] is None else tuple(float(e) for e in d["edges"]),
            categories=None if d["categories"] is None else tuple(map(str, d["categories"])),
            reference=tuple(int(v) for v in d["reference"]),
            current=tuple(int(v) for v in d["current"]),
            reference_other=int(d.get("reference_other", 0)),
            current_other=int(d.get("current_other", 0)),
        ),
    )
