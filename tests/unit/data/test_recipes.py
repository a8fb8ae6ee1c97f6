from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, OneHotEncoder, StandardScaler

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.recipes import (
    AppliedRecipe,
    Cast,
    Clip,
    DropColumns,
    DropDuplicates,
    FilterRows,
    FittedRecipe,
    Impute,
    KeepColumns,
    Recipe,
    Rename,
    SklearnTransform,
    Step,
)


@pytest.fixture
def customers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 1, 2, 3, 4, 5, 6],
            "age": [34, 34, None, 51, 17, 42, None],
            "income": [52.0, 52.0, 61.5, float("nan"), 12.0, 990.0, 47.0],
            "country": ["FR", "FR", None, "DE", "FR", "DE", "NO"],
            "joined": [
                "2024-01-02",
                "2024-01-02",
                "2024-02-10",
                "2023-12-31",
                "x",
                "2024-03-01",
                None,
            ],
            "note": ["a", "a", "b", "c", "d", "e", "f"],
        }
    )


def _apply(frame: pl.DataFrame, *steps: Step) -> AppliedRecipe:
    return Recipe(steps).apply(frame)


# --- each built-in step ------------------------------------------------------------------------


def test_drop_duplicates(customers: pl.DataFrame) -> None:
    assert _apply(customers, DropDuplicates()).frame["id"].to_list() == [1, 2, 3, 4, 5, 6]
    on_country = _apply(customers, DropDuplicates(subset=["country"], keep="last")).frame
    assert on_country["id"].to_list() == [2, 4, 5, 6]
    none_kept = _apply(customers, DropDuplicates(subset=["country"], keep="none")).frame
    assert none_kept["id"].to_list() == [2, 6]


def test_drop_and_keep_columns(customers: pl.DataFrame) -> None:
    dropped = _apply(customers, DropColumns(["note", "joined"]))
    assert dropped.frame.columns == ["id", "age", "income", "country"]
    assert dropped.fitted.steps[0].columns_removed == ("joined", "note")
    kept = _apply(customers, KeepColumns(["country", "id"])).frame
    assert kept.columns == ["country", "id"]


