from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.rules import (
    AllowedValues,
    ColumnType,
    NotNull,
    Range,
    Regex,
    RowCount,
    Rule,
    RuleSet,
    SchemaContract,
    Unique,
    ValidationReport,
    check_rules_against_columns,
    suggest_rules,
    validate_frame,
)


@pytest.fixture
def people() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5, 6, 7, 8],
            "age": [25, 31, None, 47, 150, 19, 33, -2],
            "country": ["FR", "DE", "FR", "NO", "FR", "XX", "DE", None],
            "email": ["a@x.io", "b@x.io", "nope", "c@x.io", None, "d@x.io", "e@", "f@x.io"],
            "score": [0.5, float("nan"), 0.25, 0.75, None, 1.0, 0.0, 0.5],
            "signup": [dt.date(2024, 1, d) for d in range(1, 9)],
        }
    )


def _one(frame: pl.DataFrame, rule: Rule):  # type: ignore[no-untyped-def]
    (result,) = validate_frame(frame, [rule]).results
    return result


# --- each rule, passing and failing, with exact counts and examples -----------------------------


@pytest.mark.parametrize(
    ("rule", "failing_rows"),
    [
        (NotNull("age"), [2]),
        (NotNull("score"), [1, 4]),  # NaN in a float column counts as missing
        (NotNull("user_id"), []),
        (Range("age", min=0, max=120), [4, 7]),
        (Range("age", min=0), [7]),
        (Range("age", max=47), [4]),
        (Range("age", min=19, max=47, inclusive=False), [3, 4, 5, 7]),
        (Range("score", min=0.1, max=0.9), [5, 6]),  # NaN and null are ignored
        (Range("signup", min="2024-01-03", max=dt.date(2024, 1, 7)), [0, 1, 7]),
        (Range("country", min="DE", max="FR"), [3, 5]),
        (AllowedValues("country", ["FR", "DE", "NO"]), [5]),
        (AllowedValues("age", [25, 31, 47, 19, 33]), [4, 7]),
        (AllowedValues("signup", ["2024-01-01", dt.date(2024, 1, 2)]), [2, 3, 4, 5, 6, 7]),
        (Regex("email", r"^[^@]+@[^@]+\.[a-z]+$"), [2, 6]),
        (Regex("email", "@"), [2]),
        (Unique(["user_id"]), []),
        (Unique("country"), [0, 1, 2, 4, 6]),
        (Unique(["country", "signup"]), []),
    ],
)
def test_row_rules_count_and_show_the_failing_rows(
    people: pl.DataFrame, rule: Rule, failing_rows: list[int]
) -> None:
    result = _one(people, rule)
    assert result.passed is (not failing_rows)
    assert result.failing_count == len(failing_rows)
    assert list(result.example_rows) == failing_rows
    expected = people.with_row_index("row").filter(pl.col("row").is_in(failing_rows))
    assert [example["user_id"] for example in result.examples] == expected["user_id"].to_list()
    assert all(set(example) == set(people.columns) for example in result.examples)


def test_examples_are_capped_at_twenty_and_json_safe() -> None:
    frame = pl.DataFrame(
        {
            "x": [float("nan")] * 5 + [None] * 25 + [1.0],
            "when": [dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)] * 31,
            "gap": [dt.timedelta(hours=1)] * 31,
        }
    )
    result = _one(frame, NotNull("x"))
    assert result.failing_count == 30
    assert len(result.examples) == 20
    assert list(result.example_rows) == list(range(20))
    assert result.examples[0] == {"x": "nan", "when": "2024-05-01T12:30:00+00:00", "gap": "1:00:00"}
    json.dumps(result.to_dict(), allow_nan=False)


def test_not_null_allows_a_fraction(people: pl.DataFrame) -> None:
    allowed = _one(people, NotNull("score", max_fraction=0.25))
    assert allowed.passed
    assert allowed.failing_count == 2
    assert "2 of 8 values are missing (25.00%" in allowed.message
    refused = _one(people, NotNull("score", max_fraction=0.2))
    assert not refused.passed
    assert refused.failing_count == 2


@pytest.mark.parametrize(
    ("dtype", "column", "passed"),
    [
        ("int", "age", True),
        ("number", "age", True),
        ("Int64", "age", True),
        ("Int32", "age", False),
        ("float", "age", False),
        ("float", "score", True),
        ("string", "country", True),
        ("date", "signup", True),
        ("datetime", "signup", False),
        ("Date", "signup", True),
    ],
)
def test_column_type(people: pl.DataFrame, dtype: str, column: str, passed: bool) -> None:
    result = _one(people, ColumnType(column, dtype))
    assert result.passed is passed
    assert result.failing_count == (0 if passed else None)
    if not passed:
        assert f"expected {dtype}" in result.message


