"""``modelcycle monitor ...`` end to end on a real SQLite store, a real model and its log."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

import modelcycle as mc
from modelcycle.cli.app import app
from modelcycle.sdk import session

if TYPE_CHECKING:
    from pathlib import Path

_ENV: dict[str, str | None] = {
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "MODELCYCLE_URI": None,
    "MODELCYCLE_ARTIFACTS": None,
    "MODELCYCLE_PROJECT": "shop",
    "MODELCYCLE_USER": "ana",
}
FEATURES = ["visits", "basket"]


def _run(uri: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--uri", uri, *args], env=_ENV)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(5 + 10 * shift, n).astype(float)
    basket = rng.normal(40 + 40 * shift, 8, n)
    bought = ((basket / 10 + visits + rng.normal(0, 2, n)) > 9).astype(int)
    return pd.DataFrame({"visits": visits, "basket": basket, "bought": bought})


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    mc.configure(uri=uri)
    mc.set_project("shop", task="classification", target="bought", metric="f1")
    train = _data(1000, 0)
    with mc.start_run() as run:
        mc.log_input(mc.data.register("shop", train), role="train")
        model = LogisticRegression().fit(train[FEATURES], train["bought"])
        mc.log_model(model, input_example=train[FEATURES].head(3))
    mc.models.register(run, "buyer")
    mc.models.register(run, "buyer")  # version 2 logs nothing
    mc.predict_batch("buyer@1", _data(500, 1, shift=1.0)[FEATURES])
    mc.data.register("partial", train[["visits"]])
    session.configure()
    return uri


def test_run_prints_a_summary_and_stores_the_report(store: str, tmp_path: Path) -> None:
    result = _run(store, "monitor", "run", "buyer@1", "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert "2 of 2 features drifted (100.0%): visits, basket" in result.stdout
    assert "last 1,000 predictions (500 predictions)" in result.stdout
    assert re.search(r"reference\s+shop@1\s", result.stdout)
    report_id = re.search(r"report\s+([0-9a-f]{32})", result.stdout)
    assert report_id is not None
    html = (tmp_path / "r.html").read_text()
    assert not re.search(r"<script[^>]+src=", html)
    assert 'data-fig="time-drift-share"' in html
    shown = _json(_run(store, "monitor", "show", report_id.group(1), "--json"))
    assert shown["id"] == report_id.group(1)
    assert shown["values"]["drift.share"] == 1.0
    assert shown["values"]["ops.rows"] == 500
    assert shown["summary"]["drifted_columns"] == ["visits", "basket"]


def test_run_json_list_and_show_html(store: str, tmp_path: Path) -> None:
    first = _json(_run(store, "monitor", "run", "buyer@1", "--window", "200", "--json"))
    assert first["rows"] == 200
    assert first["window"] == "last 200 predictions"
    assert first["reference"] == "shop@1"
    assert set(first["drifted_columns"]) == {"visits", "basket"}
    assert first["values"]["drift.column.visits"] == pytest.approx(0, abs=1e-6)
    assert first["alerts"] == []
    second = _json(_run(store, "monitor", "run", "buyer@1", "--since", "1h", "--json"))
    assert second["window"] == "past 1h"
    listed = _json(_run(store, "monitor", "list", "buyer@1", "--json"))
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert listed[0]["rows"] == 500
    assert listed[0]["alerts"] == 0
    assert listed[0]["tested_columns"] == 2
    table = _run(store, "monitor", "list", "buyer@1")
    assert table.exit_code == 0, table.output
    assert first["id"] in table.stdout
    assert " 2/2 " in table.stdout
    target = tmp_path / "shown.html"
    shown = _run(store, "monitor", "show", first["id"], "--html", str(target))
    assert shown.exit_code == 0, shown.output
    assert re.search(rf"html\s+{re.escape(str(target))}", shown.stdout)
    assert "drift.column.basket" in shown.stdout
    assert "Monitor report: buyer@1" in target.read_text()


def test_an_alert_rule_fires_from_a_cli_run(store: str) -> None:
    added = _run(
        store, "monitor", "alerts", "add", "buyer", "--kind", "drift_share", "--threshold", "0.4"
    )
    assert added.exit_code == 0, added.output
    ran = _json(_run(store, "monitor", "run", "buyer@1", "--json"))
    assert [a["change"] for a in ran["alerts"]] == ["opened"]
    assert _json(_run(store, "monitor", "list", "buyer@1", "--json"))[0]["alerts"] == 1
    human = _run(store, "monitor", "run", "buyer@1")
    assert re.search(r"alerts opened\s+—", human.stdout)  # still firing: it fired once


def test_schedule_runs_then_stops(store: str) -> None:
    result = _run(
        store, "monitor", "schedule", "buyer@1", "--every", "50ms", "--max-runs", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["run"] for line in lines] == [1, 2]
    assert all(line["rows"] == 500 for line in lines)
    assert "schedule stopped (max_runs): 2 runs, 0 failed" in result.stderr
    human = _run(store, "monitor", "schedule", "buyer@1", "--every", "1s", "--max-runs", "1")
    assert re.search(
        r"run 1 · .* · report [0-9a-f]{32} · 500 predictions · drift 100.0%", human.stdout
    )


def test_a_schedule_whose_runs_all_fail_goes_on_and_exits_non_zero(store: str) -> None:
    result = _run(store, "monitor", "schedule", "buyer@2", "--every", "10ms", "--max-runs", "3")
    assert result.exit_code == 1
    assert result.stderr.count("error: the window holds no predictions") == 3
    assert "run 3 failed:" in result.stderr
    assert "schedule stopped (max_runs): 3 runs, 3 failed" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "buyer@2"], 2, "error: the window holds no predictions: model version"),
        (["run", "nobody@1"], 1, "error: no registered model named 'nobody'"),
        (
            ["run", "buyer@1", "--reference", "partial@1"],
            2,
            "error: the reference (partial@1) has no column 'basket'",
        ),
        (["run", "buyer@1", "--since", "soon"], 2, "error: duration 'soon' is not a number"),
        (["show", "0" * 32], 1, "error: no monitor report with id"),
        (
            ["schedule", "buyer@1", "--every", "0s"],
            2,
            "error: duration '0s' must be longer than zero",
        ),
    ],
)
def test_mistakes_are_one_clear_line(store: str, args: list[str], code: int, message: str) -> None:
    result = _run(store, "monitor", *args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("hint:")]
    assert len(errors) == 1
    assert result.stdout == ""


def test_labels_bring_performance_per_window(store: str, tmp_path: Path) -> None:
    mc.configure(uri=store)
    try:
        mc.set_project("shop")
        logged = mc.predictions("buyer@1")
        labels = (logged["visits"] > 15).astype(int)
        mc.feedback(pd.DataFrame({"prediction_id": logged["id"], "label": labels}))
    finally:
        session.configure()
    target = tmp_path / "perf.html"
    args = ["monitor", "run", "buyer@1", "--performance-every", "1h", "--html", str(target)]
    ran = _json(_run(store, *args, "--json"))
    assert ran["primary_metric"] == "f1"
    assert ran["values"]["feedback.labels"] == 500
    assert ran["primary_value"] == ran["values"]["metric.f1"]
    assert 'data-fig="performance-windows"' in target.read_text()
    bad = _run(store, "monitor", "run", "buyer@1", "--performance-every", "often")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: duration 'often' is not a number and a unit")