def test_filter_rows_is_sql_and_drops_unknowns(customers: pl.DataFrame) -> None:
    applied = _apply(customers, FilterRows("age >= 18 AND country IN ('FR', 'DE')"))
    assert applied.frame["id"].to_list() == [1, 1, 3, 5]
    fit = applied.fitted.steps[0]
    assert (fit.rows_before, fit.rows_after) == (7, 4)
    assert _apply(customers, FilterRows("note LIKE 'a%' OR age IS NULL")).frame.height == 4


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("age >>> 3", r"field 'expression' 'age >>> 3' is not a valid SQL condition"),
        ("__import__('os').system('true')", "is not a valid SQL condition"),
    ],
)
def test_filter_rows_refuses_what_is_not_sql(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        FilterRows(expression)


def test_filter_rows_on_an_unknown_column_names_it(customers: pl.DataFrame) -> None:
    with pytest.raises(
        InvalidInput,
        match=r"step #2 \(filter_rows: keep rows where agee > 3\): column 'agee' not in the data "
        r"\(columns: id, age, income",
    ):
        Recipe((DropDuplicates(), FilterRows("agee > 3"))).apply(customers)


def test_impute_median_mean_mode_and_constant(customers: pl.DataFrame) -> None:
    applied = _apply(
        customers,
        Impute(["age", "income"], strategy="median"),
        Impute(["country"], strategy="mode"),
        Impute(["joined"], strategy="constant", value="unknown"),
    )
    out = applied.frame
    median_age = 34  # of 34, 34, 51, 17, 42
    assert out["age"].to_list() == [34, 34, median_age, 51, 17, 42, median_age]
    assert out["age"].dtype == pl.Int64  # a whole-number median keeps the column integer
    assert out["income"][3] == 52.0  # NaN is missing too
    assert out["country"].to_list() == ["FR", "FR", "FR", "DE", "FR", "DE", "NO"]
    assert out["joined"][6] == "unknown"
    assert [fit.state for fit in applied.fitted.steps] == [
        {"age": 34, "income": 52.0},
        {"country": "FR"},
        {"joined": "unknown"},
    ]
    mean = _apply(customers, Impute(["age"], strategy="mean")).frame
    assert mean["age"][2] == pytest.approx((34 + 34 + 51 + 17 + 42) / 5)
    assert mean["age"].dtype == pl.Float64


def test_impute_mode_breaks_ties_with_the_smallest_value() -> None:
    frame = pl.DataFrame({"c": ["b", "a", None, "b", "a"]})
    assert _apply(frame, Impute(["c"], strategy="mode")).frame["c"][2] == "a"


def test_impute_dates_by_mode() -> None:
    frame = pl.DataFrame({"d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 1)]})
    applied = _apply(frame, Impute(["d"], strategy="mode"))
    assert applied.frame["d"].to_list() == [dt.date(2024, 1, 1)] * 3
    assert applied.fitted.steps[0].state == {"d": "2024-01-01"}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (Impute(["country"], strategy="median"), r"the median of 'country' \(String\)"),
        (Impute(["age"], value="none"), r"cannot fill column 'age' \(Int64\) with 'none'"),
        (Impute(["empty"], strategy="mean"), "column 'empty' has no value to take the mean of"),
    ],
)
def test_impute_errors(step: Step, message: str) -> None:
    frame = pl.DataFrame(
        {
            "country": ["FR", None],
            "age": [1, None],
            "empty": pl.Series([None, None], dtype=pl.Float64),
        }
    )
    with pytest.raises(InvalidInput, match=r"step #1 \(impute: .*\): " + message):
        Recipe((step,)).apply(frame)


def test_clip(customers: pl.DataFrame) -> None:
    out = _apply(customers, Clip("income", lower=20, upper=100), Clip("age", upper=40.5)).frame
    assert out["income"].to_list()[:3] == [52.0, 52.0, 61.5]
    assert math.isnan(out["income"][3])
    assert out["income"].to_list()[4:] == [20.0, 100.0, 47.0]
    assert out["age"].to_list() == [34.0, 34.0, None, 40.5, 17.0, 40.5, None]
    with pytest.raises(InvalidInput, match="column 'note' is String; clip needs a numeric column"):
        _apply(customers, Clip("note", lower=0))


def test_cast(customers: pl.DataFrame) -> None:
    out = _apply(
        customers, Cast("age", "float"), Cast("id", "UInt8"), Cast("country", "categorical")
    )
    assert out.frame.schema["age"] == pl.Float64
    assert out.frame.schema["id"] == pl.UInt8
    assert out.frame.schema["country"] == pl.Categorical()
    with pytest.raises(
        InvalidInput,
        match=r"step #1 \(cast: cast 'joined' to date\): 1 value\(s\) of 'joined' \(String\) "
        r"do not convert to Date, e.g. \['x'\]",
    ):
        _apply(customers, Cast("joined", "date"))
    with pytest.raises(InvalidInput, match="field 'dtype': unknown type 'integer'"):
        Cast("age", "integer")
    with pytest.raises(InvalidInput, match="that polars type needs parameters"):
        Cast("age", "List")


def test_rename(customers: pl.DataFrame) -> None:
    applied = _apply(customers, Rename({"note": "comment", "id": "customer_id"}))
    assert applied.frame.columns == ["customer_id", "age", "income", "country", "joined", "comment"]
    with pytest.raises(InvalidInput, match="renaming would duplicate column"):
        _apply(customers, Rename({"note": "age"}))
    with pytest.raises(InvalidInput, match=r"column 'nope' not in the data"):
        _apply(customers, Rename({"nope": "x"}))


# --- scikit-learn steps ----------------------------------------------------------------------


def test_a_scaler_replaces_its_columns_in_place(customers: pl.DataFrame) -> None:
    frame = customers.drop_nulls("age")
    applied = _apply(frame, SklearnTransform(StandardScaler(), ["age", "id"]))
    out = applied.frame
    assert out.columns == frame.columns  # same names, same place
    assert out["age"].mean() == pytest.approx(0.0)
    assert out["age"].std(ddof=0) == pytest.approx(1.0)
    fitted = applied.fitted.steps[0].state["estimator"]
    assert fitted.mean_ == pytest.approx([frame["age"].mean(), frame["id"].mean()])


def test_one_hot_writes_named_columns_where_the_input_was(customers: pl.DataFrame) -> None:
    frame = customers.drop_nulls("country")
    encoder = OneHotEncoder(handle_unknown="ignore")
    applied = _apply(frame, SklearnTransform(encoder, ["country"]))
    assert applied.frame.columns == [
        "id",
        "age",
        "income",
        "country_DE",
        "country_FR",
        "country_NO",
        "joined",
        "note",
    ]
    assert applied.frame["country_FR"].to_list() == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    assert not hasattr(encoder, "categories_")  # the given transformer is never fitted itself


def test_output_prefix_keeps_the_inputs(customers: pl.DataFrame) -> None:
    frame = customers.drop_nulls("age")
    step = SklearnTransform(KBinsDiscretizer(n_bins=2, encode="ordinal"), ["age"], "bin_")
    out = _apply(frame, step).frame
    assert out.columns == [*frame.columns, "bin_age"]
    assert out["bin_age"].to_list() == [1.0, 1.0, 1.0, 0.0, 1.0]  # cut at the median, 34


def test_sklearn_errors_name_the_step(customers: pl.DataFrame) -> None:
    with pytest.raises(
        InvalidInput,
        match=r"step #1 \(sklearn: StandardScaler on note\): StandardScaler cannot fit",
    ):
        _apply(customers, SklearnTransform(StandardScaler(), ["note"]))
    with pytest.raises(
        InvalidInput, match=r"output column.* x_age already exist; set output_prefix"
    ):
        _apply(
            customers.with_columns(x_age=pl.lit(1)),
            SklearnTransform(SimpleImputer(), ["age"], output_prefix="x_"),
        )
    with pytest.raises(InvalidInput, match="must be a scikit-learn transformer instance"):
        SklearnTransform(StandardScaler, ["age"])


# --- serialization ----------------------------------------------------------------------------

FULL = Recipe(
    (
        DropDuplicates(subset=["id"]),
        DropColumns(["note"]),
        FilterRows("age IS NULL OR age >= 18"),
        Impute(["age", "income"], strategy="median"),
        Impute(["country"], strategy="constant", value="unknown"),
        Clip("income", lower=0, upper=500),
        Cast("age", "float"),
        KeepColumns(["id", "age", "income", "country"]),
        Rename({"income": "revenue"}),
        SklearnTransform(StandardScaler(with_mean=False), ["age"]),
        SklearnTransform(MinMaxScaler(feature_range=(0, 2)), ["revenue"], output_prefix="mm_"),
        SklearnTransform(OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["country"]),
    )
)


def test_recipe_round_trips_through_yaml_and_json() -> None:
    text = FULL.to_yaml()
    assert "- filter_rows: {expression: age IS NULL OR age >= 18}\n" in text
    assert "transformer: sklearn.preprocessing.StandardScaler\n" in text
    assert "params: {with_mean: false}" in text
    assert Recipe.from_yaml(text) == FULL
    assert Recipe.from_dict(json.loads(json.dumps(FULL.to_dict()))) == FULL
    assert Recipe.from_dict(FULL.to_dict()) != Recipe(FULL.steps[:-1])


def test_hand_written_recipe_yaml() -> None:
    recipe = Recipe.from_yaml(
        """
- drop_duplicates:
- impute: {columns: [age], strategy: mean}
- sklearn:
    transformer: sklearn.preprocessing.MinMaxScaler
    params: {feature_range: [-1, 1]}
    columns: [age]
"""
    )
    assert recipe.steps[0] == DropDuplicates()
    scaler = recipe.steps[2]
    assert isinstance(scaler, SklearnTransform)
    assert scaler.transformer.feature_range == (-1, 1)  # lists become the tuples sklearn wants
    out = recipe.apply(pl.DataFrame({"age": [1.0, None, 3.0]})).frame
    assert out["age"].to_list() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "sklearn.linear_model.LogisticRegression",  # an estimator, not a transformer
        "sklearn.base.clone",  # a function
        "sklearn.utils._testing.os",
        "sklearn.preprocessing.__class__",
        "numpy.ndarray",
        "sklearn..x",
    ],
)
def test_loading_refuses_anything_but_sklearn_transformers(name: str) -> None:
    text = f"- sklearn: {{transformer: '{name}', columns: [a]}}\n"
    with pytest.raises(
        InvalidInput,
        match=r"step #1 \(line 1, sklearn\): .*stored metadata never names arbitrary code",
    ):
        Recipe.from_yaml(text)


