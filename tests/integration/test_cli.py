"""The ``modelcycle`` command line, end to end on a real SQLite store.

Runs are logged through the real SDK; commands run in-process through Typer's ``CliRunner``
and, for the exit-code and no-traceback guarantees, in a real ``python -m modelcycle``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli.app import app
from modelcycle.sdk.session import get_session
from modelcycle.store.metadata.schema import HEAD_REVISION

if TYPE_CHECKING:
    from pathlib import Path

    from typer.testing import Result

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
_ENV: dict[str, str | None] = {
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "MODELCYCLE_URI": None,
    "MODELCYCLE_ARTIFACTS": None,
}


@dataclass(frozen=True)
class Store:
    """A populated store and the ids of what the SDK logged to it."""

    uri: str
    fast: str  # churn, finished, lr=0.1
    slow: str  # churn, finished, lr=0.2, one artifact
    failed: str  # churn, failed with "diverged"
    other: str  # fraud, finished
    artifact: mc.Run  # the slow run as the SDK reads it


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("cli")
    uri = str(root / "store")
    mc.configure(uri=uri)
    mc.set_project(
        "churn",
        task="classification",
        target="churned",
        metric="roc_auc",
        goal=0.85,
        owners=["ana", "bo"],
        description="who leaves next month",
    )
    notes = root / "notes.txt"
    notes.write_text("hello\n")
    ids = []
    for lr in (0.1, 0.2):
        with mc.start_run(name=f"gbm-{lr}", tags={"team": "risk"}) as run:
            mc.log_params({"lr": lr, "model": "gbm"})
            for step in range(3):
                mc.log_metric("roc_auc", 0.8 + lr / 10 + step / 100)
            mc.log_metric("loss", 0.25)
            if lr == 0.2:
                mc.log_artifact(notes)
        ids.append(run.id)
    with pytest.raises(RuntimeError, match="diverged"), mc.start_run(name="broken") as broken:
        raise RuntimeError("diverged")
    mc.set_project("fraud")
    with mc.start_run(name="iforest") as other:
        mc.log_metric("roc_auc", 0.7)
    return Store(uri, ids[0], ids[1], broken.id, other.id, mc.get_run(ids[1]))


@pytest.fixture
def store(populated: Store) -> Store:
    """The populated store, with the SDK (process-global) pointed at it for this test."""
    mc.configure(uri=populated.uri)
    return populated


def _cli(*args: str, uri: str | None = None, **env: str | None) -> Result:
    argv = (["--uri", uri] if uri is not None else []) + list(args)
    return CliRunner().invoke(app, argv, env={**_ENV, **env})


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def _assert_error(result: Result, exit_code: int, *fragments: str) -> list[str]:
    """One ``error:`` line first on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr
    return lines


# -- version, init --------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = _cli("version")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"modelcycle {mc.__version__} ")


def test_init_creates_the_store_once_then_finds_it(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    first = _cli("init", uri=str(folder))
    assert first.exit_code == 0, first.output
    assert "Created a ModelCycle store" in first.stdout
    assert HEAD_REVISION in first.stdout
    assert (folder / "modelcycle.db").is_file()
    assert (folder / "artifacts").is_dir()
    again = _cli("init", uri=str(folder))
    assert again.exit_code == 0, again.output
    assert "Found the existing ModelCycle store" in again.stdout


def test_init_honours_artifacts_and_the_environment(tmp_path: Path) -> None:
    folder, blobs = tmp_path / "meta", tmp_path / "blobs"
    result = _cli("--artifacts", str(blobs), "init", MODELCYCLE_URI=str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / "modelcycle.db").is_file()
    assert blobs.is_dir()
    assert str(blobs) in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("projects", "list"),
        ("projects", "show", "churn"),
        ("runs", "list"),
        ("runs", "show", UNKNOWN_ID),
        ("runs", "compare", UNKNOWN_ID, "f" * 32),
        ("db", "current"),
        ("db", "upgrade"),
    ],
)
def test_reading_commands_refuse_a_missing_store(tmp_path: Path, args: tuple[str, ...]) -> None:
    folder = tmp_path / "nothing"
    lines = _assert_error(_cli(*args, uri=str(folder)), 1, f"no ModelCycle store at {folder}")
    assert lines[1] == f"hint: create one with `modelcycle --uri {folder} init`"
    assert not folder.exists()


