from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core.errors import InvalidFilter, InvalidInput
from modelcycle.core.filters import (
    MAX_DEPTH,
    RUN_STATUSES,
    And,
    Comparison,
    Expr,
    Field,
    Namespace,
    Not,
    Op,
    Or,
    OrderKey,
    format_filter,
    format_order_key,
    parse_filter,
    parse_order_by,
)

COMPARE_OPS = [Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE]
NULL_OPS = [Op.IS_NULL, Op.IS_NOT_NULL]
STRING_SCALAR_OPS = [Op.EQ, Op.NE, Op.LIKE, Op.ILIKE]
LIST_OPS = [Op.IN, Op.NOT_IN]

numbers = st.floats(allow_nan=False, allow_infinity=False)
strings = st.text(max_size=12)
string_lists = st.lists(strings, min_size=1, max_size=4).map(tuple)
keys = st.one_of(
    st.text(alphabet="abcXYZ019_.:/-", min_size=1, max_size=12),  # written bare
    st.text(min_size=1, max_size=12),  # usually needs backticks
)


def _numeric(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Comparison]:
    return st.builds(Comparison, field, st.sampled_from(COMPARE_OPS), numbers)


def _nulls(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Comparison]:
    return st.builds(Comparison, field, st.sampled_from(NULL_OPS), st.none())


def _texts(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Comparison]:
    return st.one_of(
        st.builds(Comparison, field, st.sampled_from(STRING_SCALAR_OPS), strings),
        st.builds(Comparison, field, st.sampled_from(LIST_OPS), string_lists),
    )


def _field(namespace: Namespace, key: st.SearchStrategy[str]) -> st.SearchStrategy[Field]:
    return st.builds(Field, st.just(namespace), key)


metric_fields = _field(Namespace.METRICS, keys)
free_fields = st.one_of(_field(Namespace.PARAMS, keys), _field(Namespace.TAGS, keys))
status_field = st.just(Field(Namespace.ATTRIBUTES, "status"))
time_fields = _field(Namespace.ATTRIBUTES, st.sampled_from(["start_time", "end_time"]))
text_attribute_fields = _field(
    Namespace.ATTRIBUTES, st.sampled_from(["run_id", "name", "project", "parent_id"])
)
statuses = st.sampled_from(sorted(RUN_STATUSES))

comparisons = st.one_of(
    _numeric(metric_fields),
    _nulls(metric_fields),
    _numeric(free_fields),
    _texts(free_fields),
    _nulls(free_fields),
    st.builds(Comparison, status_field, st.sampled_from([Op.EQ, Op.NE]), statuses),
    st.builds(
        Comparison,
        status_field,
        st.sampled_from(LIST_OPS),
        st.lists(statuses, min_size=1, max_size=3).map(tuple),
    ),
    _numeric(time_fields),
    _nulls(st.just(Field(Namespace.ATTRIBUTES, "end_time"))),
    _texts(text_attribute_fields),
    _nulls(st.just(Field(Namespace.ATTRIBUTES, "parent_id"))),
)

expressions: st.SearchStrategy[Expr] = st.recursive(
    comparisons,
    lambda children: st.one_of(
        st.builds(And, st.lists(children, min_size=2, max_size=4).map(tuple)),
        st.builds(Or, st.lists(children, min_size=2, max_size=4).map(tuple)),
        st.builds(Not, children),
    ),
    max_leaves=12,
)


def _parse(text: str) -> tuple[Expr | None, InvalidFilter | None]:
    try:
        return parse_filter(text), None
    except InvalidFilter as exc:
        return None, exc


@given(expressions)
def test_parse_inverts_format(expr: Expr) -> None:
    assert parse_filter(format_filter(expr)) == expr


@given(expressions)
def test_format_is_a_fixed_point(expr: Expr) -> None:
    text = format_filter(expr)
    assert format_filter(parse_filter(text)) == text


@given(expressions, expressions)
def test_and_of_two_filters_parses_as_their_conjunction(left: Expr, right: Expr) -> None:
    text = f"({format_filter(left)}) AND ({format_filter(right)})"
    assert parse_filter(text) == And((left, right))


@given(st.text())
def test_parse_raises_only_invalid_filter_on_any_text(text: str) -> None:
    expr, error = _parse(text)
    if error is not None:
        assert 0 <= error.position <= len(text)
    else:
        assert parse_filter(format_filter(expr)) == expr


VOCABULARY = [
    "metrics.a", "params.p", "tags.t", "status", "start_time", "end_time", "name", "attr.x",
    "metrics.", "`k`", '"k"', "'v'", "'FINISHED'", "'2024-01-01'", "3", "-1.5e3", "1e999",
    "=", "!=", "<", "<=", ">", ">=", "==", "!", "like", "ilike", "in", "not", "is", "null",
    "and", "or", "(", ")", ",", "asc", "desc", "inf", "'", "`", ";", " ",
]  # fmt: skip


@given(st.lists(st.sampled_from(VOCABULARY), max_size=25))
def test_parse_raises_only_invalid_filter_on_token_soup(words: list[str]) -> None:
    text = " ".join(words)
    expr, error = _parse(text)
    if error is not None:
        assert 0 <= error.position <= len(text)
    else:
        assert parse_filter(format_filter(expr)) == expr


@given(st.lists(st.sampled_from(["(", "not ", "NOT(", "( "]), max_size=400))
def test_deep_nesting_is_an_invalid_filter_never_a_recursion_error(openers: list[str]) -> None:
    text = "".join(openers) + "metrics.a > 1" + ")" * sum(o.count("(") for o in openers)
    depth = sum(o.count("(") + o.lower().count("not") for o in openers)
    expr, error = _parse(text)
    if error is not None:
        assert depth > MAX_DEPTH
        assert "nests deeper than 100 levels" in error.message
    else:
        assert depth <= MAX_DEPTH
        assert expr is not None


@given(st.one_of(st.text(), st.lists(st.text(), max_size=3)))
def test_parse_order_by_raises_only_invalid_input(items: str | list[str]) -> None:
    try:
        keys = parse_order_by(items)
    except InvalidInput:
        return
    assert parse_order_by([format_order_key(key) for key in keys]) == keys


@given(
    st.lists(
        st.builds(
            OrderKey,
            st.one_of(metric_fields, free_fields, time_fields, text_attribute_fields),
            st.booleans(),
        ),
        max_size=4,
        unique_by=lambda key: key.field,
    )
)
def test_order_keys_round_trip(keys: list[OrderKey]) -> None:
    assert parse_order_by([format_order_key(key) for key in keys]) == tuple(keys)
    assert parse_order_by(", ".join(format_order_key(key) for key in keys)) == tuple(keys)
