"""Plotly figures of a profile, built as plain dicts (plotly.js draws them in the page)."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.services.data.profile._model import (
        ColumnProfile,
        Histogram,
        Matrix,
        Profile,
        ValueCount,
    )

Figure = dict[str, Any]
_ACCENT = "#3b6ea8"
_MARGIN = {"l": 48, "r": 12, "t": 12, "b": 40}


def _layout(**extra: Any) -> dict[str, Any]:
    return {"margin": _MARGIN, "height": 260, "bargap": 0.02, "showlegend": False, **extra}


def histogram_figure(hist: Histogram, *, dates: bool = False) -> Figure:
    """Bars of a histogram, one per bin, drawn from their left edge."""
    edges = hist.edges
    if dates:
        parsed = [dt.datetime.fromisoformat(str(e)) for e in edges]
        widths = [(b - a).total_seconds() * 1000.0 for a, b in pairwise(parsed)]
    else:
        widths = [float(b) - float(a) for a, b in pairwise(edges)]  # type: ignore[arg-type]
    ranges = [f"{a} \N{EN DASH} {b}" for a, b in pairwise(edges)]
    trace = {
        "type": "bar",
        "x": list(edges[:-1]),
        "y": list(hist.counts),
        "width": [w if w > 0 else None for w in widths],
        "offset": 0,
        "customdata": ranges,
        "hovertemplate": "%{customdata}<br>%{y} rows<extra></extra>",
        "marker": {"color": _ACCENT},
    }
    return {"data": [trace], "layout": _layout(xaxis={"type": "date"} if dates else {})}


def top_values_figure(values: tuple[ValueCount, ...]) -> Figure:
    """Horizontal bars of the most frequent values, the most frequent on top."""
    labels = [str(v.value) for v in reversed(values)]
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [v.count for v in reversed(values)],
        "y": labels,
        "hovertemplate": "%{y}: %{x} rows<extra></extra>",
        "marker": {"color": _ACCENT},
    }
    layout = _layout(height=max(160, 26 * len(values) + 60))
    layout["yaxis"] = {"type": "category", "automargin": True}
    return {"data": [trace], "layout": layout}


def heatmap_figure(matrix: Matrix, *, signed: bool) -> Figure:
    """A heatmap of an association matrix (-1..1 when ``signed``, else 0..1)."""
    trace = {
        "type": "heatmap",
        "z": [list(r) for r in matrix.values],
        "x": list(matrix.columns),
        "y": list(matrix.columns),
        "zmin": -1 if signed else 0,
        "zmax": 1,
        "colorscale": "RdBu" if signed else "Blues",
        "reversescale": not signed,
        "hovertemplate": "%{x} \N{MULTIPLICATION SIGN} %{y}: %{z:.3f}<extra></extra>",
    }
    size = max(320, 28 * len(matrix.columns) + 160)
    layout = _layout(height=size, margin={"l": 120, "r": 12, "t": 12, "b": 120})
    layout["xaxis"] = {"type": "category", "automargin": True}
    layout["yaxis"] = {"type": "category", "automargin": True, "autorange": "reversed"}
    return {"data": [trace], "layout": layout}


def missing_figure(columns: list[ColumnProfile]) -> Figure:
    """Share of missing values per column."""
    trace = {
        "type": "bar",
        "x": [c.name for c in columns],
        "y": [c.missing_share for c in columns],
        "customdata": [c.missing for c in columns],
        "hovertemplate": "%{x}: %{y:.1%} (%{customdata} rows)<extra></extra>",
        "marker": {"color": "#c0504d"},
    }
    layout = _layout(yaxis={"tickformat": ".0%", "range": [0, 1]})
    layout["xaxis"] = {"type": "category", "automargin": True}
    return {"data": [trace], "layout": layout}


def column_figures(c: ColumnProfile) -> dict[str, Figure]:
    """The figures of one column, by role (``hist``, ``top``)."""
    out: dict[str, Figure] = {}
    hist = None
    if c.numeric is not None:
        hist = c.numeric.histogram
    elif c.text is not None:
        hist = c.text.histogram
    if c.datetime is not None and c.datetime.histogram is not None:
        out["hist"] = histogram_figure(c.datetime.histogram, dates=True)
    elif hist is not None:
        out["hist"] = histogram_figure(hist)
    if c.top_values:
        out["top"] = top_values_figure(c.top_values)
    return out


def profile_figures(profile: Profile, column_ids: dict[str, str]) -> dict[str, Figure]:
    """Every figure of the report, keyed by the id of the element that shows it."""
    figs: dict[str, Figure] = {}
    for name, c in profile.columns.items():
        for role, fig in column_figures(c).items():
            figs[f"{column_ids[name]}-{role}"] = fig
    corr = profile.correlations
    if corr is not None:
        for key, matrix in (
            ("pearson", corr.pearson),
            ("spearman", corr.spearman),
            ("cramers_v", corr.cramers_v),
        ):
            if matrix is not None:
                figs[f"corr-{key}"] = heatmap_figure(matrix, signed=key != "cramers_v")
    if profile.columns:
        figs["missing"] = missing_figure(list(profile.columns.values()))
    return figs