def test_column_type_categorical_and_datetime_families() -> None:
    frame = pl.DataFrame(
        {
            "c": pl.Series(["a", "b"], dtype=pl.Categorical),
            "t": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 2,
        }
    )
    assert validate_frame(
        frame, [ColumnType("c", "categorical"), ColumnType("t", "datetime")]
    ).passed
    assert _one(frame, ColumnType("t", "Datetime(time_unit='us', time_zone='UTC')")).passed
    assert not _one(frame, ColumnType("t", "Datetime(time_unit='ms', time_zone='UTC')")).passed


def test_row_count(people: pl.DataFrame) -> None:
    assert _one(people, RowCount(min=8, max=8)).passed
    failed = _one(people, RowCount(min=10))
    assert not failed.passed
    assert failed.failing_count is None
    assert failed.message == "the data has 8 rows; expected: the data has at least 10 rows"
    assert not _one(people, RowCount(max=7)).passed


def test_schema_contract_reports_missing_and_unexpected(people: pl.DataFrame) -> None:
    assert _one(people, SchemaContract(people.columns)).passed
    assert _one(people, SchemaContract(["age", "email"], allow_extra=True)).passed
    failed = _one(people, SchemaContract(["user_id", "age", "country", "email", "phone"]))
    assert not failed.passed
    assert failed.failing_count is None
    assert failed.message == "missing columns: phone; unexpected columns: score, signup"


def test_range_on_aware_datetimes_converts_time_zones() -> None:
    frame = pl.DataFrame({"t": [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in range(4)]})
    result = _one(frame, Range("t", min="2024-01-01T03:00:00+02:00"))  # 01:00 UTC
    assert result.failing_count == 1
    assert result.examples[0]["t"] == "2024-01-01T00:00:00+00:00"


# --- rules that cannot run ------------------------------------------------------------------------


def test_a_rule_on_a_missing_column_fails_alone(people: pl.DataFrame) -> None:
    report = validate_frame(people, [NotNull("agee"), NotNull("user_id")])
    missing, present = report.results
    assert not missing.passed
    assert missing.failing_count is None
    assert missing.message.startswith("column 'agee' is not in the data (columns: user_id, age,")
    assert present.passed
    assert not report.passed
    assert report.failed == (missing,)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (Range("age", min="10"), "bound '10' is text but column 'age' is Int64"),
        (Range("signup", min="yesterday"), "'yesterday' is not an ISO date"),
        (AllowedValues("country", [True, False]), "quote words such as 'yes', 'no'"),
        (AllowedValues("age", ["25"]), "values include text but column 'age' is Int64"),
        (Regex("age", "1"), "a pattern needs a text column; 'age' is Int64"),
    ],
)
def test_a_rule_that_does_not_fit_the_column_type_says_why(
    people: pl.DataFrame, rule: Rule, message: str
) -> None:
    result = _one(people, rule)
    assert not result.passed
    assert result.failing_count is None
    assert message in result.message


def test_check_rules_against_columns_names_typos(people: pl.DataFrame) -> None:
    check_rules_against_columns(suggest_rules(people), people.columns)
    rules = RuleSet((NotNull("age"), Range("agee", min=0), Unique(["user_id", "countri"])))
    with pytest.raises(
        InvalidInput,
        match=r"rule #2 \(range\) names column 'agee' \(did you mean 'age'\?\); "
        r"rule #3 \(unique\) names column 'countri' \(did you mean 'country'\?\): "
        r"not in the data, whose columns are user_id, age",
    ):
        check_rules_against_columns(rules, people.columns)