# -- projects -------------------------------------------------------------------------------------


def test_projects_list_json_holds_the_problem_cards(store: Store) -> None:
    data = _json(_cli("projects", "list", "--json", uri=store.uri))
    by_name = {p["name"]: p for p in data["projects"]}
    assert sorted(by_name) == ["churn", "fraud"]
    churn = by_name["churn"]
    assert churn["task"] == "classification"
    assert churn["target"] == "churned"
    assert churn["metric"] == "roc_auc"
    assert churn["direction"] == "maximize"
    assert churn["goal"] == 0.85
    assert churn["owners"] == ["ana", "bo"]
    assert churn["created_at"] == mc.get_project("churn").created_at
    assert churn["created_at_iso"].startswith("20")
    assert by_name["fraud"]["metric"] is None


def test_projects_list_table(store: Store) -> None:
    result = _cli("projects", "list", uri=store.uri)
    assert result.exit_code == 0, result.output
    assert "roc_auc (maximize)" in result.stdout
    assert "ana, bo" in result.stdout
    assert "fraud" in result.stdout


def test_projects_show(store: Store) -> None:
    data = _json(_cli("projects", "show", "churn", "--json", uri=store.uri))
    assert data["description"] == "who leaves next month"
    assert data["goal"] == 0.85
    human = _cli("projects", "show", "churn", uri=store.uri)
    assert "Project churn" in human.stdout
    assert "who leaves next month" in human.stdout


def test_projects_show_unknown_names_it(store: Store) -> None:
    lines = _assert_error(_cli("projects", "show", "nope", uri=store.uri), 1, "'nope'")
    assert lines[1] == "hint: list the projects with `modelcycle projects list`"


# -- runs list ------------------------------------------------------------------------------------


def test_runs_list_json_matches_the_sdk(store: Store) -> None:
    data = _json(_cli("runs", "list", "--json", uri=store.uri))
    expected = mc.search_runs(project="*")
    assert [r["id"] for r in data["runs"]] == [r.id for r in expected]
    assert data["next_page_token"] is None
    by_id = {r["id"]: r for r in data["runs"]}
    slow = by_id[store.slow]
    sdk = mc.get_run(store.slow)
    assert slow["params"] == {"lr": "0.2", "model": "gbm"}
    assert slow["metrics"] == dict(sdk.metrics)
    assert slow["metrics"]["roc_auc"] == pytest.approx(0.84)
    assert slow["tags"]["team"] == "risk"
    assert slow["status"] == "finished"
    assert slow["start_time"] == sdk.start_time
    assert slow["duration_ms"] == sdk.duration_ms
    assert by_id[store.failed]["status"] == "failed"
    assert by_id[store.other]["project"] == "fraud"


def test_runs_list_filters_orders_and_pages(store: Store) -> None:
    args = ("runs", "list", "--project", "churn", "--filter", "params.lr > 0")
    order = ("--order-by", "metrics.roc_auc desc", "--limit", "1", "--json")
    first = _json(_cli(*args, *order, uri=store.uri))
    assert [r["id"] for r in first["runs"]] == [store.slow]
    token = first["next_page_token"]
    assert token
    second = _json(_cli(*args, *order, "--page-token", token, uri=store.uri))
    assert [r["id"] for r in second["runs"]] == [store.fast]
    assert second["next_page_token"] is None


