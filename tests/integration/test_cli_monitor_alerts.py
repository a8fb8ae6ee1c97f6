"""``modelcycle monitor alerts ...`` end to end: a real store, a real model, a real webhook."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import pytest
import typer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from tests.unit.monitor.test_webhooks import Receiver
from typer.testing import CliRunner, Result

import modelcycle as mc
from modelcycle.cli import monitor_alerts
from modelcycle.cli._errors import ErrorHandlingGroup
from modelcycle.cli._store import StoreOptions
from modelcycle.sdk import session
from modelcycle.services.monitor.alerts import evaluate_alerts
from modelcycle.store.metadata import open_metadata_store

if TYPE_CHECKING:
    from pathlib import Path

_ENV: dict[str, str | None] = {
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "MODELCYCLE_URI": None,
    "MODELCYCLE_ARTIFACTS": None,
    "MODELCYCLE_PROJECT": None,
    "MODELCYCLE_USER": "ana",
}

# The alerts app mounted as `modelcycle monitor alerts` is, under a root like the real one.
root = typer.Typer(cls=ErrorHandlingGroup, pretty_exceptions_enable=False)
monitor = typer.Typer()
monitor.add_typer(monitor_alerts.app, name="alerts")
root.add_typer(monitor, name="monitor")


@root.callback()
def _root(ctx: typer.Context, uri: Annotated[str | None, typer.Option()] = None) -> None:
    ctx.obj = StoreOptions(uri, None)


def _run(uri: str, *args: str) -> Result:
    return CliRunner().invoke(root, ["--uri", uri, "monitor", "alerts", *args], env=_ENV)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    mc.configure(uri=uri)
    mc.set_project("bc", task="classification", target="target", metric="roc_auc")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with mc.start_run(name="train") as run:
        mc.log_model(model, input_example=X.head(5))
    version = mc.models.register(run, "bc-lr")
    (tmp_path / "version_id").write_text(version.id)
    session.configure()
    return uri


def _monitor_run(uri: str, version_id: str, share: float, at_ms: int) -> None:
    """What a monitor run does after storing its report: evaluate the rules."""
    metadata = open_metadata_store(f"sqlite:///{uri}/modelcycle.db")
    try:
        evaluate_alerts(
            metadata,
            project_id="bc",
            model_name="bc-lr",
            model_version_id=version_id,
            report_id=None,
            values={"drift.share": share},
            at_ms=at_ms,
        )
    finally:
        metadata.close()


def test_add_list_history_disable_and_remove_rules(store: str, tmp_path: Path) -> None:
    version_id = (tmp_path / "version_id").read_text()
    with Receiver() as receiver:
        added = _json(
            _run(store, "add", "bc-lr", "--kind", "drift_share", "--threshold", "0.3",
                 "--webhook", receiver.url, "-p", "bc", "--json")
        )  # fmt: skip
        assert (added["model_name"], added["kind"], added["threshold"]) == (
            "bc-lr",
            "drift_share",
            0.3,
        )
        assert (added["webhook"], added["enabled"], added["created_by"]) == (
            receiver.url,
            True,
            "ana",
        )
        column = _json(
            _run(store, "add", "bc-lr", "--kind", "column_score", "--threshold", "0.2",
                 "--column", "mean radius", "-p", "bc", "--json")
        )  # fmt: skip
        text = _run(
            store, "add", "bc-lr", "--kind", "metric_drop", "--threshold", "0.05", "-p", "bc"
        )
        assert text.exit_code == 0, text.output
        assert "bc-lr metric_drop of the primary metric > 0.05" in text.stdout

        _monitor_run(store, version_id, 0.5, 1_800_000_000_000)
        assert [b["event"] for b in receiver.bodies] == ["alert.firing"]

        listed = _json(_run(store, "list", "-p", "bc", "--json"))["rules"]
        assert [r["kind"] for r in listed] == ["drift_share", "column_score", "metric_drop"]
        assert listed[0]["firing_alert_id"] == receiver.bodies[0]["alert_id"]
        assert listed[1]["firing_alert_id"] is None
        table = _run(store, "list", "-p", "bc")
        assert table.exit_code == 0, table.output
        assert "firing since" in table.stdout
        assert "column_score of mean radius" in table.stdout
        assert f"http://127.0.0.1:{receiver.server.server_address[1]}/…" in table.stdout
        assert "/hooks/alerts" not in table.stdout  # a webhook's path may hold a secret

        history = _json(_run(store, "history", "-p", "bc", "--json"))["alerts"]
        assert len(history) == 1
        assert (history[0]["state"], history[0]["value"], history[0]["kind"]) == (
            "firing",
            0.5,
            "drift_share",
        )
        assert history[0]["delivery"]["status"] == "delivered"
        shown = _run(store, "history", "bc-lr", "-p", "bc")
        assert shown.exit_code == 0, shown.output
        assert "delivered (1 try)" in shown.stdout
        assert _json(_run(store, "history", "--state", "resolved", "-p", "bc", "--json")) == {
            "alerts": []
        }

        _monitor_run(store, version_id, 0.1, 1_800_000_060_000)
        assert [b["event"] for b in receiver.bodies] == ["alert.firing", "alert.resolved"]
        resolved = _json(_run(store, "history", "--state", "resolved", "-p", "bc", "--json"))
        assert [a["resolved_at"] for a in resolved["alerts"]] == [1_800_000_060_000]

    off = _json(_run(store, "disable", column["id"], "--json"))
    assert off["enabled"] is False
    assert "Rule" in _run(store, "enable", column["id"]).stdout
    removed = _run(store, "remove", added["id"])
    assert removed.exit_code == 0, removed.output
    remaining = _json(_run(store, "list", "bc-lr", "-p", "bc", "--json"))["rules"]
    assert [r["id"] for r in remaining] == [column["id"], remaining[1]["id"]]
    assert _json(_run(store, "history", "-p", "bc", "--json")) == {"alerts": []}


@pytest.mark.parametrize(
    ("args", "code", "error", "hint"),
    [
        (["add", "bc-lr", "--kind", "drift", "--threshold", "0.3"], 2,
         "error: alert kind 'drift' is not one of drift_share, column_score", None),
        (["add", "bc-lr", "--kind", "drift_share", "--threshold", "0.3", "--webhook",
          "ftp://hooks.example.com/x"], 2,
         "error: webhook 'ftp://hooks.example.com/x' must be an http:// or https:// URL", None),
        (["add", "nope", "--kind", "drift_share", "--threshold", "0.3"], 1,
         "error: no model 'nope' is registered in project 'bc' (models: bc-lr)",
         "hint: list the registered models with `modelcycle models list`"),
        (["add", "bc-lr", "--kind", "column_score", "--threshold", "0.3"], 2,
         "error: a column_score rule needs the column it watches", None),
        (["history", "--state", "open"], 2, "error: state 'open' is not one of", None),
        (["remove", "f" * 32], 1, f"error: no alert rule with id '{'f' * 32}'",
         "hint: list the rules with `modelcycle monitor alerts list`"),
        (["disable", "f" * 32], 1, "error: no alert rule with id", "hint: list the rules"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_with_a_fix(
    store: str, args: list[str], code: int, error: str, hint: str | None
) -> None:
    result = _run(store, *args, "-p", "bc") if args[0] in ("add", "history") else _run(store, *args)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(error), result.stderr
    if hint is not None:
        assert lines[-1].startswith(hint), result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_project_and_a_missing_store_say_how_to_fix_them(
    store: str, tmp_path: Path
) -> None:
    unknown = _run(store, "list", "-p", "nowhere")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: no project named 'nowhere' (projects: bc")
    assert "hint: name the project with --project or MODELCYCLE_PROJECT" in unknown.stderr
    missing = _run(str(tmp_path / "none"), "list")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: no ModelCycle store at")
    assert "hint: create one with `modelcycle --uri" in missing.stderr


def test_an_empty_listing_says_how_to_add_a_rule(store: str) -> None:
    empty = _run(store, "list", "-p", "bc")
    assert empty.exit_code == 0, empty.output
    assert "No alert rules for project 'bc' yet" in empty.stdout
    assert _json(_run(store, "list", "-p", "bc", "--json")) == {"rules": []}
