import re

import pytest

from modelcycle.core.errors import InvalidFilter, InvalidInput
from modelcycle.core.filters import (
    ATTRIBUTE_KEYS,
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

M = Namespace.METRICS
P = Namespace.PARAMS
T = Namespace.TAGS
A = Namespace.ATTRIBUTES


def cmp(namespace: Namespace, key: str, op: Op, value: object = None) -> Comparison:
    return Comparison(Field(namespace, key), op, value)  # type: ignore[arg-type]


ACC = cmp(M, "acc", Op.GT, 0.8)
LOSS = cmp(M, "loss", Op.LT, 1.0)
MODEL = cmp(P, "model", Op.EQ, "gbm")
TEAM = cmp(T, "team", Op.EQ, "risk")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metrics.acc > 0.8 and params.model = 'gbm' and tags.team = 'risk'",
            And((ACC, MODEL, TEAM)),
        ),
        ("metrics.acc > 0.8", ACC),
        ("metric.acc > 0.8", ACC),
        ("METRICS.acc>0.8", ACC),
        ("metrics.acc > 8e-1", ACC),
        ("metrics.acc > .8", ACC),
        ("metrics.acc > +0.8", ACC),
        ("  metrics.acc   >   0.8  ", ACC),
        ("(metrics.acc > 0.8)", ACC),
        ("((metrics.acc > 0.8))", ACC),
        ("metrics.n = 3", cmp(M, "n", Op.EQ, 3.0)),
        ("metrics.n != -3", cmp(M, "n", Op.NE, -3.0)),
        ("metrics.n <= 1E3", cmp(M, "n", Op.LE, 1000.0)),
        ("metrics.n >= 5.", cmp(M, "n", Op.GE, 5.0)),
        ("metrics.val.loss < 1", cmp(M, "val.loss", Op.LT, 1.0)),
        ("metrics.f1-score > 0", cmp(M, "f1-score", Op.GT, 0.0)),
        ("metrics.a:b/c > 0", cmp(M, "a:b/c", Op.GT, 0.0)),
        ("metrics.`my metric` > 0", cmp(M, "my metric", Op.GT, 0.0)),
        ('metrics."my metric" > 0', cmp(M, "my metric", Op.GT, 0.0)),
        ("metrics.`a``b` > 0", cmp(M, "a`b", Op.GT, 0.0)),
        ('metrics."a""b" > 0', cmp(M, 'a"b', Op.GT, 0.0)),
        ("metrics.acc is null", cmp(M, "acc", Op.IS_NULL)),
        ("metrics.acc IS NOT NULL", cmp(M, "acc", Op.IS_NOT_NULL)),
        ("params.model = 'gbm'", MODEL),
        ("param.model = 'gbm'", MODEL),
        ('params.model = "gbm"', MODEL),
        ("params.model = 'it''s'", cmp(P, "model", Op.EQ, "it's")),
        ("params.model = ''", cmp(P, "model", Op.EQ, "")),
        ("params.model like 'gb%'", cmp(P, "model", Op.LIKE, "gb%")),
        ("params.model ILIKE 'GB%'", cmp(P, "model", Op.ILIKE, "GB%")),
        ("params.model in ('gbm', 'rf')", cmp(P, "model", Op.IN, ("gbm", "rf"))),
        ("params.model in ('gbm')", cmp(P, "model", Op.IN, ("gbm",))),
        ("params.model NOT IN ('a','b' , \"c\")", cmp(P, "model", Op.NOT_IN, ("a", "b", "c"))),
        ("params.lr < 0.1", cmp(P, "lr", Op.LT, 0.1)),
        ("params.depth = 3", cmp(P, "depth", Op.EQ, 3.0)),
        ("params.lr is null", cmp(P, "lr", Op.IS_NULL)),
        ("tags.team = 'risk'", TEAM),
        ("tag.team = 'risk'", TEAM),
        ("tags.team != 'risk'", cmp(T, "team", Op.NE, "risk")),
        ("tags.priority >= 2", cmp(T, "priority", Op.GE, 2.0)),
        ("tags.`mlflow.user` = 'x'", cmp(T, "mlflow.user", Op.EQ, "x")),
        ("status = 'finished'", cmp(A, "status", Op.EQ, "finished")),
        ("status = 'FINISHED'", cmp(A, "status", Op.EQ, "finished")),
        ("STATUS = 'Failed'", cmp(A, "status", Op.EQ, "failed")),
        ("attributes.status != 'running'", cmp(A, "status", Op.NE, "running")),
        ("attribute.status = 'killed'", cmp(A, "status", Op.EQ, "killed")),
        ("attr.status = 'killed'", cmp(A, "status", Op.EQ, "killed")),
        ("attr.STATUS = 'killed'", cmp(A, "status", Op.EQ, "killed")),
        (
            "status in ('Running', 'FAILED')",
            cmp(A, "status", Op.IN, ("running", "failed")),
        ),
        ("status not in ('killed')", cmp(A, "status", Op.NOT_IN, ("killed",))),
        ("start_time > 0", cmp(A, "start_time", Op.GT, 0.0)),
        ("start_time >= 1714521600000", cmp(A, "start_time", Op.GE, 1714521600000.0)),
        ("start_time >= '2024-05-01'", cmp(A, "start_time", Op.GE, 1714521600000.0)),
        ("start_time < '2024-05-01T00:00:01'", cmp(A, "start_time", Op.LT, 1714521601000.0)),
        ("start_time < '2024-05-01T00:00:00Z'", cmp(A, "start_time", Op.LT, 1714521600000.0)),
        (
            "start_time < '2024-05-01T02:00:00+02:00'",
            cmp(A, "start_time", Op.LT, 1714521600000.0),
        ),
        ("start_time = '2024-05-01T00:00:00.0015'", cmp(A, "start_time", Op.EQ, 1714521600001.0)),
        ("start_time > '1969-12-31T23:59:59'", cmp(A, "start_time", Op.GT, -1000.0)),
        ("end_time is null", cmp(A, "end_time", Op.IS_NULL)),
        ("end_time <= '1970-01-01'", cmp(A, "end_time", Op.LE, 0.0)),
        ("run_id = 'abc'", cmp(A, "run_id", Op.EQ, "abc")),
        ("name like 'trial-%'", cmp(A, "name", Op.LIKE, "trial-%")),
        ("project in ('a', 'b')", cmp(A, "project", Op.IN, ("a", "b"))),
        ("parent_id is not null", cmp(A, "parent_id", Op.IS_NOT_NULL)),
        ("attributes.parent_id = 'p'", cmp(A, "parent_id", Op.EQ, "p")),
    ],
)
def test_parse_filter_builds_the_tree(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", " ", "\t\n  "])
def test_parse_filter_returns_none_for_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.8 or metrics.loss < 1", Or((ACC, LOSS))),
        ("metrics.acc > 0.8 OR metrics.loss < 1 Or params.model = 'gbm'", Or((ACC, LOSS, MODEL))),
        # AND binds tighter than OR.
        (
            "metrics.acc > 0.8 or metrics.loss < 1 and params.model = 'gbm'",
            Or((ACC, And((LOSS, MODEL)))),
        ),
        (
            "metrics.acc > 0.8 and metrics.loss < 1 or params.model = 'gbm'",
            Or((And((ACC, LOSS)), MODEL)),
        ),
        # Parentheses override it.
        (
            "(metrics.acc > 0.8 or metrics.loss < 1) and params.model = 'gbm'",
            And((Or((ACC, LOSS)), MODEL)),
        ),
        # NOT binds tighter than AND.
        ("not metrics.acc > 0.8 and metrics.loss < 1", And((Not(ACC), LOSS))),
        ("not (metrics.acc > 0.8 and metrics.loss < 1)", Not(And((ACC, LOSS)))),
        ("NOT NOT metrics.acc > 0.8", Not(Not(ACC))),
        ("not metrics.acc > 0.8 or not metrics.loss < 1", Or((Not(ACC), Not(LOSS)))),
        # Nested groups of the same connective flatten into one node.
        (
            "metrics.acc > 0.8 and (metrics.loss < 1 and params.model = 'gbm')",
            And((ACC, LOSS, MODEL)),
        ),
        (
            "(metrics.acc > 0.8 and metrics.loss < 1) and params.model = 'gbm'",
            And((ACC, LOSS, MODEL)),
        ),
        (
            "(metrics.acc > 0.8 or metrics.loss < 1) or (params.model = 'gbm')",
            Or((ACC, LOSS, MODEL)),
        ),
        (
            "metrics.acc > 0.8 and (metrics.loss < 1 or params.model = 'gbm')",
            And((ACC, Or((LOSS, MODEL)))),
        ),
    ],
)
def test_parse_filter_precedence_and_flattening(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


def _position_of(text: str, marker: str) -> int:
    return text.index(marker)


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        # Syntax: every message names what was expected and what was found.
        ("metrics.acc", 11, "expected an operator .*, found the end of the filter"),
        ("metrics.acc >", 13, "expected a value \\(a quoted string or a number\\), found the end"),
        ("metrics.acc > 0.8 and", 21, "expected a field .*, found the end of the filter"),
        ("metrics.acc > 0.8 metrics.b > 1", 18, "expected 'and', 'or' or the end .*'metrics.b'"),
        ("metrics.acc > 0.8)", 17, "unbalanced '\\)': there is no '\\(' to close"),
        (
            "(metrics.acc > 0.8",
            18,
            "expected '\\)' to close the '\\(' at position 0, found the end",
        ),
        ("()", 1, "expected a field .*, found '\\)'"),
        ("and metrics.a > 1", 0, "expected a field .*, found 'and'"),
        ("metrics.a > 1 or or metrics.b > 1", 17, "expected a field .*, found 'or'"),
        ("metrics.a == 1", 11, "expected a value .*, found '='"),
        ("metrics.a ! 1", 10, "unexpected character '!' \\(write != for 'not equal'\\)"),
        ("metrics.a <> 1", 11, "expected a value .*, found '>'"),
        ("metrics.a > 1 && metrics.b > 1", 14, "unexpected character '&'"),
        ("metrics.a $ 1", 10, "unexpected character '\\$'"),
        ("metrics.a > inf", 12, "expected a value .*, found 'inf'"),
        ("metrics.a > -inf", 12, "unexpected character '-'"),
        ("metrics.a > nan", 12, "expected a value .*, found 'nan'"),
        ("metrics.a > 1e999", 12, "number '1e999' is out of range"),
        ("metrics.a > 1.2.3", 12, "malformed number '1.2.3'"),
        ("metrics.a > 3x", 12, "malformed number '3x'"),
        ("params.a = true", 11, "expected a value .*, found 'true'"),
        ("metrics.a = null", 12, "null is not a value: write 'is null' or 'is not null'"),
        ("params.a = 'open", 11, "unterminated quoted text: expected a closing '"),
        ('params.a = "open', 11, 'unterminated quoted text: expected a closing "'),
        ("metrics.`open > 1", 8, "unterminated quoted text: expected a closing `"),
        ("params.a = `x`", 11, "expected a value .*, found the quoted text 'x'"),
        ("'x' = 'y'", 0, "expected a field .*, found the quoted text 'x'"),
        ("3 = metrics.a", 0, "expected a field .*, found '3'"),
        ("params.a is 'x'", 12, "expected 'null', found the quoted text 'x'"),
        ("params.a is not 'x'", 16, "expected 'null', found the quoted text 'x'"),
        ("params.a not like 'x'", 13, "expected 'in', found 'like'"),
        ("params.a in 'x'", 12, "expected '\\(' to open the list of values after 'in', found"),
        ("params.a in ()", 13, "expected a value .*, found '\\)'"),
        ("params.a in ('x',)", 17, "expected a value .*, found '\\)'"),
        ("params.a in ('x' 'y')", 17, "expected ',' or '\\)' in the list of values, found"),
        ("params.a in ('x'", 16, "expected ',' or '\\)' in the list of values, found the end"),
        # Fields.
        ("acc > 1", 0, "unknown field 'acc': expected metrics.KEY, .* or an attribute \\(end_time"),
        ("foo.acc > 1", 0, "unknown namespace 'foo': expected metrics, params, tags or attributes"),
        ("metrics. > 1", 8, "expected a key right after 'metrics.', found '>'"),
        ("metrics. `a` > 1", 8, "expected a key right after 'metrics.', found the quoted text"),
        ("metrics.`` > 1", 8, "a field key must not be empty"),
        ("metrics.'a' > 1", 8, "expected a key right after 'metrics.', found the quoted text"),
        (
            "attributes.color = 'red'",
            0,
            "unknown attribute 'color'; valid attributes are end_time, name, parent_id, "
            "project, run_id, start_time, status",
        ),
        ("attr.`x y` = 'red'", 0, "unknown attribute 'x y'"),
        # Semantics: metrics are numbers.
        ("metrics.acc = 'high'", 14, "'=' on metrics.acc needs a number, found the string 'high'"),
        ("metrics.acc like '1%'", 12, "operator 'like' is not allowed on metrics.acc; use one of"),
        ("metrics.acc in (1, 2)", 12, "operator 'in' is not allowed on metrics.acc"),
        ("metrics.acc not in (1)", 12, "operator 'not in' is not allowed on metrics.acc"),
        # Params and tags: strings for the text operators, numbers for the comparisons.
        ("params.lr < '0.1'", 12, "'<' on params.lr needs a number, found the string '0.1'"),
        ("tags.t >= 'b'", 10, "'>=' on tags.t needs a number, found the string 'b'"),
        ("params.m like 3", 14, "'like' on params.m needs a quoted string, found the number 3.0"),
        ("params.m ilike 3", 15, "'ilike' on params.m needs a quoted string, found the number"),
        (
            "params.m in ('a', 2)",
            18,
            "'in' on params.m needs a quoted string, found the number 2.0",
        ),
        ("tags.m not in (1)", 15, "'not in' on tags.m needs a quoted string, found the number"),
        # Attributes.
        ("status = 'done'", 9, "'done' is not a run status; use one of failed, finished, killed"),
        ("status in ('running', 'paused')", 22, "'paused' is not a run status"),
        ("status = 1", 9, "'=' on attributes.status needs a quoted string, found the number"),
        (
            "status > 'running'",
            7,
            "operator '>' is not allowed on attributes.status; use one of =,",
        ),
        ("status like 'run%'", 7, "operator 'like' is not allowed on attributes.status"),
        ("status is null", 7, "attributes.status always has a value, so 'is null' is not allowed"),
        ("start_time is not null", 11, "always has a value, so 'is not null' is not allowed"),
        ("start_time > 'yesterday'", 13, "'yesterday' is not an ISO-8601 date or date-time"),
        ("start_time > '2024-13-01'", 13, "'2024-13-01' is not an ISO-8601 date"),
        ("end_time like '2024%'", 9, "operator 'like' is not allowed on attributes.end_time"),
        ("start_time in (1, 2)", 11, "operator 'in' is not allowed on attributes.start_time"),
        ("run_id > 'a'", 7, "operator '>' is not allowed on attributes.run_id"),
        ("name = 3", 7, "'=' on attributes.name needs a quoted string, found the number 3.0"),
        ("project is null", 8, "attributes.project always has a value"),
        ("run_id is null", 7, "attributes.run_id always has a value"),
        # Deep nesting is refused before the interpreter's recursion limit is near.
        (
            "(" * (MAX_DEPTH + 1) + "metrics.a > 1" + ")" * (MAX_DEPTH + 1),
            MAX_DEPTH,
            "nests deeper",
        ),
        ("not " * (MAX_DEPTH + 1) + "metrics.a > 1", 4 * MAX_DEPTH, "nests deeper than 100 levels"),
        ("(not " * 60 + "metrics.a > 1" + ")" * 60, 250, "nests deeper than 100 levels"),
    ],
)
def test_parse_filter_errors_point_at_the_offending_token(
    text: str, position: int, message: str
) -> None:
    with pytest.raises(InvalidFilter, match=message) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert caught.value.text == text