def test_runs_list_table_puts_the_named_keys_first(store: Store) -> None:
    args = ("--filter", "tags.team = 'risk'", "--order-by", "params.lr", "--limit", "1")
    result = _cli("runs", "list", *args, uri=store.uri)
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[1]
    assert header.index("params.lr") < header.index("tags.team") < header.index("metrics.")
    assert store.fast in result.stdout
    assert "next page: --page-token " in result.stdout


def test_runs_list_reads_the_uri_from_the_environment(store: Store) -> None:
    data = _json(_cli("runs", "list", "--project", "fraud", "--json", MODELCYCLE_URI=store.uri))
    assert [r["id"] for r in data["runs"]] == [store.other]


# -- runs show ------------------------------------------------------------------------------------


def test_runs_show_json_has_everything(store: Store) -> None:
    data = _json(_cli("runs", "show", store.slow, "--json", uri=store.uri))
    sdk = store.artifact
    assert data["id"] == store.slow
    assert data["name"] == "gbm-0.2"
    assert data["project"] == "churn"
    assert data["end_time"] == sdk.end_time
    assert data["params"] == dict(sdk.params)
    assert data["metric_summary"]["roc_auc"] == {
        "latest": sdk.metrics["roc_auc"],
        "points": 3,
        "last_step": 2,
    }
    assert data["metric_summary"]["loss"]["points"] == 1
    [artifact] = data["artifacts"]
    [logged] = sdk.artifacts
    assert artifact == {"path": "notes.txt", "digest": logged.digest, "size": 6}
    environment = get_session().tracking.get_environment(sdk.environment_digest or "")
    assert data["environment"]["num_packages"] == len(environment.packages)
    assert data["environment"]["python_version"] == environment.python_version
    assert "packages" not in data["environment"]
    assert data["code"]["entry_point"] == sdk.code.entry_point
    full = _json(_cli("runs", "show", store.slow, "--json", "--packages", uri=store.uri))
    assert full["environment"]["packages"] == list(environment.packages)


def test_runs_show_table(store: Store) -> None:
    result = _cli("runs", "show", store.slow, uri=store.uri)
    assert result.exit_code == 0, result.output
    for text in (f"Run {store.slow}", "Code", "Environment", "Params", "Metrics", "notes.txt"):
        assert text in result.stdout
    assert store.artifact.artifacts[0].digest[:12] in result.stdout
    assert "(--packages lists them)" in result.stdout
    packages = _cli("runs", "show", store.slow, "--packages", uri=store.uri)
    assert any(line.startswith("typer==") for line in packages.stdout.splitlines())


def test_runs_show_prints_the_error_of_a_failed_run(store: Store) -> None:
    result = _cli("runs", "show", store.failed, uri=store.uri)
    assert result.exit_code == 0, result.output
    assert "failed" in result.stdout
    assert "RuntimeError: diverged" in result.stdout
    data = _json(_cli("runs", "show", store.failed, "--json", uri=store.uri))
    assert "RuntimeError: diverged" in data["error"]


# -- runs compare ---------------------------------------------------------------------------------


def test_runs_compare_json_marks_the_differing_rows(store: Store) -> None:
    data = _json(_cli("runs", "compare", store.fast, store.slow, "--json", uri=store.uri))
    assert [r["id"] for r in data["runs"]] == [store.fast, store.slow]
    rows = {row["key"]: row for row in data["rows"]}
    assert rows["params.lr"] == {"key": "params.lr", "values": ["0.1", "0.2"], "differs": True}
    assert rows["params.model"]["differs"] is False
    assert rows["metrics.loss"] == {"key": "metrics.loss", "values": [0.25, 0.25], "differs": False}
    assert rows["metrics.roc_auc"]["values"] == [
        mc.get_run(store.fast).metrics["roc_auc"],
        mc.get_run(store.slow).metrics["roc_auc"],
    ]
    assert rows["status"]["values"] == ["finished", "finished"]
    assert {"duration_ms", "git_commit"} <= set(rows)
    assert data["num_identical"] == sum(not row["differs"] for row in data["rows"])


