"""The filter AST, its typing rules and its canonical text; the grammar is in ``filters``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

from modelcycle.core.errors import InvalidInput


class Namespace(StrEnum):
    """Where a field's key lives."""

    METRICS = "metrics"
    PARAMS = "params"
    TAGS = "tags"
    ATTRIBUTES = "attributes"


class Op(StrEnum):
    """A comparison operator; the value is its canonical spelling."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "like"
    ILIKE = "ilike"
    IN = "in"
    NOT_IN = "not in"
    IS_NULL = "is null"
    IS_NOT_NULL = "is not null"


ATTRIBUTE_KEYS: frozenset[str] = frozenset(
    {"run_id", "name", "status", "start_time", "end_time", "project", "parent_id"}
)
"""The run attributes a filter or an order key may name."""

RUN_STATUSES: frozenset[str] = frozenset({"running", "finished", "failed", "killed"})
"""The values ``status`` may be compared with (lower case)."""

MAX_DEPTH = 100
"""The deepest nesting of parentheses and ``not`` that ``parse_filter`` accepts."""

Scalar: TypeAlias = str | float
"""A filter value: a string, or a number (always a ``float``)."""

_COMPARE_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
_TEXT_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.IN, Op.NOT_IN})
_NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})
_LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
_KEY_RE = re.compile(r"[A-Za-z0-9_.:/-]+")
_TIME_KEYS = frozenset({"start_time", "end_time"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Rule:
    """What one kind of field accepts: ops with a number, ops with a string, null tests."""

    number_ops: frozenset[Op]
    string_ops: frozenset[Op]
    nullable: bool


_STATUS_RULE = _Rule(frozenset(), frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN}), nullable=False)
_RULES: dict[Namespace, _Rule] = {
    Namespace.METRICS: _Rule(_COMPARE_OPS, frozenset(), nullable=True),
    Namespace.PARAMS: _Rule(_COMPARE_OPS, _TEXT_OPS, nullable=True),
    Namespace.TAGS: _Rule(_COMPARE_OPS, _TEXT_OPS, nullable=True),
}
_ATTRIBUTE_RULES: dict[str, _Rule] = {
    "status": _STATUS_RULE,
    "start_time": _Rule(_COMPARE_OPS, frozenset(), nullable=False),
    "end_time": _Rule(_COMPARE_OPS, frozenset(), nullable=True),
    "run_id": _Rule(frozenset(), _TEXT_OPS, nullable=False),
    "name": _Rule(frozenset(), _TEXT_OPS, nullable=False),
    "project": _Rule(frozenset(), _TEXT_OPS, nullable=False),
    "parent_id": _Rule(frozenset(), _TEXT_OPS, nullable=True),
}


def _rule_for(field: Field) -> _Rule:
    if field.namespace is Namespace.ATTRIBUTES:
        return _ATTRIBUTE_RULES[field.key]
    return _RULES[field.namespace]


def _valid_attributes() -> str:
    return ", ".join(sorted(ATTRIBUTE_KEYS))


def _op_list(ops: frozenset[Op]) -> str:
    return ", ".join(op.value for op in Op if op in ops)


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable or sortable field: ``metrics.acc``, ``params.lr``, ``attributes.status``.

    Attributes:
        namespace: Which family the key belongs to.
        key: The metric, param or tag key, or the attribute name (one of ``ATTRIBUTE_KEYS``).
    """

    namespace: Namespace
    key: str

    def __post_init__(self) -> None:
        namespace: object = self.namespace  # typed as object: callers may pass anything
        key: object = self.key
        if not isinstance(namespace, Namespace):
            raise InvalidInput(f"field namespace must be a Namespace, got {namespace!r}")
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"field key must be a non-empty string, got {key!r}")
        if self.namespace is Namespace.ATTRIBUTES and self.key not in ATTRIBUTE_KEYS:
            raise InvalidInput(
                f"unknown attribute {self.key!r}; valid attributes are {_valid_attributes()}"
            )

    def __str__(self) -> str:
        return format_field(self)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One test of a field against a value.

    Attributes:
        field: The field tested.
        op: The operator.
        value: A scalar for the comparison operators and ``like``/``ilike``, a non-empty
            tuple of scalars for ``in``/``not in``, ``None`` for ``is [not] null``. Numbers
            are floats (an int given here is stored as a float).
    """

    field: Field
    op: Op
    value: Scalar | tuple[Scalar, ...] | None

    def __post_init__(self) -> None:
        field: object = self.field  # typed as object: callers may pass anything
        op: object = self.op
        if not isinstance(field, Field) or not isinstance(op, Op):
            raise InvalidInput(f"a comparison needs a Field and an Op, got {field!r} and {op!r}")
        object.__setattr__(self, "value", _shape_value(self.op, self.value))
        problem = _semantic_problem(self.field, self.op, self.value)
        if problem is not None:
            raise InvalidInput(problem[0])


@dataclass(frozen=True, slots=True)
class And:
    """All items hold. Built with at least two items; nested ``And`` items are absorbed.

    Attributes:
        items: The conjuncts, none of them an ``And``.
    """

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _flatten(And, self.items))


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item holds. Built with at least two items; nested ``Or`` items are absorbed.

    Attributes:
        items: The disjuncts, none of them an ``Or``.
    """

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _flatten(Or, self.items))


@dataclass(frozen=True, slots=True)
class Not:
    """The item does not hold.

    Attributes:
        item: The negated expression.
    """

    item: Expr

    def __post_init__(self) -> None:
        if not isinstance(self.item, _EXPR_TYPES):
            raise InvalidInput(f"Not takes an expression, got {self.item!r}")


