"""The warnings of a profile, each rule with its threshold named here.

- constant: a column with exactly one distinct present value (``CONSTANT_DISTINCT``).
- high_missing: more than ``HIGH_MISSING_SHARE`` of a column's rows missing.
- high_cardinality: a categorical column with more than ``HIGH_CARDINALITY_DISTINCT`` distinct
  values that are also more than ``HIGH_CARDINALITY_SHARE`` of its present values.
- unique: every present value different (at least two), in a categorical or integer column:
  an identifier, not a feature. Floats, datetimes and text are expected to be unique.
- skewed: a numeric column with ``|skewness| > SKEW_LIMIT``.
- imbalanced: the target's least frequent class holds less than ``IMBALANCE_CLASS_FRACTION``
  of a balanced share (1 / classes), so under 10 % of the rows for two classes; the target
  counts as classes when it is categorical or boolean, or numeric with at most
  ``TARGET_MAX_CLASSES`` values. Any other categorical or boolean column whose most frequent
  value holds more than ``DOMINANT_VALUE_SHARE`` of its present values is imbalanced too.
- duplicates: any row equal to an earlier row.
- high_correlation: a pair with ``|Pearson r|`` or Cramér's V of at least
  ``HIGH_CORRELATION``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle.core.entities.dataset import ColumnKind
from modelcycle.services.data.profile._model import ProfileWarning, WarningKind
from modelcycle.services.data.profile._stats import TARGET_TOP_VALUES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.services.data.profile._model import ColumnProfile, Correlations, Duplicates

CONSTANT_DISTINCT = 1
HIGH_MISSING_SHARE = 0.20
HIGH_CARDINALITY_DISTINCT = 50
HIGH_CARDINALITY_SHARE = 0.50
SKEW_LIMIT = 2.0
IMBALANCE_CLASS_FRACTION = 0.20
TARGET_MAX_CLASSES = TARGET_TOP_VALUES
DOMINANT_VALUE_SHARE = 0.95
HIGH_CORRELATION = 0.90

_CLASS_KINDS = (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)


def column_warnings(p: ColumnProfile, *, is_target: bool) -> list[ProfileWarning]:
    """The warnings about one column."""
    out: list[ProfileWarning] = []
    if p.distinct == CONSTANT_DISTINCT:
        value = p.top_values[0].value if p.top_values else None
        out.append(_w(WarningKind.CONSTANT, p, f"{p.name!r} has one value only ({value!r})"))
    if p.missing_share > HIGH_MISSING_SHARE:
        out.append(
            _w(
                WarningKind.HIGH_MISSING,
                p,
                f"{p.name!r} is missing in {p.missing_share:.1%} of rows ({p.missing:,})",
                p.missing_share,
            )
        )
    if (
        p.kind is ColumnKind.CATEGORICAL
        and p.distinct > HIGH_CARDINALITY_DISTINCT
        and p.distinct_share > HIGH_CARDINALITY_SHARE
    ):
        msg = f"{p.name!r} has {p.distinct:,} distinct values ({p.distinct_share:.1%})"
        out.append(_w(WarningKind.HIGH_CARDINALITY, p, msg, float(p.distinct)))
    if _is_identifier_like(p) and p.count >= 2 and p.distinct == p.count:
        out.append(_w(WarningKind.UNIQUE, p, f"every value of {p.name!r} is different"))
    skew = p.numeric.skewness if p.numeric else None
    if skew is not None and abs(skew) > SKEW_LIMIT:
        out.append(_w(WarningKind.SKEWED, p, f"{p.name!r} is skewed (skewness {skew:.2f})", skew))
    imbalance = _target_imbalance(p) if is_target else _dominant_value(p)
    if imbalance is not None:
        out.append(imbalance)
    return out


def _w(
    kind: WarningKind, p: ColumnProfile, message: str, value: float | None = None
) -> ProfileWarning:
    return ProfileWarning(kind=kind, column=p.name, message=message, value=value)


def _is_identifier_like(p: ColumnProfile) -> bool:
    if p.kind is ColumnKind.CATEGORICAL:
        return True
    return p.kind is ColumnKind.NUMERIC and p.dtype.startswith(("Int", "UInt"))


def _target_imbalance(p: ColumnProfile) -> ProfileWarning | None:
    classes = p.kind in _CLASS_KINDS or (
        p.kind is ColumnKind.NUMERIC and p.distinct <= TARGET_MAX_CLASSES
    )
    if not classes or p.distinct < 2 or p.distinct > len(p.top_values):
        return None
    least = min(p.top_values, key=lambda v: v.count)
    share = least.count / p.count
    if share >= IMBALANCE_CLASS_FRACTION / p.distinct:
        return None
    msg = f"target {p.name!r} is imbalanced: class {least.value!r} holds {share:.1%} of rows"
    return _w(WarningKind.IMBALANCED, p, msg, share)


def _dominant_value(p: ColumnProfile) -> ProfileWarning | None:
    if p.kind not in _CLASS_KINDS or p.distinct < 2 or not p.top_values or p.count == 0:
        return None
    top = p.top_values[0]
    share = top.count / p.count
    if share <= DOMINANT_VALUE_SHARE:
        return None
    msg = f"{p.name!r} is imbalanced: {top.value!r} holds {share:.1%} of its values"
    return _w(WarningKind.IMBALANCED, p, msg, share)


def frame_warnings(
    duplicates: Duplicates, correlations: Correlations | None
) -> list[ProfileWarning]:
    """Warnings about the whole frame: duplicate rows and highly associated pairs."""
    out: list[ProfileWarning] = []
    if duplicates.count:
        out.append(
            ProfileWarning(
                kind=WarningKind.DUPLICATES,
                column=None,
                message=f"{duplicates.count:,} duplicate rows ({duplicates.share:.1%})",
                value=float(duplicates.count),
            )
        )
    if correlations is None:
        return out
    for label, matrix in (
        ("Pearson r", correlations.pearson),
        ("Cramér's V", correlations.cramers_v),
    ):
        if matrix is None:
            continue
        names = matrix.columns
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                v = matrix.values[i][j]
                if v is not None and abs(v) >= HIGH_CORRELATION:
                    msg = f"{names[i]!r} and {names[j]!r} are highly associated ({label} {v:.2f})"
                    out.append(ProfileWarning(WarningKind.HIGH_CORRELATION, names[i], msg, v))
    return out


def all_warnings(
    columns: Mapping[str, ColumnProfile],
    duplicates: Duplicates,
    correlations: Correlations | None,
    target: str | None,
) -> tuple[ProfileWarning, ...]:
    """Every warning: frame-wide ones first, then by column order."""
    out = frame_warnings(duplicates, correlations)
    for name, p in columns.items():
        out += column_warnings(p, is_target=name == target)
    return tuple(out)
