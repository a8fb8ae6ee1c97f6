"""Live data quality: a window of logged inputs held to its reference, the signature and the rules.

Per column (every count is over the window's rows):

- ``missing``: null values, and NaN in float columns;
- ``out_of_range``: numbers below the reference's smallest or above its largest finite value;
- ``unseen``: values of a text, categorical or boolean column that the reference never holds
  (not judged when most reference values are distinct: free text or identifiers).

For the window as a whole, schema violations: an expected column missing from the window, a
logged column the model does not take (``extra``), or a column whose values are of another
type than expected (``type``, e.g. text where the signature says float). Then the validation
rules saved for the reference's dataset, those that can judge a window of rows: ``column_type``,
``not_null``, ``range``, ``allowed_values`` and ``regex``; ``row_count``, ``schema`` and
``unique`` are about a dataset as a whole and are skipped, as are rules naming a column the
window lacks (each skip says why).

Each statistic is one polars expression, and all of a kind are evaluated in one ``select``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.monitor.drift._frames import family

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modelcycle.services.data.rules import RuleSet

__all__ = [
    "ColumnQuality",
    "QualityReport",
    "RuleCheck",
    "SchemaViolation",
    "check_quality",
]

FREE_TEXT_SHARE = 0.5
"""A text column whose reference values are more distinct than this share is not judged."""

EXAMPLES = 5
"""How many unseen values a column reports."""

_WINDOW_RULES = frozenset({"column_type", "not_null", "range", "allowed_values", "regex"})
_SIGNATURE_FAMILIES = {
    "integer": "numeric",
    "float": "numeric",
    "boolean": "boolean",
    "string": "text",
    "category": "text",
    "datetime": "temporal",
}


@dataclass(frozen=True, slots=True)
class ColumnQuality:
    """The checks of one column of the window.

    Attributes:
        name: The column.
        check: ``"range"`` (numbers), ``"categories"`` (text, categories, booleans) or
            ``"missing"`` (only missing values are counted).
        missing: Missing values in the window.
        missing_share: ``missing`` over the window's rows.
        reference_missing_share: The same share in the reference.
        out_of_range: Numbers outside the reference's range (None for other checks).
        unseen: Values the reference never holds (None for other checks).
        minimum: The reference's smallest finite number (range checks).
        maximum: The reference's largest finite number (range checks).
        unseen_examples: Up to five unseen values, the most frequent first.
        note: Why a check was not made.
    """

    name: str
    check: Literal["range", "categories", "missing"]
    missing: int
    missing_share: float
    reference_missing_share: float
    out_of_range: int | None = None
    unseen: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    unseen_examples: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "name": self.name,
            "check": self.check,
            "missing": self.missing,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "out_of_range": self.out_of_range,
            "unseen": self.unseen,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "unseen_examples": list(self.unseen_examples),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """A column missing from the window, logged but not expected, or of the wrong type."""

    column: str
    kind: Literal["missing", "extra", "type"]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"column": self.column, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One validation rule run on the window (or skipped, with the reason)."""

    rule: str  # the rule's one-line description
    kind: str
    passed: bool | None  # None: skipped
    failing_count: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "passed": self.passed,
            "failing_count": self.failing_count,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    """The data quality of a window: per column, the schema, the dataset's rules."""

    rows: int
    columns: Mapping[str, ColumnQuality]
    schema: tuple[SchemaViolation, ...] = ()
    rules: tuple[RuleCheck, ...] = ()
    rules_source: str | None = None

    @property
    def rules_failed(self) -> int:
        """How many rules that ran failed."""
        return sum(1 for r in self.rules if r.passed is False)

    def values(self) -> dict[str, float | None]:
        """The numbers a monitor report stores (see ``monitor.run`` for the keys)."""
        out: dict[str, float | None] = {}
        for c in self.columns.values():
            out[f"quality.missing.{c.name}"] = c.missing_share
            if c.out_of_range is not None:
                out[f"quality.out_of_range.{c.name}"] = _share(c.out_of_range, self.rows)
            if c.unseen is not None:
                out[f"quality.unseen.{c.name}"] = _share(c.unseen, self.rows)
        out["quality.schema_violations"] = float(len(self.schema))
        out["quality.rules_failed"] = float(self.rules_failed)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns.values()],
            "schema": [v.to_dict() for v in self.schema],
            "rules": [r.to_dict() for r in self.rules],
            "rules_source": self.rules_source,
            "rules_failed": self.rules_failed,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    ranges: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    missing_only: dict[str, str | None] = field(default_factory=dict)


