"""The search-filter grammar: text such as ``metrics.acc > 0.8 and params.model = 'gbm'``.

This docstring is the one place the grammar is written down; the store compiles the typed tree
that ``parse_filter`` returns, and ``format_filter`` writes a tree back as canonical text.

Prose
=====

A filter is a boolean combination of comparisons. ``not`` binds tighter than ``and``, which
binds tighter than ``or``; parentheses group. Keywords (``and or not like ilike in is null asc
desc``) are case-insensitive; field keys and string values are case-sensitive.

A **field** is ``NAMESPACE.KEY``. The namespaces are ``metrics`` (alias ``metric``), ``params``
(``param``), ``tags`` (``tag``) and ``attributes`` (``attribute``, ``attr``); the namespace
word is case-insensitive. A bare attribute name (``status``, ``start_time``...) means
``attributes.NAME``. A KEY is either a run of the characters ``A-Z a-z 0-9 _ . : / -``
(so ``metrics.val.loss`` has the key ``val.loss``) or a quoted key written right after the
dot, in backticks or double quotes (``metrics.`my metric```); a quote character is doubled to
put it inside. ``format_filter`` uses backticks exactly when the key needs them.

A **value** is a string in single quotes (``'it''s'``), a string in double quotes, or a
decimal number (``3``, ``-0.5``, ``1e-3``, ``.5``). Every number is read as a ``float``.
``inf``, ``nan``, booleans and bare words are not values; ``null`` appears only in
``is null`` / ``is not null``.

What each field accepts (checked at parse time, and again when a ``Comparison`` is built):

============================== =================================== ===========================
field                          with a number                       with a string
============================== =================================== ===========================
``metrics.*``                  ``= != < <= > >=``                  (not allowed)
``params.*``, ``tags.*``       ``= != < <= > >=`` (compared as     ``= != like ilike in``
                               numbers against values that parse   ``not in``
                               as numbers)
``status``                     (not allowed)                       ``= != in not in``; one of
                                                                   ``RUN_STATUSES``, any case,
                                                                   stored lower-case
``start_time``, ``end_time``   ``= != < <= > >=`` (epoch ms)       an ISO-8601 date or date-time
                                                                   (naive means UTC), converted
                                                                   to epoch milliseconds
``run_id name project          (not allowed)                       ``= != like ilike in``
parent_id``                                                        ``not in``
============================== =================================== ===========================

``is null`` / ``is not null`` apply to metrics, params, tags and to the attributes that may be
empty: ``end_time`` and ``parent_id``. ``in`` / ``not in`` take a non-empty parenthesised list.

EBNF
====

::

    filter      = [ or_expr ] ;                         (* empty or blank text: no filter *)
    or_expr     = and_expr , { "or" , and_expr } ;
    and_expr    = not_expr , { "and" , not_expr } ;
    not_expr    = "not" , not_expr | primary ;
    primary     = "(" , or_expr , ")" | comparison ;    (* at most 100 nested levels *)
    comparison  = field , ( compare_op , value
                          | ( "like" | "ilike" ) , string
                          | [ "not" ] , "in" , "(" , value , { "," , value } , ")"
                          | "is" , [ "not" ] , "null" ) ;
    compare_op  = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
    field       = namespace , "." , key | attribute ;
    namespace   = "metrics" | "metric" | "params" | "param" | "tags" | "tag"
                | "attributes" | "attribute" | "attr" ;
    attribute   = "run_id" | "name" | "status" | "start_time" | "end_time" | "project"
                | "parent_id" ;
    key         = keychar , { keychar } | quoted_key ;  (* a quoted key follows the dot directly *)
    keychar     = letter | digit | "_" | "." | ":" | "/" | "-" ;
    quoted_key  = "`" , { any - "`" | "``" } , "`" | '"' , { any - '"' | '""' } , '"' ;
    value       = string | number ;
    string      = "'" , { any - "'" | "''" } , "'" | '"' , { any - '"' | '""' } , '"' ;
    number      = [ "+" | "-" ] , ( digits , [ "." , [ digits ] ] | "." , digits ) ,
                  [ ( "e" | "E" ) , [ "+" | "-" ] , digits ] ;

    order_by    = order_key , { "," , order_key } ;
    order_key   = field , [ "asc" | "desc" ] ;

The tree
========

``Comparison`` leaves under ``And``, ``Or`` and ``Not``. The tree is **normalised by the
constructors**: ``And`` absorbs the items of any ``And`` it is given (likewise ``Or``), so
``a and (b and c)``, ``(a and b) and c`` and ``a and b and c`` are the same ``And`` of three
items, whichever way the tree was built. ``format_filter`` writes the fewest parentheses that
keep the tree, and ``parse_filter(format_filter(e)) == e`` for every tree. ``not not x`` stays
``Not(Not(x))``. Every syntax or semantic error is an ``InvalidFilter`` carrying the offset of
the offending token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from typing import TypeAlias

from modelcycle.core.errors import InvalidFilter, InvalidInput

__all__ = [
    "ATTRIBUTE_KEYS",
    "MAX_DEPTH",
    "RUN_STATUSES",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "Namespace",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "Scalar",
    "format_field",
    "format_filter",
    "format_order_key",
    "parse_filter",
    "parse_order_by",
]


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


# ---------------------------------------------------------------------------------------------
# Tokens


class _Kind(Enum):
    WORD = "word"
    NUMBER = "number"
    STRING = "string"  # single quotes: only ever a value
    DQUOTED = "dquoted"  # double quotes: a value, or a key right after "namespace."
    BACKTICK = "backtick"  # backticks: only ever a key
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    value: str  # the word, the operator, the decoded string, or the number's text
    start: int
    end: int

    def describe(self) -> str:
        if self.kind is _Kind.END:
            return "the end of the filter"
        if self.kind in (_Kind.STRING, _Kind.DQUOTED, _Kind.BACKTICK):
            return f"the quoted text {_show(self.value)}"
        return repr(self.value)


_KEYWORDS = frozenset({"and", "or", "not", "like", "ilike", "in", "is", "null", "asc", "desc"})
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-")
_PUNCTUATION = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA}
_QUOTES = {"'": _Kind.STRING, '"': _Kind.DQUOTED, "`": _Kind.BACKTICK}
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        token = _next_token(text, pos)
        tokens.append(token)
        pos = token.end
    tokens.append(_Token(_Kind.END, "", len(text), len(text)))
    return tokens


def _next_token(text: str, pos: int) -> _Token:
    char = text[pos]
    if char in _PUNCTUATION:
        return _Token(_PUNCTUATION[char], char, pos, pos + 1)
    if char in _QUOTES:
        return _read_quoted(text, pos)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return _Token(_Kind.OP, op, pos, pos + len(op))
    number = _NUMBER_RE.match(text, pos)
    if number is not None:
        end = number.end()
        if end < len(text) and text[end] in _WORD_CHARS:
            while end < len(text) and text[end] in _WORD_CHARS:
                end += 1
            raise InvalidFilter(f"malformed number {_show(text[pos:end])}", text=text, position=pos)
        return _Token(_Kind.NUMBER, number.group(), pos, end)
    word = _WORD_RE.match(text, pos)
    if word is not None:
        return _Token(_Kind.WORD, word.group(), pos, word.end())
    hint = " (write != for 'not equal')" if char == "!" else ""
    raise InvalidFilter(f"unexpected character {char!r}{hint}", text=text, position=pos)


def _read_quoted(text: str, start: int) -> _Token:
    quote = text[start]
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find(quote, pos)
        if close < 0:
            raise InvalidFilter(
                f"unterminated quoted text: expected a closing {quote}, "
                "found the end of the filter",
                text=text,
                position=start,
            )
        parts.append(text[pos:close])
        if text.startswith(quote, close + 1):  # a doubled quote stands for one quote
            parts.append(quote)
            pos = close + 2
            continue
        return _Token(_QUOTES[quote], "".join(parts), start, close + 1)


# ---------------------------------------------------------------------------------------------
# Parsing

_NAMESPACE_WORDS = {
    "metrics": Namespace.METRICS,
    "metric": Namespace.METRICS,
    "params": Namespace.PARAMS,
    "param": Namespace.PARAMS,
    "tags": Namespace.TAGS,
    "tag": Namespace.TAGS,
    "attributes": Namespace.ATTRIBUTES,
    "attribute": Namespace.ATTRIBUTES,
    "attr": Namespace.ATTRIBUTES,
}
_SYMBOL_OPS = {op.value: op for op in _COMPARE_OPS}
_EXPECTED_OP = "an operator (=, !=, <, <=, >, >=, like, ilike, in, not in, is null, is not null)"


class _Parser:
    """Recursive descent over the token list; one instance per text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.END:
            self.index += 1
        return token

    def fail(self, message: str, position: int) -> InvalidFilter:
        return InvalidFilter(message, text=self.text, position=position)

    def expected(self, what: str) -> InvalidFilter:
        token = self.peek()
        return self.fail(f"expected {what}, found {token.describe()}", token.start)

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind is _Kind.WORD and token.value.lower() in words

    def expect_keyword(self, word: str) -> _Token:
        if not self.at_keyword(word):
            raise self.expected(f"'{word}'")
        return self.advance()

    def expect(self, kind: _Kind, what: str) -> _Token:
        if self.peek().kind is not kind:
            raise self.expected(what)
        return self.advance()

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"the filter nests deeper than {MAX_DEPTH} levels", token.start)

    # -- expressions ---------------------------------------------------------------------------

    def parse_filter(self) -> Expr:
        expr = self.or_expr()
        if self.peek().kind is not _Kind.END:
            what = "'and', 'or' or the end of the filter"
            if self.peek().kind is _Kind.RPAREN:
                raise self.fail("unbalanced ')': there is no '(' to close", self.peek().start)
            raise self.expected(what)
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        # Iterative over a run of "not" so that only the depth guard limits it.
        nots: list[_Token] = []
        while self.at_keyword("not"):
            token = self.advance()
            self.nest(token)
            nots.append(token)
        expr = self.primary()
        for _ in nots:
            expr = Not(expr)
            self.depth -= 1
        return expr

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind is _Kind.LPAREN:
            self.advance()
            self.nest(token)
            expr = self.or_expr()
            if self.peek().kind is not _Kind.RPAREN:
                raise self.expected(f"')' to close the '(' at position {token.start}")
            self.advance()
            self.depth -= 1
            return expr
        return self.comparison()

    # -- comparisons ---------------------------------------------------------------------------

    def field(self) -> tuple[Field, _Token]:
        token = self.peek()
        if token.kind is not _Kind.WORD or token.value.lower() in _KEYWORDS:
            raise self.expected("a field (metrics.KEY, params.KEY, tags.KEY or an attribute)")
        self.advance()
        head, dot, rest = token.value.partition(".")
        if not dot:
            if token.value.lower() in ATTRIBUTE_KEYS:
                return Field(Namespace.ATTRIBUTES, token.value.lower()), token
            raise self.fail(
                f"unknown field {_show(token.value)}: expected metrics.KEY, params.KEY, tags.KEY "
                f"or an attribute ({_valid_attributes()})",
                token.start,
            )
        namespace = _NAMESPACE_WORDS.get(head.lower())
        if namespace is None:
            raise self.fail(
                f"unknown namespace {_show(head)}: expected metrics, params, tags or attributes",
                token.start,
            )
        key = rest or self.quoted_key(token)
        if namespace is Namespace.ATTRIBUTES:
            if key.lower() not in ATTRIBUTE_KEYS:
                raise self.fail(
                    f"unknown attribute {_show(key)}; valid attributes are {_valid_attributes()}",
                    token.start,
                )
            key = key.lower()
        return Field(namespace, key), token

    def quoted_key(self, word: _Token) -> str:
        token = self.peek()
        if token.kind not in (_Kind.BACKTICK, _Kind.DQUOTED) or token.start != word.end:
            raise self.fail(
                f"expected a key right after {_show(word.value)}, found {token.describe()}",
                word.end,
            )
        self.advance()
        if not token.value:
            raise self.fail("a field key must not be empty", token.start)
        return token.value

    def operator(self) -> tuple[Op, _Token]:
        token = self.peek()
        if token.kind is _Kind.OP:
            self.advance()
            return _SYMBOL_OPS[token.value], token
        if self.at_keyword("like", "ilike", "in"):
            self.advance()
            return Op(token.value.lower()), token
        if self.at_keyword("not"):
            self.advance()
            self.expect_keyword("in")
            return Op.NOT_IN, token
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            self.expect_keyword("null")
            return (Op.IS_NOT_NULL if negated else Op.IS_NULL), token
        raise self.expected(_EXPECTED_OP)

    def scalar(self) -> tuple[Scalar, _Token]:
        token = self.peek()
        if token.kind is _Kind.NUMBER:
            self.advance()
            number = float(token.value)
            if not math.isfinite(number):
                raise self.fail(f"number {_show(token.value)} is out of range", token.start)
            return number, token
        if token.kind in (_Kind.STRING, _Kind.DQUOTED):
            self.advance()
            return token.value, token
        if self.at_keyword("null"):
            raise self.fail("null is not a value: write 'is null' or 'is not null'", token.start)
        raise self.expected("a value (a quoted string or a number)")

    def values(self, op: Op) -> tuple[Scalar | tuple[Scalar, ...] | None, list[_Token]]:
        if op in _NULL_OPS:
            return None, []
        if op not in _LIST_OPS:
            value, token = self.scalar()
            return value, [token]
        self.expect(_Kind.LPAREN, f"'(' to open the list of values after '{op.value}'")
        items: list[Scalar] = []
        tokens: list[_Token] = []
        while True:
            value, token = self.scalar()
            items.append(value)
            tokens.append(token)
            if self.peek().kind is _Kind.RPAREN:
                self.advance()
                return tuple(items), tokens
            self.expect(_Kind.COMMA, "',' or ')' in the list of values")

    def comparison(self) -> Comparison:
        field, _ = self.field()
        op, op_token = self.operator()
        op_problem = _op_problem(field, op)
        if op_problem is not None:
            raise self.fail(op_problem, op_token.start)
        value, value_tokens = self.values(op)
        value = self.normalise(field, value, value_tokens)
        problem = _semantic_problem(field, op, value)
        if problem is not None:
            message, where = problem
            position = op_token.start if where == _AT_OP else value_tokens[where].start
            raise self.fail(message, position)
        return Comparison(field, op, value)

    def normalise(
        self, field: Field, value: Scalar | tuple[Scalar, ...] | None, tokens: list[_Token]
    ) -> Scalar | tuple[Scalar, ...] | None:
        """Lower-case statuses; turn ISO dates given for the time attributes into epoch ms."""
        if field.namespace is not Namespace.ATTRIBUTES or value is None:
            return value
        items = value if isinstance(value, tuple) else (value,)
        if field.key == "status":
            items = tuple(item.lower() if isinstance(item, str) else item for item in items)
        elif field.key in _TIME_KEYS:
            items = tuple(
                _epoch_millis(item, self, token) if isinstance(item, str) else item
                for item, token in zip(items, tokens, strict=True)
            )
        return items if isinstance(value, tuple) else items[0]


