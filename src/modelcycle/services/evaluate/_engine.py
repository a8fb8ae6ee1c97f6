"""``evaluate_model``: predict once, then metrics, plots, slices, failure cases, explanations."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import InvalidInput
from modelcycle.services.evaluate._explain import (
    BASELINE_METHOD,
    PERMUTATION_REPEATS,
    check_rows,
    local_explanations,
    permutation_importance,
    sample_rows,
)
from modelcycle.services.evaluate._failures import failure_frame
from modelcycle.services.evaluate._figures import MAX_PLOT_POINTS, evaluation_figures
from modelcycle.services.evaluate._inputs import labels, prepare
from modelcycle.services.evaluate._metrics import choose_primary, overall_metrics
from modelcycle.services.evaluate._model import Evaluation, FeatureImportance, LocalExplanation
from modelcycle.services.evaluate._slices import MAX_DROP, MAX_RISE, MIN_SLICE_ROWS, compute_slices
from modelcycle.services.evaluate._values import scalar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.services.evaluate._inputs import Outcome, Prepared


def _explanations(
    model: Any,
    p: Prepared,
    *,
    primary: str,
    rows: list[int],
    importance_rows: int,
    seed: int,
) -> tuple[list[FeatureImportance], list[LocalExplanation], dict[str, Any], list[str]]:
    if importance_rows < 1:
        raise InvalidInput(f"importance_rows must be at least 1, got {importance_rows}")
    found, used, notes = permutation_importance(
        model, p.features, p.outcome, p.classes, primary=primary, rows=importance_rows, seed=seed
    )
    local = local_explanations(model, p.features, p.outcome, p.classes, target=p.target, rows=rows)
    settings = {
        "importance_method": "permutation",
        "importance_rows": used,
        "importance_repeats": PERMUTATION_REPEATS,
        "local_method": BASELINE_METHOD,
    }
    return found, local, settings, notes


def _shap(model: Any, p: Prepared, rows: list[int], seed: int) -> tuple[Any, Any, dict[str, Any]]:
    from modelcycle.services.evaluate._shap import shap_explanations

    return shap_explanations(
        model, p.features, p.outcome, p.classes, target=p.target, rows=rows, seed=seed
    )


def _positive(o: Outcome, classes: tuple[Any, ...] | None) -> Any:
    return scalar(classes[1]) if o.problem == "binary" and classes is not None else None


def evaluate_model(
    model: Any,
    frame: Any,
    target: str,
    *,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    primary_metric: str | None = None,
    slice_columns: Sequence[str] | None = None,
    max_slices_per_column: int = 20,
    numeric_bins: int = 5,
    failure_cases: int = 100,
    explain: bool = True,
    explain_rows: Sequence[int] = (0, 1, 2),
    shap: bool = False,
    importance_rows: int = 5000,
    seed: int = 0,
    title: str = "",
) -> Evaluation:
    """Evaluate ``model`` on ``frame`` against its ``target`` column.

    The model is called once on the whole frame (``predict_proba`` for classifiers that have
    it, else ``predict``); metrics, plots, slices and failure cases all reuse that output. The
    explanations call it again on a sample (permutation importance) and on the chosen rows.

    Args:
        model: Any object with ``predict(X)`` and, for probabilities, ``predict_proba(X)``;
            ``X`` is the frame without the target column, as a pandas DataFrame.
        frame: A pandas or polars DataFrame holding the features and the target.
        target: The name of the target column.
        task: ``"classification"`` or ``"regression"``; inferred when ``None``.
        classes: The classes in the order of ``predict_proba``'s columns; default the model's
            ``classes_``, else the sorted distinct target values.
        primary_metric: The metric that ranks slices and scores importance; default ROC AUC
            (binary), macro F1 (multiclass) or RMSE (regression).
        slice_columns: The feature columns to slice by; default all.
        max_slices_per_column: Most frequent values of a categorical column kept as slices.
        numeric_bins: Quantile bins of a numeric column.
        failure_cases: How many of the worst rows to return.
        explain: Whether to compute permutation importance and local explanations.
        explain_rows: Positions of the rows to explain locally.
        shap: Whether to add SHAP explanations (needs the ``shap`` extra).
        importance_rows: Size of the seeded sample permutation importance runs on.
        seed: Seed of every sample.
        title: Title of the report.

    Returns:
        The ``Evaluation``.

    Raises:
        InvalidInput: the frame, target, task, classes, metric or rows are not usable; the
            message names the value and the fix.
        MissingDependency: ``shap=True`` without the ``shap`` extra installed.
    """
    started = time.perf_counter()
    p = prepare(model, frame, target, task=task, classes=classes)
    o = p.outcome
    metrics, notes = overall_metrics(o)
    primary = choose_primary(o, primary_metric, metrics)
    rows = check_rows(explain_rows, o.y.size) if explain or shap else []
    plot_sample = sample_rows(o.y.size, MAX_PLOT_POINTS, seed)
    slices, slice_notes = compute_slices(
        p.features, o, primary=primary, overall=metrics, slice_columns=slice_columns,
        max_values=max_slices_per_column, bins=numeric_bins,
    )  # fmt: skip
    failures = failure_frame(p.features, p.target, o, p.classes, failure_cases)
    settings: dict[str, Any] = {
        "problem": o.problem, "seed": seed, "has_probabilities": o.proba is not None,
        "plot_rows": int(plot_sample.size) if o.problem == "regression" else o.y.size,
        "slice_min_rows": MIN_SLICE_ROWS, "slice_max_drop": MAX_DROP,
        "slice_max_rise": MAX_RISE, "numeric_bins": numeric_bins,
        "max_slices_per_column": max_slices_per_column,
    }  # fmt: skip
    importance: list[FeatureImportance] = []
    local: list[LocalExplanation] = []
    if explain:
        importance, local, more, explain_notes = _explanations(
            model, p, primary=primary, rows=rows, importance_rows=importance_rows, seed=seed
        )
        settings |= more
        notes += explain_notes
    shap_importance = None
    if shap:
        shap_importance, shap_local, more = _shap(model, p, rows, seed)
        local += shap_local
        settings |= more
    settings["seconds"] = round(time.perf_counter() - started, 3)
    return Evaluation(
        title=title,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        task=p.task,
        target=target,
        num_rows=int(o.y.size),
        classes=labels(p.classes),
        positive_class=_positive(o, p.classes),
        primary_metric=primary,
        metrics=metrics,
        notes=tuple(notes + slice_notes),
        slices=tuple(slices),
        importance=tuple(importance),
        shap_importance=tuple(shap_importance) if shap_importance is not None else None,
        local_explanations=tuple(local),
        figures=evaluation_figures(o, p.classes, plot_sample),
        settings=settings,
        failure_case_rows=len(failures),
        failure_case_columns=tuple(str(c) for c in failures.columns),
        failure_cases=failures,
    )
