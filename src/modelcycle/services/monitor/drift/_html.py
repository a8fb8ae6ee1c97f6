"""The self-contained HTML drift report: one Jinja2 template, plotly.js inline, figures as JSON.

Formatting, safe JSON embedding and the atomic write are the data profile report's
(``services.data.profile._html``), so every report of the platform reads the same.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.services.data.profile._html import (
    fmt,
    plotly_js,
    report_environment,
    script_json,
    write_atomic,
)

if TYPE_CHECKING:
    import jinja2

    from modelcycle.services.monitor.drift.report import ColumnDrift, Distribution, DriftReport

__all__ = ["render_html", "write_atomic"]

_TEMPLATES = Path(__file__).parent / "templates"
_REFERENCE = "#3b6ea8"
_CURRENT = "#d08c2b"
_DRIFTED = "#c0504d"
_MARGIN = {"l": 56, "r": 12, "t": 12, "b": 48}
_SMALLEST_P = 1e-16  # a p-value of 0 is drawn here on the logarithmic axis

Figure = dict[str, Any]


@functools.cache
def _environment() -> jinja2.Environment:
    return report_environment(_TEMPLATES)


def score_figure(columns: list[ColumnDrift]) -> Figure:
    """Bars of one test's scores by column, drifted ones in red, the threshold as a line."""
    p_values = columns[0].higher_is_drift is False
    scores = [c.score if c.score is not None else 0.0 for c in columns]
    shown = [max(s, _SMALLEST_P) for s in scores] if p_values else scores
    trace = {
        "type": "bar",
        "x": [c.name for c in columns],
        "y": shown,
        "customdata": [fmt(s) for s in scores],
        "hovertemplate": "%{x}: %{customdata}<extra></extra>",
        "marker": {"color": [_DRIFTED if c.drifted else _REFERENCE for c in columns]},
    }
    threshold = columns[0].threshold
    layout: dict[str, Any] = {
        "margin": _MARGIN,
        "height": 280,
        "showlegend": False,
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": {"title": {"text": columns[0].label}, "type": "log" if p_values else "linear"},
        "shapes": [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": threshold,
                "y1": threshold,
                "line": {"color": _DRIFTED, "dash": "dash", "width": 1.5},
            }
        ],
    }
    return {"data": [trace], "layout": layout}


def _shares(counts: tuple[int, ...], other: int) -> list[float]:
    total = sum(counts) + other
    return [c / total if total else 0.0 for c in counts]


def distribution_figure(d: Distribution) -> Figure:
    """Reference and current shares over the same bins or categories, overlaid."""
    ref, cur = _shares(d.reference, d.reference_other), _shares(d.current, d.current_other)
    common: dict[str, Any] = {"type": "bar", "hovertemplate": "%{x}: %{y:.2%}<extra></extra>"}
    layout: dict[str, Any] = {
        "margin": _MARGIN,
        "height": 280,
        "legend": {"orientation": "h", "y": 1.12},
        "yaxis": {"tickformat": ".0%", "title": {"text": "share of values"}},
    }
    if d.edges is not None:
        edges = d.edges
        centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        widths = [b - a for a, b in itertools.pairwise(edges)]
        common |= {"x": centres, "width": widths, "opacity": 0.6}
        layout |= {"barmode": "overlay", "bargap": 0}
    else:
        labels = list(d.categories or ())
        if d.reference_other or d.current_other:
            labels.append("(other)")
            ref.append(d.reference_other / max(sum(d.reference) + d.reference_other, 1))
            cur.append(d.current_other / max(sum(d.current) + d.current_other, 1))
        common |= {"x": labels}
        layout |= {"barmode": "group", "xaxis": {"type": "category", "automargin": True}}
    traces = [
        common | {"name": "reference", "y": ref, "marker": {"color": _REFERENCE}},
        common | {"name": "current", "y": cur, "marker": {"color": _CURRENT}},
    ]
    return {"data": traces, "layout": layout}


def report_figures(report: DriftReport, ids: dict[str, str]) -> dict[str, Figure]:
    """Every figure of the report, keyed by the id of the element that shows it."""
    by_test: dict[str, list[ColumnDrift]] = {}
    for c in report.columns.values():
        if c.tested and c.test is not None:
            by_test.setdefault(c.test, []).append(c)
    figures = {f"scores-{test}": score_figure(cols) for test, cols in by_test.items()}
    for c in report.columns.values():
        if c.drifted and c.distribution is not None:
            figures[f"{ids[c.name]}-dist"] = distribution_figure(c.distribution)
    return figures


def render_html(report: DriftReport) -> str:
    """The report as one HTML document."""
    ids = {name: f"col-{i}" for i, name in enumerate(report.columns)}
    figures = report_figures(report, ids)
    tests = sorted({k.removeprefix("scores-") for k in figures if k.startswith("scores-")})
    drifted = [
        {"c": report.columns[name], "id": ids[name], "fig": f"{ids[name]}-dist"}
        for name in report.drifted_columns
    ]
    return (
        _environment()
        .get_template("drift.html.j2")
        .render(
            report=report,
            columns=list(report.columns.values()),
            tests=tests,
            drifted=drifted,
            figures_json=script_json(figures),
            figure_ids=set(figures),
            plotly_js=plotly_js(),
        )
    )