Expr: TypeAlias = Comparison | And | Or | Not
"""A filter expression."""

_EXPR_TYPES = (Comparison, And, Or, Not)


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One sort key of a search.

    Attributes:
        field: The field sorted on.
        descending: Largest first when true.
    """

    field: Field
    descending: bool = False


def _flatten(kind: type[And] | type[Or], items: object) -> tuple[Expr, ...]:
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise InvalidInput(f"{kind.__name__} takes a sequence of expressions, got {items!r}")
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        elif isinstance(item, _EXPR_TYPES):
            flat.append(item)
        else:
            raise InvalidInput(f"{kind.__name__} takes expressions, got {item!r}")
    if len(flat) < 2:
        raise InvalidInput(f"{kind.__name__} needs at least two items, got {len(flat)}")
    return tuple(flat)


def _shape_scalar(value: object) -> Scalar:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"filter values are strings or numbers, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"filter numbers must be finite, got {value!r}")
    return number


def _shape_value(op: Op, value: object) -> Scalar | tuple[Scalar, ...] | None:
    """Check that ``value`` has the shape ``op`` needs; return it with ints made floats."""
    if op in _NULL_OPS:
        if value is not None:
            raise InvalidInput(f"{op.value!r} takes no value, got {value!r}")
        return None
    if op in _LIST_OPS:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise InvalidInput(f"{op.value!r} takes a non-empty tuple of values, got {value!r}")
        return tuple(_shape_scalar(item) for item in value)
    return _shape_scalar(value)


# Where a semantic problem lies, so that the parser can point at the right token: the operator,
# or else the index of the offending value.
_AT_OP = -1


def _op_problem(field: Field, op: Op) -> str | None:
    """Why ``op`` cannot be applied to ``field`` at all, whatever the value."""
    rule = _rule_for(field)
    if op in _NULL_OPS:
        if rule.nullable:
            return None
        return f"{field} always has a value, so {op.value!r} is not allowed on it"
    if op not in rule.number_ops | rule.string_ops:
        nullable = _NULL_OPS if rule.nullable else frozenset()
        allowed = _op_list(rule.number_ops | rule.string_ops | nullable)
        return f"operator {op.value!r} is not allowed on {field}; use one of {allowed}"
    return None


def _semantic_problem(
    field: Field, op: Op, value: Scalar | tuple[Scalar, ...] | None
) -> tuple[str, int] | None:
    """Why ``field op value`` is not allowed, and where: ``_AT_OP`` or the value's index."""
    problem = _op_problem(field, op)
    if problem is not None:
        return problem, _AT_OP
    if op in _NULL_OPS:
        return None
    rule = _rule_for(field)
    values = value if isinstance(value, tuple) else (value,)
    for index, item in enumerate(values):
        item_problem = _value_problem(field, op, rule, item)
        if item_problem is not None:
            return item_problem, index
    return None


def _value_problem(field: Field, op: Op, rule: _Rule, value: Scalar | None) -> str | None:
    if isinstance(value, str):
        if op not in rule.string_ops:
            return f"'{op.value}' on {field} needs a number, found the string {_show(value)}"
        if rule is _STATUS_RULE and value not in RUN_STATUSES:
            return (
                f"{_show(value)} is not a run status; use one of {', '.join(sorted(RUN_STATUSES))}"
            )
        return None
    if op not in rule.number_ops:
        return f"'{op.value}' on {field} needs a quoted string, found the number {value!r}"
    return None


def _show(text: str, limit: int = 40) -> str:
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}..."


# ---------------------------------------------------------------------------------------------
# Formatting


def format_field(field: Field) -> str:
    """The canonical text of a field: ``metrics.acc``, ``params.`my key```, ``attributes.status``.

    Args:
        field: The field.

    Returns:
        The text the parser reads back as ``field``.
    """
    if _KEY_RE.fullmatch(field.key):
        return f"{field.namespace.value}.{field.key}"
    quoted = field.key.replace("`", "``")
    return f"{field.namespace.value}.`{quoted}`"


def _format_scalar(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _format_comparison(comparison: Comparison) -> str:
    field = format_field(comparison.field)
    value = comparison.value
    if value is None:
        return f"{field} {comparison.op.value}"
    if isinstance(value, tuple):
        items = ", ".join(_format_scalar(item) for item in value)
        return f"{field} {comparison.op.value} ({items})"
    return f"{field} {comparison.op.value} {_format_scalar(value)}"


def _format(expr: Expr) -> str:
    if isinstance(expr, Comparison):
        return _format_comparison(expr)
    if isinstance(expr, Not):
        inner = _format(expr.item)
        if isinstance(expr.item, And | Or):
            inner = f"({inner})"
        return f"not {inner}"
    if isinstance(expr, And):
        return " and ".join(
            f"({_format(item)})" if isinstance(item, Or) else _format(item) for item in expr.items
        )
    return " or ".join(_format(item) for item in expr.items)


def format_filter(expr: Expr | None) -> str:
    """Write ``expr`` as canonical filter text (``""`` for no filter).

    Keywords are lower case, fields carry their full namespace, strings use single quotes and
    only the parentheses the tree needs are written.

    Args:
        expr: The filter tree, or ``None``.

    Returns:
        Text such that ``parse_filter(format_filter(expr)) == expr``.
    """
    if expr is None:
        return ""
    return _format(expr)


def format_order_key(key: OrderKey) -> str:
    """Write one order key as ``metrics.acc desc`` or ``attributes.start_time asc``.

    Args:
        key: The order key.

    Returns:
        Text that ``parse_order_by`` reads back as ``key``.
    """
    return f"{format_field(key.field)} {'desc' if key.descending else 'asc'}"