def test_runs_compare_table_shows_differing_rows_and_counts_the_rest(store: Store) -> None:
    result = _cli("runs", "compare", store.fast, store.slow, uri=store.uri)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    marked = [line for line in lines if "≠ │" in line]
    assert any("params.lr" in line and "0.1" in line and "0.2" in line for line in marked)
    assert not any("params.model" in line for line in lines)  # the same in both: hidden
    data = _json(_cli("runs", "compare", store.fast, store.slow, "--json", uri=store.uri))
    hidden = data["num_identical"]  # 4, or 5 when both durations round to the same ms
    assert hidden >= 4
    assert f"{hidden} identical row(s) hidden; --all shows them" in result.stdout


def test_runs_compare_marks_status_and_missing_values(store: Store) -> None:
    result = _cli("runs", "compare", store.fast, store.failed, uri=store.uri)
    assert result.exit_code == 0, result.output
    marked = [line for line in result.stdout.splitlines() if "≠ │" in line]
    assert any("status" in line and "finished" in line and "failed" in line for line in marked)
    assert any("params.model" in line and "gbm" in line and "—" in line for line in marked)


def test_runs_compare_all_shows_identical_rows(store: Store) -> None:
    result = _cli("runs", "compare", store.fast, store.slow, "--all", uri=store.uri)
    assert result.exit_code == 0, result.output
    model = next(line for line in result.stdout.splitlines() if "params.model" in line)
    assert "≠" not in model
    assert "hidden" not in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [((), "give at least two run ids"), ((UNKNOWN_ID,), "more than once")],
)
def test_runs_compare_usage_errors(store: Store, extra: tuple[str, ...], message: str) -> None:
    result = _cli("runs", "compare", UNKNOWN_ID, *extra, uri=store.uri)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "exit_code", "fragments"),
    [
        pytest.param(
            ("runs", "show", UNKNOWN_ID),
            1,
            (f"no run with id '{UNKNOWN_ID}'", "hint: list run ids with `modelcycle runs list`"),
            id="unknown-run",
        ),
        pytest.param(("runs", "compare", UNKNOWN_ID, "a" * 32), 1, (UNKNOWN_ID,), id="compare"),
        pytest.param(("runs", "show", "xyz"), 2, ("'xyz'", "32-character hex id"), id="bad-id"),
        pytest.param(
            ("runs", "list", "--filter", "metrics.acc >> 1"),
            2,
            ("position 13", "\n  metrics.acc >> 1\n"),
            id="filter",
        ),
        pytest.param(
            ("runs", "list", "--order-by", "bogus.x"),
            2,
            ("unknown namespace 'bogus'", "position 0"),
            id="order-by",
        ),
        pytest.param(
            ("runs", "list", "--limit", "0"),
            2,
            ("limit must be an integer from 1", "got 0"),
            id="limit",
        ),
        pytest.param(("runs", "list", "--page-token", "garbage"), 2, ("token",), id="token"),
        pytest.param(
            ("runs", "list", "--project", "nope"),
            1,
            ("'nope'", "hint: list the projects with `modelcycle projects list`"),
            id="unknown-project",
        ),
    ],
)
def test_bad_input_gets_one_error_line(
    store: Store, args: tuple[str, ...], exit_code: int, fragments: tuple[str, ...]
) -> None:
    _assert_error(_cli(*args, uri=store.uri), exit_code, *fragments)


def test_malformed_filter_shows_a_caret_under_the_mistake(store: Store) -> None:
    result = _cli("runs", "list", "--filter", "metrics.acc >> 1", uri=store.uri)
    lines = _assert_error(result, 2)
    assert lines[1:3] == ["  metrics.acc >> 1", "               ^"]


def test_bad_limit_type_is_a_usage_error(store: Store) -> None:
    result = _cli("runs", "list", "--limit", "many", uri=store.uri)
    assert result.exit_code == 2
    assert "--limit" in result.stderr
    assert "Traceback" not in result.output


