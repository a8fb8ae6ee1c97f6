"""Performance on labelled predictions: metrics per window, too few labels, drops vs baseline."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, mean_absolute_error, r2_score, roc_auc_score

import modelcycle as mc
from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.entities.project import Direction
from modelcycle.core.errors import InvalidInput
from modelcycle.sdk import session
from modelcycle.services.monitor.feedback import record_feedback_bulk
from modelcycle.services.monitor.performance import compute_performance, model_performance
from modelcycle.store.predictions import PredictionLogWriter

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

BASE_MS = 1_800_000_000_000
HOUR = 3_600_000


def _frame(
    labels: Sequence[Any] | np.ndarray,
    predictions: Sequence[Any] | np.ndarray,
    *,
    proba: Sequence[Sequence[float]] | np.ndarray | None = None,
    classes: Sequence[str] = ("0", "1"),
    step_ms: int = 60_000,
) -> pl.DataFrame:
    """Labelled predictions as ``labelled_predictions`` gives them."""
    at = [datetime.fromtimestamp((BASE_MS + i * step_ms) / 1000, UTC) for i in range(len(labels))]
    columns: dict[str, Any] = {
        "at": pl.Series(at, dtype=pl.Datetime("ms", "UTC")),
        "label": list(labels),
        "output.prediction": list(predictions),
    }
    if proba is not None:
        for index, name in enumerate(classes):
            columns[f"output.proba_{name}"] = [row[index] for row in proba]
    return pl.DataFrame(columns, strict=False)


def _binary(n: int, seed: int, flip: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.6 + rng.normal(0.2, 0.25, n), 0, 1)
    predicted = (score > 0.5).astype(int)
    wrong = rng.random(n) < flip
    predicted[wrong] = 1 - predicted[wrong]
    return y, predicted, score


def test_binary_metrics_lead_with_the_primary_and_match_scikit_learn() -> None:
    y, p, score = _binary(400, 1)
    frame = _frame(y, p, proba=np.column_stack([1 - score, score]))
    report = compute_performance(frame, task="classification", primary_metric="f1")
    assert report.problem == "binary"
    assert report.metrics == ("f1", "accuracy", "precision", "recall", "roc_auc")
    values = report.overall.metrics
    assert values["f1"] == pytest.approx(f1_score(y, p))
    assert values["accuracy"] == pytest.approx(float(np.mean(y == p)))
    assert values["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert (report.overall.labels, report.overall.predictions) == (400, 400)
    assert report.values()["metric.f1"] == values["f1"]
    assert report.higher_is_better["roc_auc"] is True
    assert report.drops == ()
    assert not report.flagged


def test_the_positive_class_is_the_second_class_even_for_text_labels() -> None:
    # Labels arrive as text, predictions as the model's strings; "yes" is the positive class.
    labels = ["yes"] * 30 + ["no"] * 30
    predicted = ["yes"] * 20 + ["no"] * 10 + ["no"] * 30
    report = compute_performance(
        _frame(labels, predicted), task="classification", classes=["no", "yes"]
    )
    assert report.overall.metrics["recall"] == pytest.approx(20 / 30)
    assert report.overall.metrics["precision"] == 1.0
    assert report.primary_metric == "f1"  # no probabilities logged: ROC AUC cannot lead
    assert report.overall.metrics["roc_auc"] is None
    assert "roc_auc: not computed, no class probabilities were logged" in (
        report.overall.note or ""
    )


def test_integral_float_labels_match_integer_predictions() -> None:
    frame = _frame([1.0, 0.0, 1.0, 1.0] * 10, [1, 0, 0, 1] * 10)
    report = compute_performance(frame, task="classification", min_labels=5)
    assert report.overall.metrics["accuracy"] == pytest.approx(0.75)


def test_boolean_classes_match_the_models_class_names() -> None:
    # A model trained on a bool target names its classes "False"/"True", as Python writes them.
    y, p, score = _binary(200, 3)
    frame = _frame(
        y.astype(bool),
        p.astype(bool),
        proba=np.column_stack([1 - score, score]),
        classes=("False", "True"),
    )
    report = compute_performance(frame, task="classification", classes=["False", "True"])
    assert report.overall.metrics["accuracy"] == pytest.approx(float(np.mean(y == p)))
    assert report.overall.metrics["f1"] == pytest.approx(f1_score(y, p))
    assert report.overall.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score))


def test_each_window_is_scored_and_thin_windows_say_so() -> None:
    y, p, score = _binary(240, 2)
    # 240 predictions one minute apart: four hours, 60 per hour; labels for hour 3 are sparse.
    labels: list[Any] = list(y)
    for i in range(120, 175):
        labels[i] = None
    frame = _frame(labels, p, proba=np.column_stack([1 - score, score]))
    report = compute_performance(frame, task="classification", every_ms=HOUR, min_labels=30)
    assert [(w.start_ms, w.end_ms) for w in report.windows] == [
        (start, start + HOUR) for start in range(BASE_MS // HOUR * HOUR, BASE_MS + 4 * HOUR, HOUR)
    ][: len(report.windows)]
    counts = [(w.predictions, w.labels) for w in report.windows]
    assert sum(c[0] for c in counts) == 240
    assert sum(c[1] for c in counts) == 240 - 55
    thin = [w for w in report.windows if w.labels < 30]
    assert thin
    for window in thin:
        assert set(window.metrics.values()) == {None}
        assert f"{window.labels} labels in the window, fewer than the 30 needed" in (
            window.note or ""
        )
    full = [w for w in report.windows if w.labels >= 30]
    assert all(w.metrics["roc_auc"] is not None for w in full)


def test_a_drop_beyond_the_tolerance_is_flagged_in_the_metrics_direction() -> None:
    y, p, score = _binary(300, 3, flip=0.3)
    frame = _frame(y, p, proba=np.column_stack([1 - score, score]))
    actual = compute_performance(frame, task="classification").overall.metrics
    assert actual["accuracy"] is not None
    baseline = {"accuracy": actual["accuracy"] + 0.2, "f1": actual["f1"], "roc_auc": None}
    report = compute_performance(
        frame, task="classification", baseline=baseline, baseline_evaluation_id="e1"
    )
    drops = {d.metric: d for d in report.drops}
    assert set(drops) == {"accuracy", "f1"}
    assert drops["accuracy"].flagged
    assert drops["accuracy"].change == pytest.approx(0.2)
    assert not drops["f1"].flagged
    assert report.flagged
    assert report.to_dict()["drops"][0]["metric"] == "accuracy"
    better = compute_performance(
        frame, task="classification", baseline={"accuracy": actual["accuracy"] - 0.2}
    )
    assert not better.flagged


def test_regression_metrics_and_a_lower_is_better_drop() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 200)
    p = y + rng.normal(0, 1, 200)
    frame = _frame(y, p)
    report = compute_performance(frame, task="regression", primary_metric="mae")
    assert report.metrics == ("mae", "rmse", "r2")
    assert report.overall.metrics["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert report.overall.metrics["r2"] == pytest.approx(r2_score(y, p))
    assert report.higher_is_better == {"mae": False, "rmse": False, "r2": True}
    worse = report.overall.metrics["rmse"]
    assert worse is not None
    flagged = compute_performance(frame, task="regression", baseline={"rmse": worse / 2})
    assert [d.metric for d in flagged.drops if d.flagged] == ["rmse"]
    constant = compute_performance(_frame([5.0] * 40, [5.5] * 40), task="regression")
    assert constant.overall.metrics["r2"] is None
    assert "r2: undefined, the labels are constant" in (constant.overall.note or "")


def test_multiclass_uses_macro_averages_and_one_vs_rest_auc() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    p = proba.argmax(axis=1)
    frame = _frame(y, p, proba=proba, classes=("0", "1", "2"))
    report = compute_performance(frame, task="classification")
    assert (report.problem, report.primary_metric) == ("multiclass", "f1_macro")
    assert report.overall.metrics["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"))
    assert report.overall.metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr")
    )


def test_a_primary_metric_of_another_problem_is_noted_and_a_direction_is_honoured() -> None:
    frame = _frame([1, 0] * 20, [1, 1] * 20)
    report = compute_performance(frame, task="classification", primary_metric="ndcg")
    assert report.primary_metric == "f1"
    assert "primary metric 'ndcg' is not monitored for a binary problem" in report.notes[0]
    odd = compute_performance(
        frame, task="classification", primary_metric="recall", direction=Direction.MINIMIZE
    )
    assert odd.higher_is_better["recall"] is False


@pytest.mark.parametrize(
    ("frame_columns", "options", "message"),
    [
        (None, {"task": "ranking"}, "classification and regression, not 'ranking'"),
        (None, {"task": "regression", "every_ms": 0}, "every_ms=0 must be a positive"),
        (None, {"task": "regression", "min_labels": 0}, "min_labels=0 must be at least 1"),
        (None, {"task": "regression", "tolerance": -0.1}, r"tolerance=-0\.1 must be >= 0"),
        (["at", "label"], {"task": "regression"}, r"lack \['output.prediction'\]"),
    ],
)
def test_bad_options_are_refused(
    frame_columns: list[str] | None, options: dict[str, Any], message: str
) -> None:
    frame = _frame([1.0, 2.0], [1.0, 2.0])
    if frame_columns is not None:
        frame = frame.select(frame_columns)
    with pytest.raises(InvalidInput, match=message):
        compute_performance(frame, **options)


def test_text_labels_for_a_regressor_are_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="a regression's labels and predictions must be numbers"):
        compute_performance(_frame(["high"] * 40, [1.0] * 40), task="regression")


# -- end to end: a registered model, its evaluation, logged predictions and feedback --------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("bc", task="classification", target="target", metric="roc_auc", goal=0.5)
    data = load_breast_cancer(as_frame=True).frame
    train, test = data.iloc[:400], data.iloc[400:]
    model = LogisticRegression(max_iter=5000).fit(train.drop(columns="target"), train["target"])
    with mc.start_run() as run:
        mc.log_model(model, input_example=train.drop(columns="target").head(5))
    version = mc.models.register(run, "bc")
    evaluation = mc.evaluate("bc@1", mc.data.register("bc-test", test))
    yield {"version": version, "model": model, "test": test, "evaluation": evaluation}
    session.configure()


def _serve(model: Any, frame: Any, version_id: str, start_ms: int) -> list[PredictionRecord]:
    features = frame.drop(columns="target")
    proba = model.predict_proba(features)
    records = []
    for i, (row, p) in enumerate(zip(features.to_dict("records"), proba, strict=True)):
        at = start_ms + i * 60_000
        records.append(
            PredictionRecord(
                f"{at:012x}{os.urandom(10).hex()}",
                at,
                version_id,
                1.0,
                row,
                {"prediction": int(p.argmax()), "proba_0": p[0], "proba_1": p[1]},
            )
        )
    return records


def test_model_performance_against_the_stored_evaluation(served: dict[str, Any]) -> None:
    current = session.get_session()
    version, test = served["version"], served["test"]
    records = _serve(served["model"], test, version.id, BASE_MS)
    with PredictionLogWriter(current.metadata, current.artifacts) as writer:
        writer.submit_many(records)
    truth = test["target"].tolist()
    # The first half of the labels are true, the second half are flipped: the model "decays".
    half = len(records) // 2
    labels = truth[:half] + [1 - t for t in truth[half:]]
    frame = pl.DataFrame({"prediction_id": [r.id for r in records], "label": labels})
    record_feedback_bulk(current.metadata, current.artifacts, frame, actor="t")
    card = current.metadata.projects.get("bc").card
    early = model_performance(
        current.metadata,
        current.artifacts,
        version,
        card,
        until_ms=records[half].at,
    )
    assert early.primary_metric == "roc_auc"
    assert early.baseline["roc_auc"] == pytest.approx(served["evaluation"].metrics["roc_auc"])
    assert early.baseline_evaluation_id is not None
    assert (early.overall.metrics["roc_auc"] or 0) > 0.9
    assert not early.flagged
    late = model_performance(
        current.metadata,
        current.artifacts,
        version,
        card,
        since_ms=records[half].at,
        every_ms=HOUR,
    )
    assert (late.overall.metrics["roc_auc"] or 1) < 0.2
    assert late.flagged
    assert {d.metric for d in late.drops if d.flagged} >= {"roc_auc", "accuracy"}
    assert sum(w.labels for w in late.windows) == len(records) - half
