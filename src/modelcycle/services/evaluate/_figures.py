"""Plotly figures of an evaluation, built as plain dicts (plotly.js draws them in the page).

Curves are thinned to at most ``MAX_CURVE_POINTS`` points and scatter plots drawn from a seeded
sample of at most ``MAX_PLOT_POINTS`` rows; the report states the sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.services.evaluate._values import floats, scalar

if TYPE_CHECKING:
    from modelcycle.services.evaluate._inputs import Outcome
    from modelcycle.services.evaluate._model import Figure

MAX_PLOT_POINTS = 5000
MAX_CURVE_POINTS = 1000
MAX_CURVE_CLASSES = 20
CALIBRATION_BINS = 10
_ACCENT = "#3b6ea8"
_CALIBRATION_HOVER = "predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows<extra></extra>"
_MARGIN = {"l": 56, "r": 12, "t": 28, "b": 48}


def _layout(x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "margin": _MARGIN,
        "height": 340,
        "xaxis": {"title": {"text": x_title}, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "automargin": True},
        "legend": {"orientation": "h", "y": -0.25},
        **extra,
    }


def _thin(*arrays: np.ndarray) -> list[list[float | None]]:
    n = arrays[0].size
    if n > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(np.int64))
        arrays = tuple(a[keep] for a in arrays)
    return [floats(a) for a in arrays]


def _diagonal(name: str) -> dict[str, Any]:
    return {
        "type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1], "name": name,
        "line": {"dash": "dash", "color": "#9aa5b1"}, "hoverinfo": "skip",
    }  # fmt: skip


def _one_vs_rest(o: Outcome, classes: tuple[Any, ...]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, is this class, score) per curve: the positive class, or each class (capped)."""
    if o.proba is None:
        return []
    if o.problem == "binary":
        if np.unique(o.y).size < 2:  # no curve without both classes in the truth
            return []
        return [(str(scalar(classes[1])), o.y == 1, o.proba[:, 1])]
    present = [c for c in range(o.n_classes) if (o.y == c).any() and not (o.y == c).all()]
    return [(str(scalar(classes[c])), o.y == c, o.proba[:, c]) for c in present[:MAX_CURVE_CLASSES]]


def roc_figure(o: Outcome, classes: tuple[Any, ...]) -> Figure | None:
    """ROC curve of the positive class, or one-vs-rest per class."""
    from sklearn.metrics import auc, roc_curve

    traces = []
    for name, truth, score in _one_vs_rest(o, classes):
        fpr, tpr, _ = roc_curve(truth, score)
        x, y = _thin(fpr, tpr)
        label = f"{name} (AUC {auc(fpr, tpr):.3f})"
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "name": label})
    if not traces:
        return None
    return {
        "data": [*traces, _diagonal("chance")],
        "layout": _layout("False positive rate", "True positive rate"),
    }


