"""The profile's value objects and their JSON-safe dictionary form.

Every float held here is finite or ``None`` (the builders turn NaN and infinities into
``None``), every datetime is an ISO-8601 string, so ``to_dict`` needs no conversion and
``from_dict(to_dict(p)) == p``.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import ColumnKind

if TYPE_CHECKING:
    from collections.abc import Mapping

JSONScalar = str | int | float | bool | None


class WarningKind(enum.StrEnum):
    """What a profile warning is about; thresholds are named in ``_warnings``."""

    CONSTANT = "constant"
    HIGH_CARDINALITY = "high_cardinality"
    HIGH_MISSING = "high_missing"
    SKEWED = "skewed"
    IMBALANCED = "imbalanced"
    DUPLICATES = "duplicates"
    UNIQUE = "unique"
    HIGH_CORRELATION = "high_correlation"


@dataclass(frozen=True, slots=True)
class ValueCount:
    """One value of a column and how many rows hold it."""

    value: JSONScalar
    count: int


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of equal-width bins; ``edges`` has one more item than ``counts``.

    Bins are closed on the left and open on the right, except the last, which is closed
    (numpy's rule). Datetime edges are ISO-8601 strings.
    """

    edges: tuple[float, ...] | tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Histogram:
        """Rebuild from ``to_dict`` output."""
        return cls(edges=tuple(d["edges"]), counts=tuple(d["counts"]))


@dataclass(frozen=True, slots=True)
class NumericStats:
    """Moments, quantiles and counts of the finite values of a numeric column."""

    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    p5: float | None
    p25: float | None
    p50: float | None
    p75: float | None
    p95: float | None
    zeros: int
    negatives: int
    infinite: int
    skewness: float | None
    kurtosis: float | None
    histogram: Histogram | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericStats:
        """Rebuild from ``to_dict`` output."""
        hist = d.get("histogram")
        return cls(**{**d, "histogram": Histogram.from_dict(hist) if hist else None})


@dataclass(frozen=True, slots=True)
class DatetimeStats:
    """Range of a datetime column and its histogram over time."""

    min: str | None
    max: str | None
    range_seconds: float | None
    histogram: Histogram | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatetimeStats:
        """Rebuild from ``to_dict`` output."""
        hist = d.get("histogram")
        return cls(**{**d, "histogram": Histogram.from_dict(hist) if hist else None})


@dataclass(frozen=True, slots=True)
class TextStats:
    """Lengths (in characters) of the values of a text column."""

    min_length: int | None
    mean_length: float | None
    median_length: float | None
    max_length: int | None
    histogram: Histogram | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TextStats:
        """Rebuild from ``to_dict`` output."""
        hist = d.get("histogram")
        return cls(**{**d, "histogram": Histogram.from_dict(hist) if hist else None})


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """Everything measured of one column; the kind-specific part is set for its kind only.

    ``count`` is the number of present values (neither null nor NaN), ``distinct`` the number
    of different present values, ``top_values`` the most frequent present values (categorical,
    boolean and text columns, and the target), most frequent first.
    """

    name: str
    kind: ColumnKind
    dtype: str
    count: int
    missing: int
    missing_share: float
    distinct: int
    distinct_share: float
    memory_bytes: int
    top_values: tuple[ValueCount, ...] = ()
    numeric: NumericStats | None = None
    datetime: DatetimeStats | None = None
    text: TextStats | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnProfile:
        """Rebuild from ``to_dict`` output."""
        return cls(
            **{
                **d,
                "kind": ColumnKind(d["kind"]),
                "top_values": tuple(ValueCount(**v) for v in d.get("top_values", ())),
                "numeric": NumericStats.from_dict(d["numeric"]) if d.get("numeric") else None,
                "datetime": DatetimeStats.from_dict(d["datetime"]) if d.get("datetime") else None,
                "text": TextStats.from_dict(d["text"]) if d.get("text") else None,
            }
        )