def test_parse_filter_error_draws_a_caret_under_the_token() -> None:
    text = "metrics.acc = 'high'"
    with pytest.raises(InvalidFilter, match="at position 14") as caught:
        parse_filter(text)
    lines = str(caught.value).splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * 14 + "^"


def test_parse_filter_accepts_exactly_max_depth() -> None:
    text = "(" * MAX_DEPTH + "metrics.a > 1" + ")" * MAX_DEPTH
    assert parse_filter(text) == cmp(M, "a", Op.GT, 1.0)


def test_parse_filter_depth_is_nesting_not_count() -> None:
    text = " and ".join(["(metrics.a > 1)"] * (MAX_DEPTH * 3))
    parsed = parse_filter(text)
    assert isinstance(parsed, And)
    assert len(parsed.items) == MAX_DEPTH * 3


def test_parse_filter_refuses_non_strings() -> None:
    with pytest.raises(InvalidInput, match="a filter must be a string, got int"):
        parse_filter(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (ACC, "metrics.acc > 0.8"),
        (cmp(M, "my metric", Op.GT, 1.0), "metrics.`my metric` > 1.0"),
        (cmp(M, "a`b", Op.GT, 1.0), "metrics.`a``b` > 1.0"),
        (cmp(M, "val.loss", Op.LT, -1e-05), "metrics.val.loss < -1e-05"),
        (cmp(P, "p", Op.EQ, "it's"), "params.p = 'it''s'"),
        (cmp(P, "p", Op.IN, ("a", "b")), "params.p in ('a', 'b')"),
        (cmp(P, "p", Op.NOT_IN, ("a",)), "params.p not in ('a')"),
        (cmp(T, "t", Op.IS_NOT_NULL), "tags.t is not null"),
        (cmp(A, "status", Op.EQ, "running"), "attributes.status = 'running'"),
        (
            And((ACC, Or((LOSS, MODEL)))),
            "metrics.acc > 0.8 and (metrics.loss < 1.0 or params.model = 'gbm')",
        ),
        (
            Or((ACC, And((LOSS, MODEL)))),
            "metrics.acc > 0.8 or metrics.loss < 1.0 and params.model = 'gbm'",
        ),
        (Not(And((ACC, LOSS))), "not (metrics.acc > 0.8 and metrics.loss < 1.0)"),
        (Not(Or((ACC, LOSS))), "not (metrics.acc > 0.8 or metrics.loss < 1.0)"),
        (Not(Not(ACC)), "not not metrics.acc > 0.8"),
        (And((Not(ACC), LOSS)), "not metrics.acc > 0.8 and metrics.loss < 1.0"),
        (None, ""),
    ],
)
def test_format_filter_is_canonical(expr: Expr | None, text: str) -> None:
    assert format_filter(expr) == text
    assert parse_filter(text) == expr