# --- construction errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Regex("e", "(a"), r"not a valid regular expression: missing \), unterminated"),
        (lambda: Regex("e", r"(?<=a)b"), "look-around.* is not supported"),
        (lambda: NotNull("a", max_fraction=1.5), "between 0 and 1"),
        (lambda: Range("a"), "needs 'min', 'max' or both"),
        (lambda: Range("a", min=5, max=1), "'min' 5 is greater than 'max' 1"),
        (lambda: Range("a", min=True), "must be a finite number"),
        (lambda: AllowedValues("a", []), "at least one value"),
        (lambda: AllowedValues("a", "abc"), "must be a list"),
        (lambda: AllowedValues("a", [None]), "holds null"),  # type: ignore[list-item]
        (lambda: Unique([]), "at least one column"),
        (lambda: Unique(["a", "a"]), "names 'a' more than once"),
        (lambda: RowCount(min=-1), "whole number >= 0"),
        (lambda: RowCount(), "needs 'min', 'max' or both"),
        (lambda: ColumnType("a", "integer"), "unknown type 'integer'; use one of int, float"),
        (lambda: NotNull(""), "non-empty string"),
    ],
)
def test_bad_rules_are_refused_at_construction(build: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build()  # type: ignore[operator]


# --- YAML and dict forms -------------------------------------------------------------------------

ALL_KINDS = RuleSet(
    (
        SchemaContract(["id", "age", "country"], allow_extra=True),
        RowCount(min=1, max=10),
        ColumnType("age", "int"),
        NotNull("age", max_fraction=0.05),
        Range("age", min=0, max=120.5, inclusive=False),
        Range("signup", min=dt.date(2024, 1, 1)),
        AllowedValues("country", ["FR", "NO", "yes", "1", 2]),
        Regex("email", r"^[^@]+@[^@]+$"),
        Unique(["id", "country"]),
    )
)


def test_yaml_is_readable_and_round_trips() -> None:
    text = ALL_KINDS.to_yaml()
    assert "- not_null: {column: age, max_fraction: 0.05}\n" in text
    assert "- range: {column: signup, min: '2024-01-01'}\n" in text
    assert "values: [FR, 'NO', 'yes', '1', 2]" in text
    assert RuleSet.from_yaml(text) == ALL_KINDS
    assert RuleSet.from_dict(json.loads(json.dumps(ALL_KINDS.to_dict()))) == ALL_KINDS


def test_hand_written_yaml_in_both_entry_styles() -> None:
    text = """
# rules for the people table
- not_null: {column: age}
- kind: unique
  columns: user_id
- range:
    column: signup
    min: 2024-01-03
- drop_me_not: null
"""
    with pytest.raises(InvalidInput, match=r"rule #4 \(line 9, drop_me_not\): unknown kind"):
        RuleSet.from_yaml(text)
    rules = RuleSet.from_yaml(text.rsplit("- drop_me_not", 1)[0])
    assert rules.rules == (NotNull("age"), Unique(("user_id",)), Range("signup", min="2024-01-03"))
    assert RuleSet.from_yaml("") == RuleSet()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- not_null: {column: age\n", r"does not parse at line 2, column 1"),
        (
            "- not_nul: {column: age}\n",
            r"rule #1 \(line 1, not_nul\): unknown kind 'not_nul'; valid kinds: "
            r"allowed_values, column_type, not_null, range, regex, row_count, schema, unique",
        ),
        (
            "- not_null: {column: a}\n- range: {colum: age, min: 0}\n",
            r"rule #2 \(line 2, range\): unknown field 'colum'; "
            r"valid fields: column, min, max, inclusive",
        ),
        ("- regex: {column: a}\n", r"rule #1 \(line 1, regex\): missing field 'pattern'"),
        (
            "- not_null: {column: a, max_fraction: lots}\n",
            r"field 'max_fraction' must be a finite number, got 'lots'",
        ),
        ("- not_null: age\n", r"rule #1 \(line 1, not_null\): fields must be a mapping"),
        ("- [not_null, age]\n", r"rule #1 \(line 1\): expected a one-key mapping"),
        ("not_null: {column: age}\n", r"must be a list of one-key mappings"),
        ("- !!python/object:os.system {}\n", r"does not parse"),
    ],
)
def test_yaml_errors_name_the_line_rule_and_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        RuleSet.from_yaml(text)


def test_dict_form_errors_name_the_rule() -> None:
    with pytest.raises(InvalidInput, match=r"rule #2 \(range\): 'min' 3 is greater than 'max' 1"):
        RuleSet.from_dict(
            {
                "rules": [
                    {"kind": "schema", "columns": []},
                    {"kind": "range", "column": "a", "min": 3, "max": 1},
                ]
            }
        )
    with pytest.raises(InvalidInput, match="a mapping with a 'rules' list"):
        RuleSet.from_dict([])  # type: ignore[arg-type]


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)
_numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
_values = st.lists(st.text(min_size=0, max_size=8) | st.integers() | st.booleans(), min_size=1)