@dataclass(frozen=True, slots=True)
class Matrix:
    """A square, symmetric association matrix; ``None`` where it is undefined."""

    columns: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]

    def get(self, a: str, b: str) -> float | None:
        """The association of columns ``a`` and ``b``."""
        return self.values[self.columns.index(a)][self.columns.index(b)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Matrix:
        """Rebuild from ``to_dict`` output."""
        return cls(columns=tuple(d["columns"]), values=tuple(tuple(r) for r in d["values"]))


@dataclass(frozen=True, slots=True)
class Correlations:
    """Pearson and Spearman over numeric columns, Cramér's V over categorical ones.

    ``rows`` is how many rows they were computed on (a seeded sample when fewer than the
    profiled rows; see ``_correlations.CORRELATION_MAX_ROWS``).
    """

    rows: int
    pearson: Matrix | None
    spearman: Matrix | None
    cramers_v: Matrix | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Correlations:
        """Rebuild from ``to_dict`` output."""

        def matrix(key: str) -> Matrix | None:
            return Matrix.from_dict(d[key]) if d.get(key) else None

        return cls(
            rows=d["rows"],
            pearson=matrix("pearson"),
            spearman=matrix("spearman"),
            cramers_v=matrix("cramers_v"),
        )


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """A row that occurs more than once, with the number of its occurrences."""

    values: Mapping[str, JSONScalar]
    count: int


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Rows equal to an earlier row: their number, share and the most repeated examples."""

    count: int
    share: float
    examples: tuple[DuplicateRow, ...]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Duplicates:
        """Rebuild from ``to_dict`` output."""
        return cls(
            count=d["count"],
            share=d["share"],
            examples=tuple(
                DuplicateRow(values=e["values"], count=e["count"]) for e in d["examples"]
            ),
        )


@dataclass(frozen=True, slots=True)
class ProfileWarning:
    """Something a data scientist should look at: ``column`` is None for frame-wide ones."""

    kind: WarningKind
    column: str | None
    message: str
    value: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProfileWarning:
        """Rebuild from ``to_dict`` output."""
        return cls(**{**d, "kind": WarningKind(d["kind"])})


@dataclass(frozen=True, slots=True)
class Overview:
    """Frame-wide figures of the profiled rows."""

    columns: int
    missing_cells: int
    missing_cells_share: float
    memory_bytes: int
    kinds: Mapping[str, int]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Overview:
        """Rebuild from ``to_dict`` output."""
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Profile:
    """An exploratory profile of a frame; built by ``compute_profile``.

    ``total_rows`` is the frame's height and ``sampled_rows`` the number of rows profiled,
    smaller only when ``max_rows`` asked for a sample (``is_sampled``); the report says so.
    """

    title: str
    generated_at: str
    total_rows: int
    sampled_rows: int
    seed: int
    target: str | None
    overview: Overview
    columns: Mapping[str, ColumnProfile]
    correlations: Correlations | None
    duplicates: Duplicates
    warnings: tuple[ProfileWarning, ...] = field(default=())

    @property
    def is_sampled(self) -> bool:
        """Whether fewer rows than the frame's were profiled."""
        return self.sampled_rows < self.total_rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (no NaN, datetimes as ISO strings)."""
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from ``to_dict`` output (a stored profile).

        Raises:
            InvalidInput: ``d`` is not the dictionary form of a profile.
        """
        from modelcycle.core.errors import InvalidInput

        try:
            return cls._from_dict(d)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"not the dictionary form of a profile ({type(exc).__name__}: {exc}); "
                "pass what Profile.to_dict() or the JSON of Profile.to_json() gave"
            ) from exc

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> Profile:
        return cls(
            title=d["title"],
            generated_at=d["generated_at"],
            total_rows=d["total_rows"],
            sampled_rows=d["sampled_rows"],
            seed=d["seed"],
            target=d["target"],
            overview=Overview.from_dict(d["overview"]),
            columns={k: ColumnProfile.from_dict(v) for k, v in d["columns"].items()},
            correlations=Correlations.from_dict(d["correlations"]) if d["correlations"] else None,
            duplicates=Duplicates.from_dict(d["duplicates"]),
            warnings=tuple(ProfileWarning.from_dict(w) for w in d["warnings"]),
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
        from modelcycle.services.data.profile._html import render_html, write_atomic

        text = render_html(self)
        if path is not None:
            folder = Path(os.fspath(path)).parent
            if not folder.is_dir():
                from modelcycle.core.errors import InvalidInput

                raise InvalidInput(
                    f"cannot write the report to {os.fspath(path)!r}: "
                    f"the folder {str(folder)!r} does not exist; create it first"
                )
            write_atomic(os.fspath(path), text)
        return text


def _plain(obj: Any) -> Any:
    """Dataclasses, mappings and tuples as dicts and lists; enums as their values."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if hasattr(obj, "__dataclass_fields__"):
        return {name: _plain(getattr(obj, name)) for name in obj.__dataclass_fields__}
    if isinstance(obj, dict) or (hasattr(obj, "items") and hasattr(obj, "keys")):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    return obj
