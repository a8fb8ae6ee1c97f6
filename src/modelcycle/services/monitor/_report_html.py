"""The self-contained HTML monitor report: one Jinja2 template, plotly.js inline, figures as JSON.

The drift section draws with the drift report's own figures (score bars by test, overlaid
distributions of drifted columns); formatting, safe JSON embedding and the atomic write are the
data profile report's, so every report of the platform reads the same. The time series plot the
version's earlier reports (their stored values) with this run as the newest point.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.services.data.profile._html import plotly_js, report_environment, script_json
from modelcycle.services.monitor.drift._html import distribution_figure, score_figure

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import jinja2

    from modelcycle.services.monitor.drift import ColumnDrift
    from modelcycle.services.monitor.run import MonitorResult
    from modelcycle.store.metadata.monitor_reports import SeriesPoint

__all__ = ["history_keys", "render_monitor_html"]

_TEMPLATES = Path(__file__).parent / "templates"
_LINE = "#3b6ea8"
_MARGIN = {"l": 56, "r": 12, "t": 12, "b": 48}
_OVER_TIME = ("drift.share", "drift.prediction", "ops.rows", "quality.schema_violations")

Figure = dict[str, Any]


@functools.cache
def _environment() -> jinja2.Environment:
    return report_environment(_TEMPLATES, {"when": _when})


def history_keys(values: Mapping[str, float | None], primary_metric: str | None) -> list[str]:
    """The keys whose earlier values the report plots (besides every column's drift score)."""
    keys = [k for k in _OVER_TIME if k in values]
    if primary_metric is not None:
        keys.append(f"metric.{primary_metric}")
    return keys


def _when(ms: int | None) -> str:
    if ms is None:
        return "\N{EN DASH}"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def _points(
    history: Mapping[str, Sequence[SeriesPoint]], key: str, now_ms: int, value: float | None
) -> tuple[list[str], list[float | None]]:
    earlier = [p for p in history.get(key, ()) if p.at < now_ms]
    x = [_iso(p.at) for p in earlier] + [_iso(now_ms)]
    y = [p.value for p in earlier] + [value]
    return x, y


def _line_layout(title: str, *, percent: bool = False) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": title}, "rangemode": "tozero"}
    if percent:
        axis["tickformat"] = ".0%"
    return {
        "margin": _MARGIN,
        "height": 260,
        "xaxis": {"type": "date"},
        "yaxis": axis,
        "legend": {"orientation": "h", "y": 1.15},
    }


def series_figure(
    result: MonitorResult, key: str, title: str, *, percent: bool = False
) -> Figure | None:
    """One key over the version's reports (this run last), as a line with markers."""
    if key not in result.values:
        return None
    x, y = _points(result.history, key, result.report.created_at, result.values[key])
    trace: dict[str, Any] = {"type": "scatter", "mode": "lines+markers", "x": x, "y": y}
    trace |= {"name": title, "line": {"color": _LINE}}
    return {"data": [trace], "layout": _line_layout(title, percent=percent)}


def column_scores_figure(result: MonitorResult) -> Figure | None:
    """Every tested column's drift score over the version's reports, one line per column."""
    traces = []
    for c in result.drift.columns.values():
        key = f"drift.column.{c.name}"
        if key not in result.values:
            continue
        x, y = _points(result.history, key, result.report.created_at, result.values[key])
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": y, "name": c.name})
    if not traces:
        return None
    layout = _line_layout("drift score")
    tested = [c for c in result.drift.columns.values() if c.tested]
    if tested and all(c.higher_is_drift is False for c in tested):
        layout["yaxis"] = {"title": {"text": "drift p-value (low: drift)"}, "type": "log"}
    return {"data": traces, "layout": layout}


def performance_figure(result: MonitorResult) -> Figure | None:
    """The primary metric per time window of this run, when windows were scored."""
    performance = result.performance
    if performance is None or not performance.windows:
        return None
    primary = performance.primary_metric
    scored = [w for w in performance.windows if w.start_ms is not None]
    x = [_iso(w.start_ms) for w in scored if w.start_ms is not None]
    y = [w.metrics.get(primary) for w in scored]
    trace = {"type": "scatter", "mode": "lines+markers", "x": x, "y": y, "name": primary}
    figure: Figure = {"data": [trace], "layout": _line_layout(primary)}
    baseline = performance.baseline.get(primary)
    if baseline is not None:
        figure["layout"]["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": baseline,
                "y1": baseline,
                "line": {"color": "#c0504d", "dash": "dash", "width": 1.5},
            }
        ]
    return figure


def _drift_figures(result: MonitorResult, ids: Mapping[str, str]) -> dict[str, Figure]:
    by_test: dict[str, list[ColumnDrift]] = {}
    for c in result.drift.columns.values():
        if c.tested and c.test is not None:
            by_test.setdefault(c.test, []).append(c)
    figures = {f"scores-{test}": score_figure(cols) for test, cols in by_test.items()}
    for c in result.drift.columns.values():
        if c.drifted and c.distribution is not None:
            figures[f"{ids[c.name]}-dist"] = distribution_figure(c.distribution)
    prediction = result.prediction_drift
    if prediction is not None and prediction.distribution is not None:
        figures["prediction-dist"] = distribution_figure(prediction.distribution)
    return figures


def monitor_figures(result: MonitorResult, ids: Mapping[str, str]) -> dict[str, Figure]:
    """Every figure of the report, keyed by the id of the element that shows it."""
    figures = _drift_figures(result, ids)
    performance = result.performance
    over_time: dict[str, Figure | None] = {
        "time-drift-share": series_figure(result, "drift.share", "drift share", percent=True),
        "time-prediction": series_figure(result, "drift.prediction", "prediction drift score"),
        "time-columns": column_scores_figure(result),
        "performance-windows": performance_figure(result),
    }
    if performance is not None:
        name = performance.primary_metric
        over_time["time-metric"] = series_figure(result, f"metric.{name}", name)
    figures.update({key: fig for key, fig in over_time.items() if fig is not None})
    return figures


def render_monitor_html(result: MonitorResult) -> str:
    """The report of one monitor run as one HTML document."""
    ids = {name: f"col-{i}" for i, name in enumerate(result.drift.columns)}
    figures = monitor_figures(result, ids)
    drift = result.drift
    tests = sorted(k.removeprefix("scores-") for k in figures if k.startswith("scores-"))
    drifted = [
        {"c": drift.columns[name], "id": ids[name], "fig": f"{ids[name]}-dist"}
        for name in drift.drifted_columns
    ]
    return (
        _environment()
        .get_template("monitor.html.j2")
        .render(
            r=result,
            report=result.report,
            drift=drift,
            columns=list(drift.columns.values()),
            tests=tests,
            drifted=drifted,
            quality=result.quality,
            performance=result.performance,
            figures_json=script_json(figures),
            figure_ids=set(figures),
            plotly_js=plotly_js(),
        )
    )