def check_quality(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    expected: Mapping[str, str] | None = None,
    rules: RuleSet | None = None,
    rules_source: str | None = None,
) -> QualityReport:
    """Check the window ``current`` against ``reference`` (see the module docstring).

    Args:
        reference: The reference's feature columns.
        current: Every logged input column of the window, under its own name.
        expected: The columns the model takes, with the signature's dtype (``integer``,
            ``float``, ``boolean``, ``string``, ``datetime``, ``category``); default: the
            reference's columns, typed as the reference holds them.
        rules: Validation rules to run on the window (the reference dataset's).
        rules_source: Where the rules came from, for the report.

    Raises:
        InvalidInput: ``current`` has no rows, or either side is not a polars DataFrame.
    """
    for side, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pl.DataFrame):
            raise InvalidInput(f"the {side} must be a polars DataFrame, got {type(frame).__name__}")
    if current.height == 0:
        raise InvalidInput("the window holds no rows: data quality needs at least one")
    families = _expected_families(reference, expected)
    schema = _schema_violations(current, families)
    judged = [n for n in families if n in current.columns and n in reference.columns]
    wrong_type = {v.column for v in schema if v.kind == "type"}
    plan = _plan(reference, current, [n for n in judged if n not in wrong_type])
    for name in wrong_type:
        plan.missing_only[name] = "not compared with the reference: the type differs"
    columns = _column_checks(reference, current, plan)
    ordered = {name: columns[name] for name in judged if name in columns}
    checks = () if rules is None else _run_rules(current, rules)
    return QualityReport(current.height, ordered, schema, checks, rules_source)


def _expected_families(
    reference: pl.DataFrame, expected: Mapping[str, str] | None
) -> dict[str, str]:
    if expected is None:
        return {name: family(dtype) for name, dtype in reference.schema.items()}
    return {name: _SIGNATURE_FAMILIES.get(dtype, "other") for name, dtype in expected.items()}


def _schema_violations(current: pl.DataFrame, families: Mapping[str, str]) -> tuple[Any, ...]:
    found: list[SchemaViolation] = []
    for name, want in families.items():
        if name not in current.columns:
            found.append(SchemaViolation(name, "missing", "expected, but not in the window"))
            continue
        dtype = current.schema[name]
        have = family(dtype)
        # An all-null column has no type to judge; text holding ISO times is how JSON logs them.
        if have in ("null", want) or (want == "temporal" and have == "text"):
            continue
        found.append(SchemaViolation(name, "type", f"expected {want} values, found {dtype}"))
    found.extend(
        SchemaViolation(name, "extra", "logged, but the model does not take it")
        for name in current.columns
        if name not in families
    )
    return tuple(found)


def _plan(reference: pl.DataFrame, current: pl.DataFrame, names: Sequence[str]) -> _Plan:
    plan = _Plan()
    for name in names:
        ref, cur = family(reference.schema[name]), family(current.schema[name])
        kinds = {ref, cur} - {"null"}
        if kinds == {"numeric"}:
            plan.ranges.append(name)
        elif kinds and kinds <= {"text", "boolean"} and len(kinds) == 1:
            plan.categories.append(name)
        else:
            plan.missing_only[name] = None
    return plan