@st.composite
def _ranges(draw: st.DrawFn) -> Range:
    low, high = sorted([draw(_numbers), draw(_numbers)])
    return Range(draw(_names), min=low, max=high, inclusive=draw(st.booleans()))


_rules = st.one_of(
    st.builds(ColumnType, _names, st.sampled_from(["int", "string", "Float32", "date"])),
    st.builds(NotNull, _names, st.floats(0, 1)),
    _ranges(),
    st.builds(AllowedValues, _names, _values),
    st.builds(Regex, _names, st.sampled_from([r"^\d+$", "[a-z]+", "x|y", "é.*"])),
    st.builds(Unique, st.lists(_names, min_size=1, max_size=3, unique=True)),
    st.builds(RowCount, st.integers(0, 10), st.integers(10, 10**9)),
    st.builds(SchemaContract, st.lists(_names, unique=True), st.booleans()),
)


@given(st.lists(_rules, max_size=8))
def test_any_rule_set_round_trips_through_yaml_and_json(rules: list[Rule]) -> None:
    rule_set = RuleSet(tuple(rules))
    assert RuleSet.from_yaml(rule_set.to_yaml()) == rule_set
    assert RuleSet.from_dict(json.loads(json.dumps(rule_set.to_dict()))) == rule_set


# --- suggestion -----------------------------------------------------------------------------------


def test_suggested_rules_pass_on_their_frame(people: pl.DataFrame) -> None:
    rules = suggest_rules(people)
    assert validate_frame(people, rules).passed
    kinds = {(rule.kind, rule.columns_used) for rule in rules}
    assert ("unique", ("user_id",)) in kinds
    assert ("not_null", ("age",)) not in kinds
    assert ("not_null", ("signup",)) in kinds
    assert ("allowed_values", ("country",)) in kinds
    assert ("allowed_values", ("email",)) not in kinds  # all distinct: not a category
    assert Range("age", min=-2, max=150) in rules.rules
    assert Range("signup", min="2024-01-01", max="2024-01-08") in rules.rules
    assert RowCount(min=4, max=16) in rules.rules
    assert rules.rules[0] == SchemaContract(tuple(people.columns))
    assert RuleSet.from_yaml(rules.to_yaml()) == rules


def test_suggested_rules_catch_a_corrupted_copy(people: pl.DataFrame) -> None:
    rules = suggest_rules(people)
    corrupted = people.with_columns(
        pl.when(pl.col("user_id") == 3).then(2).otherwise(pl.col("user_id")).alias("user_id"),
        pl.col("age") * 10,
        pl.col("country").replace({"NO": "SE"}),
        pl.col("signup").cast(pl.String),
    ).with_columns(extra=pl.lit(1))
    report = validate_frame(corrupted, rules)
    failed = {(r.rule.kind, r.rule.columns_used): r for r in report.failed}
    assert set(failed) == {
        ("schema", (*people.columns,)),
        ("unique", ("user_id",)),
        ("range", ("age",)),
        ("allowed_values", ("country",)),
        ("column_type", ("signup",)),  # its ISO range still holds as text
    }
    assert failed[("unique", ("user_id",))].failing_count == 2
    assert failed[("range", ("age",))].failing_count == 7
    assert failed[("allowed_values", ("country",))].examples[0]["country"] == "SE"
    assert failed[("schema", (*people.columns,))].message == "unexpected columns: extra"


def test_suggest_on_an_empty_frame_and_special_types() -> None:
    empty = pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)})
    assert validate_frame(empty, suggest_rules(empty)).passed
    odd = pl.DataFrame({"l": [[1], [2, 3]], "f": [math.inf, 1.0], "b": [True, False]})
    rules = suggest_rules(odd)
    assert ColumnType("l", "List(Int64)") in rules.rules
    assert not any(isinstance(rule, Range) for rule in rules)  # no finite bound for f
    assert validate_frame(odd, rules).passed


def test_report_round_trips_through_json(people: pl.DataFrame) -> None:
    report = validate_frame(people, (*ALL_KINDS.rules, NotNull("age"), Regex("email", "@")))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is False
    assert data["num_rows"] == 8
    assert ValidationReport.from_dict(data) == report
    with pytest.raises(InvalidInput, match="a 'results' list"):
        ValidationReport.from_dict({"passed": True})


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expected a polars DataFrame, got dict"):
        validate_frame({"a": [1]}, [])  # type: ignore[arg-type]
