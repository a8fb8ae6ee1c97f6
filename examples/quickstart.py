"""ModelCycle quickstart: from a raw CSV to a tracked sweep of a real model.

Run with ``make demo`` (or ``python examples/quickstart.py``). It writes to the store named by
``MODELCYCLE_URI``, by default the folder ``.modelcycle`` here, and ends by telling you the
commands that show what it did:

1. a CSV export (with the gaps and duplicates real exports have) becomes a dataset version;
2. the version is profiled (an HTML report) and validated against declared rules;
3. a cleaning recipe makes a new version, which passes; a stratified split makes train/test;
4. a gradient-boosting sweep trains on the train part, each run recording its inputs and
   logging its model;
5. the best model is evaluated on the test part (an HTML report), registered, approved, passed
   through the gate, promoted to ``production``, exported to ONNX and loaded back;
6. ``modelcycle serve`` serves the production model, answers HTTP requests (each prediction
   logged with the id it returns), a batch job scores the test part, and the prediction log is
   read back;
7. shifted traffic reaches the endpoint, its labels come back through ``POST /feedback``, the
   monitor finds the drift, a webhook on a loopback port receives the alert, and the monitor
   report opens.
"""

from __future__ import annotations

import os
import sys
import tempfile
import webbrowser
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from quickstart_monitoring import monitor_production
from quickstart_serving import serve_and_score, show_logged
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score

import modelcycle as mc

TARGET = "malignant"
MODEL_NAME = "breast-cancer-gbm"
RULES = """
- schema: {columns: [mean radius, mean texture, mean perimeter, mean area, mean smoothness,
    mean compactness, mean concavity, mean concave points, mean symmetry,
    mean fractal dimension, radius error, texture error, perimeter error, area error,
    smoothness error, compactness error, concavity error, concave points error,
    symmetry error, fractal dimension error, worst radius, worst texture, worst perimeter,
    worst area, worst smoothness, worst compactness, worst concavity, worst concave points,
    worst symmetry, worst fractal dimension, malignant]}
- row_count: {min: 400}
- not_null: {column: mean radius}
- not_null: {column: mean texture}
- range: {column: mean radius, min: 0, max: 50}
- allowed_values: {column: malignant, values: [0, 1]}
"""
RECIPE = """
- drop_duplicates: {}
- impute: {columns: [mean radius, mean texture], strategy: median}
"""


def raw_export(folder: Path) -> Path:
    """The breast cancer data as a CSV export with a few gaps and duplicated rows."""
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame[TARGET] = 1 - data.target  # sklearn's 0 means malignant
    rng = np.random.default_rng(0)
    for column in ("mean radius", "mean texture"):
        frame.loc[rng.choice(len(frame), 12, replace=False), column] = np.nan
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
    path = folder / "breast_cancer_export.csv"
    frame.to_csv(path, index=False)
    return path


def prepare_data(folder: Path, reports: Path) -> dict[str, mc.DatasetVersion]:
    """Register, profile, validate, clean and split the data; returns the split parts."""
    raw = mc.data.register("breast-cancer", raw_export(folder), description="raw export")
    print(f"Registered {raw.ref}: {raw.num_rows} rows x {raw.num_columns} columns")
    profile = mc.data.profile(raw)
    profile.to_html(reports / "raw_profile.html")
    print(f"  profile: {len(profile.warnings)} warnings, report {reports / 'raw_profile.html'}")
    mc.data.set_rules("breast-cancer", RULES)
    report = mc.data.validate(raw)
    print(f"  validation: {len(report.failed)} of {len(report.results)} rules failed")
    clean = mc.data.clean(raw, RECIPE, name="breast-cancer", save_as="fill-gaps")
    passed = mc.data.validate(clean).passed
    print(f"Cleaned into {clean.ref}: {clean.num_rows} rows, validation passed: {passed}")
    parts = mc.data.split(clean, {"train": 0.75, "test": 0.25}, method="stratified", column=TARGET)
    print("Split into " + ", ".join(f"{v.ref} ({v.num_rows} rows)" for v in parts.values()))
    return parts


def train_one(
    learning_rate: float, n_estimators: int, parts: dict[str, mc.DatasetVersion], plots: Path
) -> tuple[str, float]:
    """Train one model, logging params, a metric per boosting stage and a learning curve."""
    train, test = parts["train"].load(), parts["test"].load()
    X_train, y_train = train.drop(columns=TARGET), train[TARGET]
    X_val, y_val = test.drop(columns=TARGET), test[TARGET]
    with mc.start_run(name=f"gbm-lr{learning_rate}") as run:
        mc.log_input(parts["train"], role="train")
        mc.log_input(parts["test"], role="validation")
        mc.log_params(
            {
                "model": "GradientBoostingClassifier",
                "learning_rate": learning_rate,
                "n_estimators": n_estimators,
                "max_depth": 3,
                "train_rows": len(y_train),
            }
        )
        model = GradientBoostingClassifier(
            learning_rate=learning_rate, n_estimators=n_estimators, random_state=0
        )
        model.fit(X_train, y_train)
        mc.log_model(model, input_example=X_train.head(20))
        curve = []
        stages = zip(
            model.staged_predict_proba(X_train), model.staged_predict_proba(X_val), strict=True
        )
        for step, (train_proba, val_proba) in enumerate(stages):
            val_auc = roc_auc_score(y_val, val_proba[:, 1])
            mc.log_metrics(
                {
                    "train_log_loss": log_loss(y_train, train_proba[:, 1]),
                    "val_log_loss": log_loss(y_val, val_proba[:, 1]),
                    "val_roc_auc": val_auc,
                },
                step=step,
            )
            curve.append(val_auc)
        mc.set_tag("stage", "sweep")
        figure = go.Figure(go.Scatter(y=curve, mode="lines", name="validation ROC AUC"))
        figure.update_layout(
            title=f"Learning curve, learning_rate={learning_rate}",
            xaxis_title="boosting stage",
            yaxis_title="ROC AUC",
        )
        html = plots / f"learning_curve_lr{learning_rate}.html"
        figure.write_html(html, include_plotlyjs=True)  # self-contained: works offline
        mc.log_artifact(html, name="learning_curve.html")
        return run.id, curve[-1]


