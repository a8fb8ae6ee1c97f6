"""ModelCycle quickstart: track a small hyper-parameter sweep of a real model.

Run with ``make demo`` (or ``python examples/quickstart.py``). It writes to the store named by
``MODELCYCLE_URI``, by default the folder ``.modelcycle`` here, and ends by telling you the
commands that show what it logged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import plotly.graph_objects as go
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

import modelcycle as mc


def train_one(learning_rate: float, n_estimators: int, plots: Path) -> tuple[str, float]:
    """Train one model, logging params, a metric per boosting stage and a learning curve."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    with mc.start_run(name=f"gbm-lr{learning_rate}") as run:
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
    with tempfile.TemporaryDirectory() as folder, mc.start_run(name="sweep") as sweep:
        results = [train_one(rate, 100, Path(folder)) for rate in (0.05, 0.1, 0.3)]
        best_id, best_auc = max(results, key=lambda item: item[1])
        mc.log_metric("best_val_roc_auc", best_auc)
        mc.set_tag("best_run", best_id)
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


if __name__ == "__main__":
    main()
