"""The self-contained HTML report: one Jinja2 template, plotly.js inline, figures as JSON."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.services.data.profile._html import (
    plotly_js,
    report_environment,
    script_json,
    write_atomic,
)
from modelcycle.services.evaluate._metrics import LABELS, higher_is_better
from modelcycle.services.evaluate._values import scalar

if TYPE_CHECKING:
    import jinja2

    from modelcycle.services.evaluate._model import Evaluation, FeatureImportance, Figure

__all__ = ["render_html", "write_atomic"]

_TEMPLATES = Path(__file__).parent / "templates"
FAILURE_ROWS_SHOWN = 25
CONTRIBUTIONS_SHOWN = 10
IMPORTANCE_SHOWN = 30


@functools.cache
def _environment() -> jinja2.Environment:
    return report_environment(_TEMPLATES, {"metric": lambda name: LABELS.get(name, name)})


def importance_figure(found: tuple[FeatureImportance, ...], x_title: str) -> Figure:
    """Horizontal bars of the most important features, the most important on top."""
    shown = list(reversed(found[:IMPORTANCE_SHOWN]))
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [f.importance for f in shown],
        "y": [f.feature for f in shown],
        "error_x": {"type": "data", "array": [f.std or 0.0 for f in shown], "visible": True},
        "marker": {"color": "#3b6ea8"},
        "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
    }
    layout = {
        "margin": {"l": 48, "r": 12, "t": 12, "b": 48},
        "height": max(200, 24 * len(shown) + 80),
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"type": "category", "automargin": True},
    }
    return {"data": [trace], "layout": layout}


def _failure_table(evaluation: Evaluation) -> dict[str, Any] | None:
    frame = evaluation.failure_cases
    if frame is None:
        return None
    head = frame.head(FAILURE_ROWS_SHOWN)
    columns = [str(c) for c in head.columns]
    rows = [[scalar(v) for v in record] for record in head.itertuples(index=False, name=None)]
    return {"columns": columns, "rows": rows}


def render_html(evaluation: Evaluation) -> str:
    """The report of ``evaluation`` as one HTML document."""
    figures = dict(evaluation.figures)
    primary = evaluation.primary_metric
    if evaluation.importance:
        axis = f"Drop in {LABELS.get(primary, primary)} when shuffled"
        figures["importance"] = importance_figure(evaluation.importance, axis)
    if evaluation.shap_importance:
        figures["shap-importance"] = importance_figure(evaluation.shap_importance, "Mean |SHAP|")
    columns: dict[str, list[Any]] = {}
    for s in evaluation.slices:
        columns.setdefault(s.column, []).append(s)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            e=evaluation,
            metric_rows=[
                (name, value, higher_is_better(name)) for name, value in evaluation.metrics.items()
            ],
            slice_columns=columns,
            flagged=evaluation.flagged_slices,
            second=list(evaluation.slices[0].metrics if evaluation.slices else {}),
            failures=_failure_table(evaluation),
            contributions_shown=CONTRIBUTIONS_SHOWN,
            figures_json=script_json(figures),
            figure_ids=set(figures),
            plotly_js=plotly_js(),
        )
    )
