"""``modelcycle data ...`` end to end on a real SQLite store and real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from modelcycle.cli.app import app

_ENV: dict[str, str | None] = {
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "MODELCYCLE_URI": None,
    "MODELCYCLE_ARTIFACTS": None,
    "MODELCYCLE_PROJECT": None,
}
RULES = """
- not_null: {column: age}
- range: {column: age, min: 0, max: 120}
- allowed_values: {column: plan, values: [basic, pro]}
"""
RECIPE = """
- drop_duplicates: {}
- impute: {columns: [age], strategy: median}
"""


def _cli(uri: str, *args: str, **env: str | None) -> Result:
    return CliRunner().invoke(app, ["--uri", uri, *args], env={**_ENV, **env})


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _assert_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    assert _cli(uri, "init").exit_code == 0
    return uri


@pytest.fixture
def customers(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "id": range(1, 201),
            "age": [None if i % 20 == 0 else 20 + i % 50 for i in range(200)],
            "plan": ["basic", "pro"] * 100,
            "churned": [i % 3 == 0 for i in range(200)],
        }
    )
    frame = pd.concat([frame, frame.iloc[:4]], ignore_index=True)
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def test_add_list_show_and_the_same_content_again(store: str, customers: Path) -> None:
    added = _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    assert (added["ref"], added["num_rows"], added["created"]) == ("customers@1", 204, True)
    again = _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    assert (again["ref"], again["created"]) == ("customers@1", False)
    listed = _json(_cli(store, "data", "list", "--json"))["datasets"]
    assert [(d["name"], d["latest_version"], d["version_count"]) for d in listed] == [
        ("customers", 1, 1)
    ]
    versions = _json(_cli(store, "data", "list", "customers", "--json"))["versions"]
    assert [v["ref"] for v in versions] == ["customers@1"]
    shown = _cli(store, "data", "show", "customers@latest")
    assert shown.exit_code == 0, shown.output
    assert "customers@1" in shown.stdout
    assert "register from" in shown.stdout
    assert "basic, pro" in shown.stdout  # the categories of 'plan'
    detail = _json(_cli(store, "data", "show", "customers@1", "--json"))
    age = next(c for c in detail["schema"] if c["name"] == "age")
    assert (age["nullable"], age["null_count"]) == (True, 11)  # 10, one row duplicated


def test_projects_keep_their_datasets_apart(store: str, customers: Path) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "-p", "a", "--json"))
    assert _json(_cli(store, "data", "list", "-p", "b", "--json")) == {"datasets": []}
    from_env = _json(_cli(store, "data", "list", "--json", MODELCYCLE_PROJECT="a"))
    assert [d["name"] for d in from_env["datasets"]] == ["customers"]


def test_validate_exits_1_on_a_failed_rule_and_stores_the_result(
    store: str, customers: Path, tmp_path: Path
) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    saved = _cli(store, "data", "rules", "set", "customers", str(rules))
    assert saved.exit_code == 0, saved.output
    assert "revision 1" in saved.stdout
    result = _cli(store, "data", "validate", "customers@1", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = [r for r in report["results"] if not r["passed"]]
    assert [r["failing_count"] for r in failed] == [11]  # age has 11 nulls
    shown = _json(_cli(store, "data", "show", "customers@1", "--json"))
    assert shown["validation"]["passed"] is False
    human = _cli(store, "data", "validate", "customers@1")
    assert human.exit_code == 1
    assert "1 of 3 rules failed" in human.stdout


def test_rules_suggest_save_show_and_a_typo_refused(
    store: str, customers: Path, tmp_path: Path
) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    suggested = _cli(store, "data", "rules", "suggest", "customers@1", "--save")
    assert suggested.exit_code == 0, suggested.output
    assert "allowed_values" in suggested.stdout
    shown = _cli(store, "data", "rules", "show", "customers")
    assert shown.stdout.startswith("# revision 1")
    assert _cli(store, "data", "validate", "customers@1").exit_code == 0
    typo = tmp_path / "typo.yaml"
    typo.write_text("- not_null: {column: agee}\n")
    _assert_error(_cli(store, "data", "rules", "set", "customers", str(typo)), 2, "agee", "age")


def test_profile_writes_a_self_contained_report_and_is_stored(
    store: str, customers: Path, tmp_path: Path
) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    report = tmp_path / "profile.html"
    result = _cli(store, "data", "profile", "customers@1", "-o", str(report))
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert "<script src=" not in html.replace('<script src="data:', "")
    assert "customers@1" in html
    data = _json(_cli(store, "data", "profile", "customers@1", "--json"))
    assert (data["total_rows"], data["overview"]["columns"]) == (204, 4)
    assert data["duplicates"]["count"] == 4


def test_clean_then_split_make_versions_with_lineage(
    store: str, customers: Path, tmp_path: Path
) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    cleaned = _json(
        _cli(store, "data", "clean", "customers@1", str(recipe), "--save-as", "tidy", "--json")
    )
    assert (cleaned["ref"], cleaned["num_rows"]) == ("customers-clean@1", 200)
    assert cleaned["lineage"]["parents"] == ["customers@1"]
    assert cleaned["lineage"]["recipe"]["name"] == "tidy@1"
    assert next(c for c in cleaned["schema"] if c["name"] == "age")["null_count"] == 0
    replayed = _json(_cli(store, "data", "clean", "customers@1", "tidy", "--json"))
    assert replayed["ref"] == "customers-clean@1"  # same recipe, same data: same version
    parts = _json(
        _cli(
            store,
            "data",
            "split",
            "customers-clean@1",
            "--part",
            "train=0.75",
            "--part",
            "test=0.25",
            "--method",
            "stratified",
            "--column",
            "churned",
            "--json",
        )
    )
    assert {k: v["num_rows"] for k, v in parts.items()} == {"train": 150, "test": 50}
    assert parts["train"]["lineage"]["details"]["method"] == "stratified"
    children = _json(_cli(store, "data", "show", "customers-clean@1", "--json"))["children"]
    assert sorted(children) == ["customers-clean-test@1", "customers-clean-train@1"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["data", "show", "nothing@1"], 1, "no dataset named 'nothing'"),
        (["data", "show", "customers@9"], 1, "has no version 9"),
        (["data", "show", "customers@prod"], 2, "not aliases"),
        (["data", "add", "x", "missing.csv"], 1, "no file at"),
        (["data", "add", "x", "sqlite:///nowhere.db"], 2, "exactly one of query"),
        (["data", "split", "customers@1", "--part", "train"], 2, "NAME=FRACTION"),
        (["data", "add", "x", "customers.csv", "--dtype", "age"], 2, "COLUMN=VALUE"),
        (["data", "validate", "customers@1"], 2, "has no rules yet"),
        (["data", "clean", "customers@1", "no-such-recipe"], 1, "no recipe 'no-such-recipe'"),
    ],
)
def test_bad_input_is_one_error_line(
    store: str, customers: Path, args: list[str], code: int, fragment: str
) -> None:
    _json(_cli(store, "data", "add", "customers", str(customers), "--json"))
    args = [str(customers) if a == "customers.csv" else a for a in args]
    _assert_error(_cli(store, *args), code, fragment)


def test_a_malformed_csv_names_the_line_and_registers_nothing(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4\n5\n")
    _assert_error(_cli(store, "data", "add", "bad", str(bad)), 2, "line 4")
    assert _json(_cli(store, "data", "list", "--json")) == {"datasets": []}


def test_the_real_command_exits_2_without_a_traceback(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n5\n")
    done = subprocess.run(
        [sys.executable, "-m", "modelcycle", "--uri", store, "data", "add", "bad", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