def test_and_absorbs_nested_ands() -> None:
    assert And((ACC, And((LOSS, MODEL)))) == And((ACC, LOSS, MODEL))
    assert And((And((ACC, LOSS)), And((MODEL, TEAM)))).items == (ACC, LOSS, MODEL, TEAM)
    assert Or((Or((ACC, LOSS)), MODEL)).items == (ACC, LOSS, MODEL)
    assert And((Or((ACC, LOSS)), MODEL)).items == (Or((ACC, LOSS)), MODEL)


def test_constructors_accept_lists_and_ints() -> None:
    assert And([ACC, LOSS]) == And((ACC, LOSS))  # type: ignore[arg-type]
    assert cmp(M, "n", Op.EQ, 3) == cmp(M, "n", Op.EQ, 3.0)
    assert cmp(P, "p", Op.IN, ["a"]).value == ("a",)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: And((ACC,)), "And needs at least two items, got 1"),
        (lambda: Or(()), "Or needs at least two items, got 0"),
        (lambda: And((ACC, "x")), "And takes expressions, got 'x'"),  # type: ignore[arg-type]
        (lambda: And("ab"), "And takes a sequence of expressions"),  # type: ignore[arg-type]
        (lambda: Not("x"), "Not takes an expression"),  # type: ignore[arg-type]
        (lambda: Field(M, ""), "field key must be a non-empty string"),
        (lambda: Field("metrics", "a"), "field namespace must be a Namespace"),  # type: ignore[arg-type]
        (lambda: Field(A, "color"), "unknown attribute 'color'; valid attributes are end_time"),
        (lambda: Comparison(Field(M, "a"), "=", 1.0), "a comparison needs a Field and an Op"),  # type: ignore[arg-type]
        (lambda: cmp(M, "a", Op.EQ, "x"), "'=' on metrics.a needs a number"),
        (lambda: cmp(M, "a", Op.EQ, float("inf")), "filter numbers must be finite"),
        (lambda: cmp(M, "a", Op.EQ, float("nan")), "filter numbers must be finite"),
        (lambda: cmp(M, "a", Op.EQ, True), "filter values are strings or numbers, got True"),
        (lambda: cmp(M, "a", Op.EQ, None), "filter values are strings or numbers, got None"),
        (lambda: cmp(M, "a", Op.IS_NULL, 1.0), "'is null' takes no value, got 1.0"),
        (lambda: cmp(P, "a", Op.IN, ()), "'in' takes a non-empty tuple of values"),
        (lambda: cmp(P, "a", Op.IN, "ab"), "'in' takes a non-empty tuple of values"),
        (lambda: cmp(A, "status", Op.EQ, "FINISHED"), "'FINISHED' is not a run status"),
        (lambda: cmp(A, "start_time", Op.GT, "2024-01-01"), "needs a number, found the string"),
    ],
)
def test_constructors_refuse_trees_the_grammar_cannot_express(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidInput, match=message):
        build()