def test_unsupported_uri_is_invalid_input(tmp_path: Path) -> None:
    _assert_error(_cli("runs", "list", uri="ftp://host/x"), 2, "unsupported store URI 'ftp://")


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "modelcycle.db").write_bytes(b"this is not sqlite" * 100)
    _assert_error(_cli("runs", "list", uri=str(folder)), 1, "not a database")


def test_a_foreign_database_is_neither_read_nor_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
    connection.close()
    uri = f"sqlite:///{path}"
    _assert_error(_cli("runs", "list", uri=uri), 1, "not a ModelCycle store (customers)")
    _assert_error(_cli("db", "upgrade", uri=uri), 1, "no ModelCycle schema", "modelcycle init")
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert tables == {"customers"}


# -- db -------------------------------------------------------------------------------------------


def test_db_current_and_upgrade_on_a_current_store(store: Store) -> None:
    current = _cli("db", "current", uri=store.uri)
    assert current.stdout.strip() == f"revision {HEAD_REVISION} (head {HEAD_REVISION}): up to date"
    data = _json(_cli("db", "current", "--json", uri=store.uri))
    assert data == {"revision": HEAD_REVISION, "head": HEAD_REVISION, "up_to_date": True}
    upgraded = _cli("db", "upgrade", uri=store.uri)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"already at revision {HEAD_REVISION}"


def test_an_older_store_is_refused_with_the_upgrade_command(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    assert _cli("init", uri=str(folder)).exit_code == 0
    # Only one revision exists, so "older" is faked; `db upgrade` itself is not exercised.
    with sqlite3.connect(folder / "modelcycle.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0000'")
    connection.close()
    current = _cli("db", "current", uri=str(folder))
    assert current.stdout.strip() == (
        f"revision 0000 (head {HEAD_REVISION}): outdated: run `modelcycle db upgrade`"
    )
    data = _json(_cli("db", "current", "--json", uri=str(folder)))
    assert data == {"revision": "0000", "head": HEAD_REVISION, "up_to_date": False}
    _assert_error(
        _cli("runs", "list", uri=str(folder)), 1, "revision 0000", "modelcycle db upgrade"
    )


def test_an_empty_store_lists_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "empty")
    assert _cli("init", uri=uri).exit_code == 0
    assert "No projects yet" in _cli("projects", "list", uri=uri).stdout
    assert "No runs match" in _cli("runs", "list", uri=uri).stdout
    assert _json(_cli("runs", "list", "--json", uri=uri)) == {"runs": [], "next_page_token": None}


def test_debug_lets_the_traceback_through(store: Store) -> None:
    result = _cli("runs", "show", UNKNOWN_ID, uri=store.uri, MODELCYCLE_DEBUG="1")
    assert isinstance(result.exception, mc.NotFound)


# -- a real process -------------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "modelcycle", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "exit_code", "fragment"),
    [
        (("runs", "show", UNKNOWN_ID), 1, f"error: no run with id '{UNKNOWN_ID}'"),
        (("runs", "list", "--filter", "params.lr >"), 2, "error: expected a value"),
        (("runs", "list", "--limit", "x"), 2, "--limit"),
    ],
)
def test_a_real_process_exits_with_the_code_and_no_traceback(
    store: Store, args: tuple[str, ...], exit_code: int, fragment: str
) -> None:
    result = _run("--uri", store.uri, *args)
    assert result.returncode == exit_code, result.stderr
    assert fragment in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_real_process_prints_json_and_refuses_a_missing_store(
    store: Store, tmp_path: Path
) -> None:
    listed = _run("--uri", store.uri, "runs", "list", "--project", "fraud", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [store.other]
    missing = _run("--uri", str(tmp_path / "none"), "projects", "list")
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"error: no ModelCycle store at {tmp_path / 'none'}\n")
    assert "Traceback" not in missing.stderr
