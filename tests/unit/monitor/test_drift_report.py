"""DriftReport: JSON round trip and the self-contained HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.monitor.drift import DriftReport, compute_drift


@pytest.fixture(scope="module")
def report() -> DriftReport:
    rng = np.random.default_rng(21)
    n = 4_000

    def frame(shift: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "age": rng.normal(40 + 10 * shift, 10, n),
                "income": rng.lognormal(10, 0.5, n),
                "city": rng.choice(
                    ["<paris>", "oslo", "rome"], n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]
                ),
                "when": pl.Series(np.arange(n)).cast(pl.Datetime("ms")),
            }
        )  # fmt: skip

    return compute_drift(frame(0.0), frame(1.0), title="Weekly <check>")


def test_to_dict_is_json_and_from_dict_gives_the_same_report(report: DriftReport) -> None:
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    again = DriftReport.from_dict(json.loads(text))
    assert again == report
    assert again.drifted_columns == ["age", "city"]
    assert data["share"] == pytest.approx(2 / 3)
    assert data["drifted"] is True
    assert data["columns"][3]["reason"].startswith("Datetime")


def test_non_finite_scores_survive_the_round_trip(report: DriftReport) -> None:
    data = report.to_dict()
    data["columns"][0]["score"] = "Infinity"
    again = DriftReport.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert again.column("age").score == float("inf")
    assert again.to_dict()["columns"][0]["score"] == "Infinity"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": "other"}, "not a drift report: expected format 'modelcycle.drift_report/1'"),
        ([1, 2], "not a drift report"),
        ({"format": "modelcycle.drift_report/1"}, "a drift report with a missing or malformed"),
    ],
)
def test_from_dict_refuses_what_is_not_a_report(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        DriftReport.from_dict(data)


def test_an_unknown_column_is_not_found(report: DriftReport) -> None:
    with pytest.raises(NotFound, match="no column 'ghost' in this drift report; columns: age"):
        report.column("ghost")


def _figures(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="mc-figures">(.*?)</script>', html, re.S)
    assert found is not None
    figures: dict[str, Any] = json.loads(found.group(1))
    return figures


def test_html_is_self_contained_with_overlays_and_score_bars(
    report: DriftReport, tmp_path: Path
) -> None:
    path = tmp_path / "drift.html"
    report.to_html(path)
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", html)
    assert "Plotly.newPlot" in html
    assert "plotly.js v" in html.lower()
    figures = _figures(html)
    assert set(figures) == {
        "scores-wasserstein",
        "scores-jensenshannon",
        "col-0-dist",
        "col-2-dist",
    }
    overlay = figures["col-0-dist"]["data"]
    assert [t["name"] for t in overlay] == ["reference", "current"]
    assert sum(overlay[0]["y"]) == pytest.approx(1.0)
    bars = figures["col-2-dist"]["data"][0]
    assert sorted(bars["x"]) == ["<paris>", "oslo", "rome"]
    scores = figures["scores-wasserstein"]["data"][0]
    assert scores["x"] == ["age", "income"]
    assert scores["marker"]["color"][0] != scores["marker"]["color"][1]
    assert "Weekly &lt;check&gt;" in html
    assert "<check>" not in html
    assert "\\u003cparis>" in html  # data inside the script element cannot close it
    assert "not tested" in html
    assert "Dataset drift" in html
    assert list(tmp_path.iterdir()) == [path]


def test_a_reloaded_report_renders_the_same_figures(report: DriftReport, tmp_path: Path) -> None:
    report.to_html(tmp_path / "a.html")
    DriftReport.from_dict(report.to_dict()).to_html(tmp_path / "b.html")
    first = _figures((tmp_path / "a.html").read_text(encoding="utf-8"))
    assert first == _figures((tmp_path / "b.html").read_text(encoding="utf-8"))


def test_a_report_without_drift_says_so(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": np.arange(100.0)})
    compute_drift(frame, frame).to_html(tmp_path / "same.html")
    html = (tmp_path / "same.html").read_text(encoding="utf-8")
    assert "No dataset drift" in html
    assert "No column drifted." in html
    assert set(_figures(html)) == {"scores-ks"}