def test_every_attribute_and_status_parses() -> None:
    for key in ATTRIBUTE_KEYS:
        order = parse_order_by(key)
        assert order == (OrderKey(Field(A, key)),)
    for status in RUN_STATUSES:
        assert parse_filter(f"status = '{status.upper()}'") == cmp(A, "status", Op.EQ, status)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, ()),
        ("", ()),
        ([], ()),
        ("metrics.m1 DESC", (OrderKey(Field(M, "m1"), descending=True),)),
        ("start_time", (OrderKey(Field(A, "start_time")),)),
        ("params.lr asc", (OrderKey(Field(P, "lr")),)),
        ("attr.end_time Desc", (OrderKey(Field(A, "end_time"), descending=True),)),
        ("tags.`a b` desc", (OrderKey(Field(T, "a b"), descending=True),)),
        (
            ["metrics.m1 DESC", "start_time"],
            (OrderKey(Field(M, "m1"), True), OrderKey(Field(A, "start_time"))),
        ),
        (
            "metrics.m1 desc, params.lr , name asc",
            (OrderKey(Field(M, "m1"), True), OrderKey(Field(P, "lr")), OrderKey(Field(A, "name"))),
        ),
        (("metrics.a",), (OrderKey(Field(M, "a")),)),
    ],
)
def test_parse_order_by(items: list[str] | str | None, expected: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(items) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("attributes.color", "unknown attribute 'color'; valid attributes are end_time"),
        ("color desc", "unknown field 'color'"),
        ("metrics.m1 sideways", "expected 'asc', 'desc', ',' or the end .*, found 'sideways'"),
        ("metrics.m1 desc desc", "expected 'asc', 'desc', ',' or the end"),
        ("metrics.m1,", "expected a field .*, found the end"),
        ("desc", "expected a field .*, found 'desc'"),
        (["metrics.a", ""], "an order-by clause must be a non-empty string, got ''"),
        (["metrics.a", 3], "an order-by clause must be a non-empty string, got 3"),
        (["metrics.a", "metric.a desc"], "order_by names metrics.a more than once"),
        (5, "order_by must be a string or a list of strings, got 5"),
    ],
)
def test_parse_order_by_refuses_bad_clauses(items: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_order_by(items)  # type: ignore[arg-type]


def test_parse_order_by_errors_carry_the_position() -> None:
    with pytest.raises(InvalidFilter, match=re.escape("at position 11")) as caught:
        parse_order_by(["metrics.a", "metrics.m1 sideways"])
    assert caught.value.position == 11
    assert caught.value.text == "metrics.m1 sideways"


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (OrderKey(Field(M, "m1"), descending=True), "metrics.m1 desc"),
        (OrderKey(Field(A, "start_time")), "attributes.start_time asc"),
        (OrderKey(Field(T, "a b")), "tags.`a b` asc"),
    ],
)
def test_format_order_key_round_trips(key: OrderKey, text: str) -> None:
    assert format_order_key(key) == text
    assert parse_order_by(text) == (key,)
