"""Evaluation speed: a gradient-boosted binary classifier evaluated on 100,000 rows.

Fits ``GradientBoostingClassifier(n_estimators=100)`` on scikit-learn's breast-cancer data, then
evaluates it on 100,000 rows resampled from that data with 2 % multiplicative noise (seeded):
metrics, plots, slices of every column, 100 failure cases, permutation importance and local
explanations, and the HTML report, without SHAP. No anchor: it prints our time against the
target. Run by hand::

    .venv/bin/python benchmarks/evaluate.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 5.0


def _frame(rows: int, seed: int) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    model = GradientBoostingClassifier(n_estimators=100, random_state=seed).fit(x, y)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(x), rows)
    frame = x.iloc[picks].reset_index(drop=True) * rng.normal(1.0, 0.02, (rows, x.shape[1]))
    frame["target"] = y.iloc[picks].to_numpy()
    return model, frame


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from modelcycle.services.evaluate import evaluate_model

    model, frame = _frame(args.rows, seed=0)
    times = []
    evaluation = None
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "evaluation.html"
        for _ in range(args.repeats):
            started = time.perf_counter()
            evaluation = evaluate_model(model, frame, "target", title="benchmark")
            evaluation.to_html(report)
            times.append(time.perf_counter() - started)
        size = report.stat().st_size
    if evaluation is None:
        parser.error("--repeats must be at least 1")
    median = statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    sys.stdout.write(
        f"evaluate_model + to_html, GradientBoostingClassifier(100), {args.rows:,} rows, "
        f"{frame.shape[1] - 1} features, no SHAP\n"
        f"  runs (s):        {runs}\n"
        f"  median (s):      {median:.2f}\n"
        f"  target (s):      {TARGET_SECONDS:.2f}\n"
        f"  target / ours:   {TARGET_SECONDS / median:.2f}x\n"
        f"  report size:     {size / 1e6:.1f} MB, {len(evaluation.slices)} slices, "
        f"{evaluation.failure_case_rows} failure cases, "
        f"ROC AUC {evaluation.metrics['roc_auc']:.4f}\n"
        f"  {'PASS' if median <= TARGET_SECONDS else 'FAIL'}\n"
    )
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
