"""Validation results: one ``RuleResult`` per rule, gathered in a ``ValidationReport``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._rule_kinds import RULE_KINDS, Rule
from modelcycle.services.data._specs import build, dump_dicts, parse_dicts

MAX_EXAMPLES = 20


def json_safe(value: object) -> Any:
    """A JSON-safe form of one cell: dates as ISO text, NaN/inf as text, bytes as hex."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, Sequence):
        return [json_safe(item) for item in value]
    return str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of one rule.

    Attributes:
        rule: the rule checked.
        passed: whether the data satisfies it.
        failing_count: rows that break the rule; ``None`` when the failure is not about rows
            (a missing column, a wrong type, the row count, the schema).
        examples: up to 20 failing rows, each a JSON-safe mapping of column to value.
        message: what was found, in one line.
        example_rows: the 0-based positions of ``examples`` in the data.
    """

    rule: Rule
    passed: bool
    failing_count: int | None
    examples: tuple[dict[str, Any], ...]
    message: str
    example_rows: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping; ``from_dict`` reads it back."""
        return {
            "rule": dump_dicts([self.rule])[0],
            "passed": self.passed,
            "failing_count": self.failing_count,
            "message": self.message,
            "examples": [dict(example) for example in self.examples],
            "example_rows": list(self.example_rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleResult:
        """Read back what ``to_dict`` wrote."""
        try:
            (rule,) = build(parse_dicts([data["rule"]], "rule"), RULE_KINDS, "rule")
            return cls(
                rule=rule,
                passed=bool(data["passed"]),
                failing_count=data["failing_count"],
                examples=tuple(dict(example) for example in data["examples"]),
                message=str(data["message"]),
                example_rows=tuple(int(row) for row in data.get("example_rows", ())),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"a rule result is malformed ({exc!r}): {dict(data)!r}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every rule's result on one frame, in the order of the rule set."""

    results: tuple[RuleResult, ...]
    num_rows: int

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """The results of the rules that failed."""
        return tuple(result for result in self.results if not result.passed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping; ``from_dict`` reads it back."""
        return {
            "passed": self.passed,
            "num_rows": self.num_rows,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Read back what ``to_dict`` wrote."""
        given: object = data
        if not isinstance(given, Mapping) or not isinstance(data.get("results"), list):
            raise InvalidInput("a validation report must be a mapping with a 'results' list")
        return cls(
            results=tuple(RuleResult.from_dict(item) for item in data["results"]),
            num_rows=int(data.get("num_rows", 0)),
        )