def _missing(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    missing = column.is_null()
    if dtype.is_float():
        missing = missing | column.is_nan()
    return missing.sum()


def _column_checks(
    reference: pl.DataFrame, current: pl.DataFrame, plan: _Plan
) -> dict[str, ColumnQuality]:
    names = [*plan.ranges, *plan.categories, *plan.missing_only]
    if not names:
        return {}
    ref_missing = reference.select([_missing(n, reference.schema[n]).alias(n) for n in names]).row(
        0, named=True
    )
    cur_missing = current.select([_missing(n, current.schema[n]).alias(n) for n in names]).row(
        0, named=True
    )
    out: dict[str, ColumnQuality] = {}
    common: dict[str, dict[str, Any]] = {
        name: {
            "missing": int(cur_missing[name]),
            "missing_share": _share(int(cur_missing[name]), current.height),
            "reference_missing_share": _share(int(ref_missing[name]), reference.height),
        }
        for name in names
    }
    out.update(_range_checks(reference, current, plan.ranges, common))
    out.update(_category_checks(reference, current, plan.categories, common))
    for name, note in plan.missing_only.items():
        out[name] = ColumnQuality(name, "missing", **common[name], note=note)
    return out


def _finite(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    return column.filter(column.is_finite()) if dtype.is_float() else column


def _range_checks(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    names: Sequence[str],
    common: Mapping[str, Mapping[str, Any]],
) -> dict[str, ColumnQuality]:
    if not names:
        return {}
    bounds = reference.select(
        [
            expr
            for n in names
            for expr in (
                _finite(n, reference.schema[n]).min().cast(pl.Float64).alias(f"{n}\0min"),
                _finite(n, reference.schema[n]).max().cast(pl.Float64).alias(f"{n}\0max"),
            )
        ]
    ).row(0, named=True)
    counts_exprs = []
    for n in names:
        low, high = bounds[f"{n}\0min"], bounds[f"{n}\0max"]
        if low is None or high is None:
            counts_exprs.append(pl.lit(None, dtype=pl.Int64).alias(n))
            continue
        value = pl.col(n).cast(pl.Float64)
        outside = value.is_finite() & ((value < low) | (value > high))
        counts_exprs.append(outside.sum().alias(n))
    counts = current.select(counts_exprs).row(0, named=True)
    out = {}
    for n in names:
        low, high = bounds[f"{n}\0min"], bounds[f"{n}\0max"]
        note = None if low is not None else "the reference holds no finite number"
        found = counts[n]
        out[n] = ColumnQuality(
            n,
            "range",
            **common[n],
            out_of_range=None if found is None else int(found),
            minimum=low,
            maximum=high,
            note=note,
        )
    return out


def _category_checks(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    names: Sequence[str],
    common: Mapping[str, Mapping[str, Any]],
) -> dict[str, ColumnQuality]:
    out = {}
    for n in names:
        held = reference.get_column(n).drop_nulls().cast(pl.String)
        known = held.unique()
        if reference.schema[n] == pl.String and known.len() > FREE_TEXT_SHARE * max(held.len(), 1):
            out[n] = ColumnQuality(
                n,
                "missing",
                **common[n],
                note="most reference values are distinct (free text or identifiers): "
                "categories not judged",
            )
            continue
        values = current.get_column(n).drop_nulls().cast(pl.String)
        unseen = values.filter(~values.is_in(known.implode()))
        examples = unseen.value_counts(sort=True).get_column(n).head(EXAMPLES).to_list()
        out[n] = ColumnQuality(
            n,
            "categories",
            **common[n],
            unseen=unseen.len(),
            unseen_examples=tuple(str(e) for e in examples),
        )
    return out


def _run_rules(current: pl.DataFrame, rules: RuleSet) -> tuple[RuleCheck, ...]:
    from modelcycle.services.data.rules import validate_frame

    runnable, checks = [], {}
    for index, rule in enumerate(rules):
        missing = [c for c in rule.columns_used if c not in current.columns]
        if rule.kind not in _WINDOW_RULES:
            reason = f"skipped: a {rule.kind} rule judges a whole dataset, not a window"
            checks[index] = RuleCheck(rule.describe(), rule.kind, None, None, reason)
        elif missing:
            reason = f"skipped: the window has no column {', '.join(map(repr, missing))}"
            checks[index] = RuleCheck(rule.describe(), rule.kind, None, None, reason)
        else:
            runnable.append((index, rule))
    if runnable:
        report = validate_frame(current, [rule for _, rule in runnable])
        for (index, rule), result in zip(runnable, report.results, strict=True):
            checks[index] = RuleCheck(
                rule.describe(), rule.kind, result.passed, result.failing_count, result.message
            )
    return tuple(checks[i] for i in sorted(checks))


def _share(count: int, rows: int) -> float:
    return count / rows if rows else 0.0
