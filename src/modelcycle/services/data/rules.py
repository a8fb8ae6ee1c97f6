"""Declarative validation rules for a dataset, their YAML form, suggestion and checking.

A ``RuleSet`` is a list of rules. Its YAML form, made to be edited by hand, is a list of one-key
mappings, the key being the rule's kind and the value its fields (fields left at their default
may be left out)::

    - schema: {columns: [id, age, country, email, signup], allow_extra: false}
    - row_count: {min: 1000, max: 50000}
    - column_type: {column: age, dtype: int}
    - not_null: {column: age, max_fraction: 0.05}
    - range: {column: age, min: 0, max: 120}
    - range: {column: signup, min: '2020-01-01', inclusive: true}
    - allowed_values:
        column: country
        values: [FR, DE, 'NO']
    - regex: {column: email, pattern: '^[^@]+@[^@]+$'}
    - unique: {columns: [id]}

Kinds and fields:

========================  ===========================================================
``column_type``           ``column``, ``dtype`` (a family: int, float, number, string, bool,
                          datetime, date, categorical; or a polars type such as Int32)
``not_null``              ``column``, ``max_fraction`` (0.0: no missing value allowed)
``range``                 ``column``, ``min``, ``max`` (numbers, text, ISO dates),
                          ``inclusive`` (true)
``allowed_values``        ``column``, ``values``
``regex``                 ``column``, ``pattern`` (a match anywhere; anchor with ^…$)
``unique``                ``columns`` (one name or several: the combination is unique)
``row_count``             ``min``, ``max``
``schema``                ``columns``, ``allow_extra`` (false)
========================  ===========================================================

Missing values (null, and NaN in float columns) are the business of ``not_null`` alone: every
other row-level rule ignores them. In YAML, quote words such as ``'NO'``, ``'yes'`` or ``'off'``
that YAML would otherwise read as booleans. Each entry may also be written in the dict form
(``- {kind: not_null, column: age}``), which is what ``RuleSet.to_dict`` stores.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._rule_checks import evaluate, list_columns
from modelcycle.services.data._rule_kinds import (
    RULE_KINDS,
    AllowedValues,
    ColumnType,
    NotNull,
    Range,
    Regex,
    RowCount,
    Rule,
    SchemaContract,
    Unique,
)
from modelcycle.services.data._rule_report import RuleResult, ValidationReport
from modelcycle.services.data._rule_suggest import suggest
from modelcycle.services.data._specs import build, dump_dicts, dump_yaml, parse_dicts, parse_yaml

__all__ = [
    "AllowedValues",
    "ColumnType",
    "NotNull",
    "Range",
    "Regex",
    "RowCount",
    "Rule",
    "RuleResult",
    "RuleSet",
    "SchemaContract",
    "Unique",
    "ValidationReport",
    "check_rules_against_columns",
    "suggest_rules",
    "validate_frame",
]


@dataclasses.dataclass(frozen=True, slots=True)
class RuleSet:
    """An ordered list of rules, with a YAML form for people and a dict form for storage."""

    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        rules = tuple(self.rules)
        for index, rule in enumerate(rules):
            if not isinstance(rule, Rule):
                raise InvalidInput(f"rule #{index + 1} is not a rule: {rule!r}")
        object.__setattr__(self, "rules", rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def to_yaml(self) -> str:
        """The YAML form described in this module's docstring."""
        return dump_yaml(self.rules)

    @classmethod
    def from_yaml(cls, text: str) -> RuleSet:
        """Read the YAML form (``yaml.safe_load`` only).

        Raises:
            InvalidInput: the text does not parse (with its line and column), or an entry has an
                unknown kind (the valid kinds are listed), an unknown, missing or bad field
                (named with the entry's number and line).
        """
        return cls(tuple(build(parse_yaml(text, "rule"), RULE_KINDS, "rule")))

    def to_dict(self) -> dict[str, Any]:
        """``{"rules": [{"kind": ..., **fields}, ...]}``, JSON-safe."""
        return {"rules": dump_dicts(self.rules)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSet:
        """Read back what ``to_dict`` wrote.

        Raises:
            InvalidInput: as ``from_yaml``, entries named by number.
        """
        given: object = data
        if not isinstance(given, Mapping) or "rules" not in given:
            raise InvalidInput(f"a rule set must be a mapping with a 'rules' list, got {data!r}")
        return cls(tuple(build(parse_dicts(data["rules"], "rule"), RULE_KINDS, "rule")))


def _as_rules(rules: RuleSet | Iterable[Rule]) -> tuple[Rule, ...]:
    return rules.rules if isinstance(rules, RuleSet) else RuleSet(tuple(rules)).rules


def suggest_rules(frame: pl.DataFrame) -> RuleSet:
    """Rules that describe ``frame`` as it is; edit them, then keep them with the dataset.

    Suggested: the schema contract; a row count from half to twice the observed one; each
    column's type; ``not_null`` where nothing is missing; the observed range of numeric, date and
    datetime columns; the values of text or categorical columns with at most 20 distinct values
    (when some value repeats); ``unique`` for integer or text columns named like an identifier
    (``id``, ``user_id``, ``userId``, ``uuid``, ``key``) whose values are all present and distinct.
    The frame passes its own suggestions.
    """
    _require_frame(frame)
    return RuleSet(tuple(suggest(frame)))


def validate_frame(frame: pl.DataFrame, rules: RuleSet | Iterable[Rule]) -> ValidationReport:
    """Check every rule on ``frame``; a rule that cannot run fails with a message saying why.

    A rule naming a column the frame lacks fails with ``failing_count=None`` and the message
    ``column 'x' is not in the data (columns: ...)``; the other rules still run. Counts are
    computed in one vectorised pass.
    """
    _require_frame(frame)
    checked = _as_rules(rules)
    return ValidationReport(tuple(evaluate(frame, checked)), num_rows=frame.height)


def check_rules_against_columns(rules: RuleSet | Iterable[Rule], columns: Sequence[str]) -> None:
    """Refuse rules that name columns outside ``columns`` (a typo caught when rules are saved).

    Raises:
        InvalidInput: naming each rule and unknown column, with the closest known name.
    """
    known = list(columns)
    problems = []
    for index, rule in enumerate(_as_rules(rules)):
        for name in rule.columns_used:
            if name in known:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"rule #{index + 1} ({rule.kind}) names column {name!r}{hint}")
    if problems:
        raise InvalidInput(
            f"{'; '.join(problems)}: not in the data, whose columns are {list_columns(known)}"
        )


def _require_frame(frame: object) -> None:
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInput(f"expected a polars DataFrame, got {type(frame).__name__}")
