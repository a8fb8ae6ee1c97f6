"""``mc.evaluate`` wired to the store, and the gate both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.core.entities.dataset import Operation
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def store(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "store"
    mc.configure(uri=str(folder))
    mc.set_project("bc", task="classification", target="target", metric="roc_auc", goal=0.95)
    yield folder
    session.configure()


@pytest.fixture
def parts() -> dict[str, mc.DatasetVersion]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.assign(target=y, clinic=["north", "south"] * (len(y) // 2) + ["north"] * (len(y) % 2))
    whole = mc.data.register("bc", frame)
    return mc.data.split(whole, {"train": 0.7, "test": 0.3}, method="stratified", column="target")


def _train(parts: dict[str, mc.DatasetVersion], model: object, columns: list[str]) -> str:
    train = parts["train"].load()
    model.fit(train[columns], train["target"])  # type: ignore[attr-defined]
    with mc.start_run(name=type(model).__name__) as run:
        mc.log_input(parts["train"], role="train")
        mc.log_model(model, input_example=train[columns].head(10))
    return run.id


def _features(parts: dict[str, mc.DatasetVersion]) -> list[str]:
    return [c for c in parts["train"].schema.names if c not in ("target", "clinic")]


def test_evaluate_stores_reports_logs_to_a_run_and_keeps_failure_cases(
    parts: dict[str, mc.DatasetVersion], tmp_path: Path
) -> None:
    run_id = _train(
        parts, GradientBoostingClassifier(n_estimators=30, random_state=0), _features(parts)
    )
    version = mc.models.register(run_id, "bc")
    with mc.start_run(name="evaluation") as run:
        evaluation = mc.evaluate("bc@1", parts["test"])
    test = parts["test"].load()
    assert evaluation.num_rows == len(test)
    assert (evaluation.metrics["roc_auc"] or 0) > 0.95
    assert any(s.column == "clinic" for s in evaluation.slices)  # a column the model never saw
    stored_run = mc.get_run(run.id)
    assert stored_run.metrics["eval.roc_auc"] == pytest.approx(evaluation.metrics["roc_auc"])
    assert {a.path for a in stored_run.artifacts} >= {
        "evaluation/bc-test-1/report.html",
        "evaluation/bc-test-1/report.json",
    }
    assert [(i.dataset_version_id, i.role) for i in stored_run.inputs] == [
        (parts["test"].id, "evaluation")
    ]
    failures = mc.data.get("bc-test-failures@latest")
    assert failures.lineage.operation is Operation.FAILURES
    assert failures.lineage.parents == ("bc-test@1",)
    assert failures.num_rows == evaluation.failure_case_rows
    html = evaluation.to_html(tmp_path / "report.html")
    assert "bc@1" in html
    stored = session.get_session().metadata.logged_models.latest_evaluation(
        version.model.id, parts["test"].id
    )
    assert stored is not None
    assert stored.metrics["roc_auc"] == pytest.approx(evaluation.metrics["roc_auc"])


def test_evaluate_a_frame_and_a_run_without_registering(
    parts: dict[str, mc.DatasetVersion],
) -> None:
    run_id = _train(parts, LogisticRegression(max_iter=5000), _features(parts))
    frame = parts["test"].load()
    evaluation = mc.evaluate(run_id, frame)
    assert evaluation.task == "classification"
    assert [d.name for d in mc.data.list_datasets() if d.name.endswith("-evaluation")] == [
        f"{run_id}-model-evaluation"
    ]
    with pytest.raises(mc.InvalidInput, match="no column 'label'"):
        mc.evaluate(run_id, parts["test"], target="label")


def test_the_gate_passes_a_good_model_and_fails_a_worse_one(
    parts: dict[str, mc.DatasetVersion],
) -> None:
    good = mc.models.register(
        _train(
            parts, GradientBoostingClassifier(n_estimators=30, random_state=0), _features(parts)
        ),
        "bc",
    )
    gated = mc.models.gate(good, parts["test"])
    assert gated.gate is not None
    assert gated.gate.passed
    assert gated.gate.production_ref is None
    assert "meets the goal" in gated.gate.reason
    mc.models.approve(good)
    assert "production" in mc.models.set_alias("bc", "production", 1).aliases
    weak = mc.models.register(_train(parts, LogisticRegression(max_iter=50), ["mean radius"]), "bc")
    failed = mc.models.gate(weak, parts["test"])
    assert failed.gate is not None
    assert not failed.gate.passed
    assert failed.gate.production_ref == "bc@1"
    assert failed.gate.production_value == pytest.approx(gated.gate.value)
    assert "worse than bc@1" in failed.gate.reason
    mc.models.approve(weak)
    with pytest.raises(mc.Conflict, match="its gate failed"):
        mc.models.set_alias("bc", "production", 2)
    assert mc.models.get("bc@production").version == 1
    events = [e.action for e in mc.models.events("bc")]
    assert events.count("gate") == 2


def test_a_tolerance_lets_a_slightly_worse_model_pass(parts: dict[str, mc.DatasetVersion]) -> None:
    mc.set_project("bc", metric="roc_auc", goal=0.5)
    first = mc.models.register(
        _train(
            parts, GradientBoostingClassifier(n_estimators=30, random_state=0), _features(parts)
        ),
        "bc",
    )
    mc.models.approve(first)
    mc.models.set_alias("bc", "production", 1, force=True, reason="baseline")
    second = mc.models.register(
        _train(parts, GradientBoostingClassifier(n_estimators=5, random_state=1), _features(parts)),
        "bc",
    )
    strict = mc.models.gate(second, parts["test"])
    assert strict.gate is not None
    gap = strict.gate.production_value - strict.gate.value  # type: ignore[operator]
    assert gap > 0  # 5 trees score below 30 on this seeded split
    assert not strict.gate.passed
    lenient = mc.models.gate(second, parts["test"], tolerance=gap + 1e-9)
    assert lenient.gate is not None
    assert lenient.gate.passed


def test_the_gate_needs_a_primary_metric(parts: dict[str, mc.DatasetVersion]) -> None:
    mc.set_project("plain")
    run_id = _train(parts, LogisticRegression(max_iter=5000), _features(parts))
    version = mc.models.register(run_id, "lr")
    data = session.get_session().data.get("bc", "bc-test@1")
    with pytest.raises(mc.InvalidInput, match="primary metric"):
        mc.models.gate(version, pd.DataFrame(data.load()))
