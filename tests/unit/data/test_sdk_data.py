"""``mc.data``: rules, validation, profiles, cleaning, splits and lineage through the SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.core.entities.dataset import Operation
from modelcycle.sdk import session
from modelcycle.services.data.recipes import Impute, Recipe
from modelcycle.services.data.rules import NotNull, RuleSet

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def store(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "store"
    mc.configure(uri=str(folder))
    mc.set_project("churn", task="classification", target="churned", metric="roc_auc", goal=0.8)
    yield folder
    session.configure()


def _frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows).astype(float)
    age[::25] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": age,
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "churned": rng.random(rows) < 0.3,
        }
    )


def test_rules_are_kept_in_revisions_and_results_are_stored() -> None:
    version = mc.data.register("customers", _frame())
    suggested = mc.data.suggest_rules(version)
    assert mc.data.validate(version, suggested).passed
    assert mc.data.set_rules("customers", "- not_null: {column: age}\n") == 1
    assert mc.data.set_rules("customers", RuleSet((NotNull("age", max_fraction=0.1),))) == 2
    saved = mc.data.get_rules("customers")
    assert saved is not None
    assert saved.rules == (NotNull("age", max_fraction=0.1),)
    report = mc.data.validate("customers@1")
    assert report.passed  # 12 of 300 missing is under 10%
    strict = mc.data.validate("customers@1", "- not_null: {column: age}\n")
    assert not strict.passed
    assert strict.results[0].failing_count == 12
    assert len(strict.results[0].examples) == 12
    stored = session.get_session().data.metadata.datasets.latest_validation(version.id)
    assert stored is not None
    assert stored["passed"] is False
    assert stored["results"][0]["failing_count"] == 12


def test_a_rule_on_a_missing_column_is_refused_when_saved() -> None:
    mc.data.register("customers", _frame())
    with pytest.raises(mc.InvalidInput, match=r"'agee'.*did you mean 'age'"):
        mc.data.set_rules("customers", "- not_null: {column: agee}\n")
    assert mc.data.get_rules("customers") is None


def test_validate_without_rules_says_how_to_get_some() -> None:
    mc.data.register("customers", _frame())
    with pytest.raises(mc.InvalidInput, match="has no rules yet"):
        mc.data.validate("customers@1")


def test_a_profile_is_stored_once_and_uses_the_project_target() -> None:
    version = mc.data.register("customers", _frame())
    first = mc.data.profile(version)
    assert first.target == "churned"  # from the problem card
    again = mc.data.profile("customers@latest")
    assert again.generated_at == first.generated_at  # read back, not recomputed
    fresh = mc.data.profile(version, recompute=True)
    assert fresh.total_rows == 300
    sampled = mc.data.profile(version, max_rows=100)
    assert (sampled.sampled_rows, sampled.total_rows) == (100, 300)
    with pytest.raises(mc.InvalidInput, match="target 'nope'"):
        mc.data.profile(version, target="nope")


def test_clean_records_the_recipe_and_replays_by_name() -> None:
    raw = mc.data.register("customers", _frame())
    recipe = Recipe((Impute(("age",), strategy="median"),))
    cleaned = mc.data.clean(raw, recipe, save_as="fill-age")
    assert cleaned.ref == "customers-clean@1"
    assert cleaned.schema["age"].null_count == 0
    assert cleaned.lineage.operation is Operation.CLEAN
    assert cleaned.lineage.parents == ("customers@1",)
    assert cleaned.lineage.recipe is not None
    assert cleaned.lineage.recipe["name"] == "fill-age@1"
    median = float(np.nanmedian(_frame()["age"]))
    assert repr(median) in str(cleaned.lineage.recipe["fitted"])
    next_month = mc.data.register("customers", _frame(seed=1))
    replayed = mc.data.clean(next_month, "fill-age")
    assert replayed.ref == "customers-clean@2"
    assert replayed.lineage.parents == ("customers@2",)
    assert replayed.load()["age"].isna().sum() == 0


def test_split_parts_trace_back_to_the_parent_and_the_run() -> None:
    raw = mc.data.register("customers", _frame())
    with mc.start_run(name="prep") as run:
        parts = mc.data.split(
            raw, {"train": 0.6, "valid": 0.2, "test": 0.2}, method="stratified", column="churned"
        )
        mc.log_input(parts["train"], role="train")
    assert [v.ref for v in parts.values()] == [
        "customers-train@1",
        "customers-valid@1",
        "customers-test@1",
    ]
    assert sum(v.num_rows for v in parts.values()) == 300
    for version in parts.values():
        assert version.lineage.run_id == run.id
        assert version.lineage.parents == ("customers@1",)
    ids = set(pd.concat([v.load() for v in parts.values()])["id"])
    assert ids == set(range(300))
    stored = mc.get_run(run.id)
    assert [(i.dataset_version_id, i.role) for i in stored.inputs] == [(parts["train"].id, "train")]
    children = session.get_session().data.children(raw)
    assert sorted(c.ref for c in children) == sorted(v.ref for v in parts.values())


def test_load_outputs_and_a_version_from_elsewhere() -> None:
    version = mc.data.register("customers", _frame())
    assert mc.data.load("customers@1", "arrow").num_rows == 300
    polars_frame = mc.data.load(version, "polars", columns=("id", "plan"))
    assert polars_frame.columns == ["id", "plan"]
    assert [v.ref for v in mc.data.versions("customers")] == ["customers@1"]
    assert [d.name for d in mc.data.list_datasets()] == ["customers"]
    with pytest.raises(mc.InvalidInput, match="output must be one of"):
        version.load("excel")


def test_a_failed_registration_in_a_new_project_leaves_no_project(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    session.get_session().project = "fresh"  # as the CLI's --project does: no row yet
    with pytest.raises(mc.InvalidInput, match="line 3"):
        mc.data.register("bad", bad)
    names = [p.name for p in session.get_session().tracking.list_projects()]
    assert "fresh" not in names