def ship_best(run_id: str, parts: dict[str, mc.DatasetVersion], reports: Path) -> str:
    """Evaluate, register, review, gate, promote, export and load the best run's model."""
    evaluation = mc.evaluate(run_id, parts["test"])
    report = reports / "evaluation.html"
    evaluation.to_html(report)
    flagged = len(evaluation.flagged_slices)
    print(
        f"\nEvaluated the best run on {parts['test'].ref}: roc_auc "
        f"{evaluation.metrics['roc_auc']:.4f}, {flagged} slice(s) flagged, report {report}"
    )
    version = mc.models.register(run_id, MODEL_NAME, description="quickstart sweep")
    mc.models.approve(version, comment="reviewed the evaluation report")
    gate = mc.models.gate(version, parts["test"]).gate
    passed = gate is not None and gate.passed
    reason = gate.reason if gate is not None else "not run"
    print(f"Registered {version.ref}; gate {'passed' if passed else 'FAILED'}: {reason}")
    if passed:
        mc.models.set_alias(version.name, "production", version.version)
        print(f"{version.name}@production -> {version.ref}")
    exported = mc.models.export(version, "onnx", reports / "breast-cancer-gbm.onnx")
    print(
        f"Exported to ONNX ({len(exported.data):,} bytes), parity "
        f"{'passed' if exported.parity.passed else 'FAILED'} on {exported.parity.rows} rows"
    )
    production = mc.models.load(f"{version.name}@latest")
    rows = parts["test"].load().drop(columns=TARGET).head(3)
    print(f"Loaded it back: predictions for 3 test rows {production.predict(rows).tolist()}")
    _open(report)
    return version.ref


def _open(report: Path) -> None:
    """Open the report in a browser when there is a screen; otherwise say where it is."""
    if os.environ.get("DISPLAY") and sys.stdout.isatty():
        webbrowser.open(report.resolve().as_uri())
    else:
        print(f"Open {report.resolve()} in a browser to read it.")


def main() -> None:
    """Declare the problem, run the sweep, compare the runs, say where to look."""
    project = mc.set_project(
        "breast-cancer",
        task="classification",
        target="malignant",
        metric="roc_auc",
        goal=0.985,
        description="Quickstart: gradient boosting on the breast cancer data set",
    )
    reports = Path(".modelcycle-reports")
    reports.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        parts = prepare_data(Path(folder), reports)
        with mc.start_run(name="sweep") as sweep:
            results = [train_one(rate, 100, parts, Path(folder)) for rate in (0.05, 0.1, 0.3)]
            best_id, best_auc = max(results, key=lambda item: item[1])
            mc.log_metric("best_val_roc_auc", best_auc)
            mc.set_tag("best_run", best_id)
        model_ref = ship_best(best_id, parts, reports)
        serve_and_score(MODEL_NAME, parts["test"], TARGET, project.name)
        show_logged(MODEL_NAME, reports)
        _open(monitor_production(MODEL_NAME, parts["test"], TARGET, project.name, reports))
    best = mc.search_runs(
        filter="params.model = 'GradientBoostingClassifier'",
        order_by=["metrics.val_roc_auc DESC"],
        limit=3,
    )
    print(f"\nProject {project.name!r}: goal {project.card.metric} >= {project.card.goal}")
    for run in best:
        reached = (
            "meets the goal"
            if project.card.meets_goal(run.metrics["val_roc_auc"])
            else ("below the goal")
        )
        print(
            f"  run {run.id}  lr={run.params['learning_rate']:<5} "
            f"val_roc_auc={run.metrics['val_roc_auc']:.4f}  {reached}"
        )
    history = mc.get_metric_history(best_id, "val_roc_auc")
    print(
        f"\nThe best run logged {len(history)} points of val_roc_auc; the sweep run is {sweep.id}."
    )
    print("\nLook at what was tracked:")
    print(f"  modelcycle runs show {best_id}")
    print(f"  modelcycle runs compare {' '.join(run_id for run_id, _ in results)}")
    print("  modelcycle runs list --project breast-cancer --order-by 'metrics.val_roc_auc DESC'")
    print(f"  the learning curve: modelcycle runs show {best_id} lists its artifact")
    print(f"  modelcycle models show {model_ref} --project breast-cancer")
    print("  modelcycle data list --project breast-cancer")
    print("  modelcycle data show breast-cancer@2 --project breast-cancer")
    print("  modelcycle data profile breast-cancer@1 --project breast-cancer --open")


if __name__ == "__main__":
    main()