def _epoch_millis(text: str, parser: _Parser, token: _Token) -> float:
    """Epoch milliseconds of an ISO-8601 date or date-time; a naive one is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return float((moment - _EPOCH) // timedelta(milliseconds=1))
    except (ValueError, OverflowError):
        raise parser.fail(
            f"{_show(text)} is not an ISO-8601 date or date-time (e.g. '2024-05-01' or "
            "'2024-05-01T12:00:00+02:00'); or give epoch milliseconds as a number",
            token.start,
        ) from None


def parse_filter(text: str | None) -> Expr | None:
    """Parse filter text into a typed tree (see the module docstring for the grammar).

    Args:
        text: The filter, e.g. ``"metrics.acc > 0.8 and params.model = 'gbm'"``; ``None`` or
            blank text means no filter.

    Returns:
        The expression tree, or ``None`` for no filter.

    Raises:
        InvalidFilter: If the text does not parse or compares a field in a way it does not
            support; ``position`` is the offset of the offending token.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"a filter must be a string, got {type(text).__name__}")
    if not text.strip():
        return None
    return _Parser(text).parse_filter()


def parse_order_by(items: Sequence[str] | str | None) -> tuple[OrderKey, ...]:
    """Parse order-by clauses such as ``"metrics.m1 DESC"``, ``"start_time"``, ``"params.lr asc"``.

    Args:
        items: One string (which may hold several keys separated by commas), a sequence of such
            strings, or ``None``.

    Returns:
        The order keys, in order; empty for ``None`` or blank text.

    Raises:
        InvalidInput: If a clause is not a field optionally followed by ``asc`` or ``desc``, names
            an unknown attribute (an ``InvalidFilter`` with the position), or repeats a field.
    """
    if items is None:
        return ()
    if isinstance(items, str):
        texts: Sequence[str] = [items] if items.strip() else []
    elif isinstance(items, Sequence):
        texts = items
    else:
        raise InvalidInput(f"order_by must be a string or a list of strings, got {items!r}")
    keys: list[OrderKey] = []
    for item in texts:
        text: object = item  # typed as object: callers may pass anything
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"an order-by clause must be a non-empty string, got {text!r}")
        keys.extend(_parse_order_text(text))
    seen: set[Field] = set()
    for key in keys:
        if key.field in seen:
            raise InvalidInput(f"order_by names {key.field} more than once")
        seen.add(key.field)
    return tuple(keys)


def _parse_order_text(text: str) -> list[OrderKey]:
    parser = _Parser(text)
    keys: list[OrderKey] = []
    while True:
        field, _ = parser.field()
        descending = False
        if parser.at_keyword("asc", "desc"):
            descending = parser.advance().value.lower() == "desc"
        keys.append(OrderKey(field, descending))
        if parser.peek().kind is _Kind.END:
            return keys
        parser.expect(_Kind.COMMA, "'asc', 'desc', ',' or the end of the order-by clause")