def test_storing_refuses_other_code_and_unportable_params() -> None:
    class Mine(StandardScaler):  # type: ignore[misc]
        pass

    with pytest.raises(InvalidInput, match="stored metadata never names arbitrary code"):
        Recipe((SklearnTransform(Mine(), ["a"]),)).to_dict()
    with pytest.raises(
        InvalidInput, match=r"parameter dtype=<class 'numpy\.float32'> cannot be stored"
    ):
        Recipe((SklearnTransform(OneHotEncoder(dtype=np.float32), ["a"]),)).to_yaml()
    nested = ColumnTransformer([("s", StandardScaler(), ["a"])])
    with pytest.raises(InvalidInput, match="cannot be stored"):
        Recipe((SklearnTransform(nested, ["a"]),)).to_dict()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- drop_column: {columns: [a]}\n",
            r"step #1 \(line 1, drop_column\): unknown kind 'drop_column'; valid kinds: "
            r"cast, clip, drop_columns, drop_duplicates, filter_rows, impute, keep_columns, "
            r"rename, sklearn",
        ),
        (
            "- clip: {column: a, lower: 0}\n- clip: {column: a, lowr: 1}\n",
            r"step #2 \(line 2, clip\): unknown field 'lowr'",
        ),
        ("- clip: {column: a}\n", r"step #1 \(line 1, clip\): a clip needs 'lower', 'upper'"),
        (
            "- impute: {columns: [a], strategy: median, value: 3}\n",
            "strategy 'median' learns its value",
        ),
        (
            "- sklearn: {transformer: sklearn.preprocessing.StandardScaler,\n"
            "    params: {with_men: true}, columns: [a]}\n",
            "StandardScaler has no parameter 'with_men'",
        ),
        ("- sklearn: {columns: [a]}\n", "missing field 'transformer'"),
        ("- filter_rows: {expression: 'a ==== 1'}\n", "is not a valid SQL condition"),
        ("- rename: {mapping: {a: c, b: c}}\n", "gives two columns the same name"),
    ],
)
def test_recipe_yaml_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Recipe.from_yaml(text)