def pr_figure(o: Outcome, classes: tuple[Any, ...]) -> Figure | None:
    """Precision-recall curve of the positive class, or one-vs-rest per class."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    traces = []
    for name, truth, score in _one_vs_rest(o, classes):
        precision, recall, _ = precision_recall_curve(truth, score)
        x, y = _thin(recall, precision)
        label = f"{name} (AP {average_precision_score(truth, score):.3f})"
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "name": label})
    if not traces:
        return None
    return {"data": traces, "layout": _layout("Recall", "Precision")}


def calibration_figure(o: Outcome, classes: tuple[Any, ...]) -> Figure | None:
    """Reliability curve in equal-width bins: mean predicted vs observed frequency.

    Binary: the positive class's probability against its observed rate. Multiclass: the top
    class's probability (confidence) against accuracy.
    """
    if o.proba is None:
        return None
    if o.problem == "binary":
        score, hit = o.proba[:, 1], (o.y == 1).astype(np.float64)
        axis = f"Mean predicted P({scalar(classes[1])})"
    else:
        score = o.proba[np.arange(o.y.size), o.pred]
        hit = (o.y == o.pred).astype(np.float64)
        axis = "Mean confidence (top class probability)"
    bins = np.clip((score * CALIBRATION_BINS).astype(np.int64), 0, CALIBRATION_BINS - 1)
    count = np.bincount(bins, minlength=CALIBRATION_BINS)
    used = count > 0
    mean_score = np.bincount(bins, score, CALIBRATION_BINS)[used] / count[used]
    rate = np.bincount(bins, hit, CALIBRATION_BINS)[used] / count[used]
    trace = {
        "type": "scatter", "mode": "lines+markers", "x": floats(mean_score), "y": floats(rate),
        "customdata": count[used].tolist(), "name": "model", "marker": {"color": _ACCENT},
        "hovertemplate": _CALIBRATION_HOVER,
    }  # fmt: skip
    layout = _layout(axis, "Observed frequency")
    return {"data": [trace, _diagonal("perfectly calibrated")], "layout": layout}


def confusion_figures(o: Outcome, classes: tuple[Any, ...]) -> dict[str, Figure]:
    """Heatmaps of the confusion matrix: counts, and shares of each true class."""
    k = o.n_classes
    matrix = np.bincount(o.y * k + o.pred, minlength=k * k).reshape(k, k)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    names = [str(scalar(c)) for c in classes]
    size = max(320, 36 * k + 160)
    out: dict[str, Figure] = {}
    for key, z, fmt in (("confusion", matrix, "%{z}"), ("confusion-normalized", share, "%{z:.1%}")):
        trace = {
            "type": "heatmap", "z": [floats(r) for r in z], "x": names, "y": names,
            "colorscale": "Blues", "texttemplate": fmt if k <= 30 else "",
            "hovertemplate": "true %{y}, predicted %{x}: " + fmt + "<extra></extra>",
        }  # fmt: skip
        layout = _layout("Predicted", "Actual", height=size)
        layout["xaxis"] |= {"type": "category"}
        layout["yaxis"] |= {"type": "category", "autorange": "reversed"}
        out[key] = {"data": [trace], "layout": layout}
    return out


def regression_figures(o: Outcome, sample: np.ndarray) -> dict[str, Figure]:
    """Residuals against predictions, and predictions against actual values (sampled rows)."""
    y, pred = o.y[sample], o.pred[sample]
    point = {
        "type": "scattergl",
        "mode": "markers",
        "marker": {"size": 4, "opacity": 0.5, "color": _ACCENT},
    }
    residuals = {**point, "x": floats(pred), "y": floats(y - pred), "name": "rows"}
    low, high = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    identity = {
        "type": "scatter", "mode": "lines", "x": [low, high], "y": [low, high], "name": "ideal",
        "line": {"dash": "dash", "color": "#9aa5b1"}, "hoverinfo": "skip",
    }  # fmt: skip
    zero = {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": 0,
        "y1": 0,
        "line": {"dash": "dash", "color": "#9aa5b1"},
    }
    scatter = {**point, "x": floats(y), "y": floats(pred), "name": "rows"}
    residual_layout = _layout("Predicted", "Actual - predicted", shapes=[zero], showlegend=False)
    return {
        "residuals": {"data": [residuals], "layout": residual_layout},
        "pred-vs-actual": {"data": [scatter, identity], "layout": _layout("Actual", "Predicted")},
    }


def evaluation_figures(
    o: Outcome, classes: tuple[Any, ...] | None, sample: np.ndarray
) -> dict[str, Figure]:
    """Every figure of the report, keyed by the id of the element that shows it."""
    if classes is None:
        return regression_figures(o, sample)
    figs: dict[str, Figure] = {}
    for key, build in (("roc", roc_figure), ("pr", pr_figure), ("calibration", calibration_figure)):
        fig = build(o, classes)
        if fig is not None:
            figs[key] = fig
    figs |= confusion_figures(o, classes)
    return figs
