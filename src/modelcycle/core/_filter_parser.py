"""Tokenizer and recursive-descent parser of the filter grammar documented in ``filters``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from modelcycle.core._filter_ast import (
    _AT_OP,
    _COMPARE_OPS,
    _EPOCH,
    _LIST_OPS,
    _NULL_OPS,
    _TIME_KEYS,
    ATTRIBUTE_KEYS,
    MAX_DEPTH,
    And,
    Comparison,
    Expr,
    Field,
    Namespace,
    Not,
    Op,
    Or,
    OrderKey,
    Scalar,
    _op_problem,
    _semantic_problem,
    _show,
    _valid_attributes,
)
from modelcycle.core.errors import InvalidFilter, InvalidInput

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