# --- replay --------------------------------------------------------------------------------------


@pytest.fixture
def next_month() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [10, 11, 11, 12],
            "age": [None, 70, 70, 15],
            "income": [5000.0, None, None, 30.0],
            "country": ["FR", "IT", "IT", None],
            "joined": ["2024-04-01"] * 4,
            "note": ["z"] * 4,
        }
    )


def test_replay_refits_on_new_data(customers: pl.DataFrame, next_month: pl.DataFrame) -> None:
    first = FULL.apply(customers)
    again = FULL.apply(next_month)
    assert again.frame.columns[:3] == ["id", "age", "revenue"]
    assert again.frame.height == 2  # duplicate id 11 dropped, age 15 filtered out
    medians = next(fit.state for fit in again.fitted.steps if fit.kind == "impute")
    assert medians == {"age": 70, "income": 5000.0}
    assert "country_IT" in again.frame.columns
    assert "country_IT" not in first.frame.columns


def test_replay_with_fitted_statistics_transforms_only(
    customers: pl.DataFrame, next_month: pl.DataFrame
) -> None:
    first = FULL.apply(customers)
    replay = FULL.apply(next_month, fitted=first.fitted)
    assert replay.frame.columns == first.frame.columns  # same one-hot columns as in training
    age_median = first.fitted.steps[3].state["age"]
    scale = first.fitted.steps[9].state["estimator"].scale_[0]
    assert replay.frame["age"][0] == pytest.approx(age_median / scale)
    assert replay.fitted.steps[3].state == first.fitted.steps[3].state
    assert replay.frame["country_FR"].to_list() == [1.0, 0.0]
    assert FULL.apply(next_month, fitted=first).frame.equals(replay.frame)


def test_fitted_statistics_round_trip_through_json(
    customers: pl.DataFrame, next_month: pl.DataFrame
) -> None:
    first = FULL.apply(customers)
    stored = json.dumps(first.fitted.to_dict(), allow_nan=False)
    restored = FittedRecipe.from_dict(json.loads(stored))
    assert restored.recipe == FULL
    assert [fit.rows_after for fit in restored.steps] == [
        fit.rows_after for fit in first.fitted.steps
    ]
    expected = FULL.apply(next_month, fitted=first.fitted).frame
    assert FULL.apply(next_month, fitted=restored).frame.equals(expected)
    assert FULL.apply(customers, fitted=restored).frame.equals(first.frame)


def test_fitted_statistics_of_another_recipe_are_refused(customers: pl.DataFrame) -> None:
    first = FULL.apply(customers)
    with pytest.raises(InvalidInput, match="the fitted statistics come from another recipe"):
        Recipe(FULL.steps[:-1]).apply(customers, fitted=first.fitted)


def test_refused_class_in_stored_fitted_state(customers: pl.DataFrame) -> None:
    data = FULL.apply(customers).fitted.to_dict()
    data["steps"][9]["state"]["transformer"] = "subprocess.Popen"
    with pytest.raises(InvalidInput, match="never names arbitrary code"):
        FittedRecipe.from_dict(data)


def test_step_counts_per_step(customers: pl.DataFrame) -> None:
    fits = FULL.apply(customers).fitted.steps
    assert [(fit.kind, fit.rows_before, fit.rows_after) for fit in fits[:3]] == [
        ("drop_duplicates", 7, 6),
        ("drop_columns", 6, 6),
        ("filter_rows", 6, 5),
    ]
    assert fits[1].columns_before == 6
    assert fits[1].columns_after == 5
    assert fits[-1].columns_added == ("country_DE", "country_FR", "country_NO", "country_unknown")
