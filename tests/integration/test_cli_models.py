"""``modelcycle models ...`` end to end on a real SQLite store, with a real model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

import modelcycle as mc
from modelcycle.cli.app import app
from modelcycle.sdk import session

_ENV: dict[str, str | None] = {
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "MODELCYCLE_URI": None,
    "MODELCYCLE_ARTIFACTS": None,
    "MODELCYCLE_PROJECT": None,
    "MODELCYCLE_USER": "ana",
}


def _run(uri: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--uri", uri, *args], env=_ENV)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    mc.configure(uri=uri)
    mc.set_project("bc", task="classification", target="target", metric="roc_auc", goal=0.9)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with mc.start_run(name="train") as run:
        mc.log_model(model, input_example=X.head(10))
    (tmp_path / "run_id").write_text(run.id)
    session.configure()
    return uri


def test_register_review_alias_show_and_export(store: str, tmp_path: Path) -> None:
    run_id = (tmp_path / "run_id").read_text()
    registered = _json(_run(store, "models", "register", run_id, "bc-lr", "-p", "bc", "--json"))
    assert (registered["ref"], registered["approval"]) == ("bc-lr@1", "pending")
    refused = _run(store, "models", "alias", "bc-lr", "production", "1", "-p", "bc")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: cannot make bc-lr@1 production")
    approved = _json(
        _run(store, "models", "approve", "bc-lr@1", "--comment", "ok", "-p", "bc", "--json")
    )
    assert approved["approvals"][0]["actor"] == "ana"
    forced = _json(
        _run(
            store,
            "models",
            "alias",
            "bc-lr",
            "production",
            "1",
            "--force",
            "--reason",
            "first model",
            "-p",
            "bc",
            "--json",
        )
    )
    assert forced["aliases"] == ["production"]
    shown = _json(_run(store, "models", "show", "bc-lr@production", "-p", "bc", "--json"))
    assert shown["lineage"]["run_id"] == run_id
    assert shown["model"]["flavor"] == "sklearn"
    listed = _json(_run(store, "models", "list", "-p", "bc", "--json"))["models"]
    assert listed == [
        {
            "name": "bc-lr",
            "latest_version": 1,
            "version_count": 1,
            "aliases": {"production": 1},
            "updated_at": listed[0]["updated_at"],
        }
    ]
    out = tmp_path / "bc.onnx"
    exported = _json(
        _run(
            store, "models", "export", "bc-lr@1", "-f", "onnx", "-o", str(out), "-p", "bc", "--json"
        )
    )
    assert exported["parity"]["passed"] is True
    assert out.stat().st_size == exported["size_bytes"]
    human = _run(store, "models", "show", "bc-lr@1", "-p", "bc")
    assert "approved" in human.stdout
    assert "onnx" in human.stdout


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["models", "show", "nope@1"], 1, "no registered model named 'nope'"),
        (["models", "register", "not-a-run", "x"], 2, "not-a-run"),
        (["models", "register", "0123456789abcdef0123456789abcdef", "x"], 1, "logged no model"),
        (["models", "alias", "bc-lr", "1x", "1"], 2, "alias"),
    ],
)
def test_bad_input_is_one_error_line(store: str, args: list[str], code: int, fragment: str) -> None:
    result = _run(store, *args, "-p", "bc")
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.output
