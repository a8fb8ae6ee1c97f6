"""The evaluation's JSON and HTML forms: round trip, no NaN, self-contained, escaped, atomic."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from sklearn.linear_model import LogisticRegression

from modelcycle.core.errors import InvalidInput
from modelcycle.services.evaluate import Evaluation, evaluate_model

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE = "<script>alert(1)</script>"
VOID = {"meta", "br", "img", "input", "link", "hr"}


class _Tags(HTMLParser):
    """Records start tags and checks that elements close in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(tag)


class _OnNumbers:
    """A classifier that reads only the numeric columns, so the frame can carry hostile text."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.model = LogisticRegression().fit(frame[["x", HOSTILE]], frame["y"])
        self.classes_ = self.model.classes_

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(x[["x", HOSTILE]]))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(x[["x", HOSTILE]]))


@pytest.fixture(scope="module")
def hostile() -> Evaluation:
    rng = np.random.default_rng(2)
    n = 500
    frame = pd.DataFrame({"x": rng.normal(size=n), HOSTILE: rng.normal(size=n)})
    frame["city"] = pd.Series(rng.choice(["</script><b>", "a&b", "plain"], n), dtype="string")
    frame.loc[::13, "x"] = np.nan
    frame["y"] = (frame["x"].fillna(0) + rng.normal(size=n) > 0).map({True: "yes", False: "no"})
    model = _OnNumbers(frame.assign(x=frame["x"].fillna(0)))
    frame["x"] = frame["x"].fillna(0).where(frame.index % 13 != 0, np.nan)
    return evaluate_model(_Fill(model), frame, "y", title=f"Report {HOSTILE}", explain_rows=[0, 1])


class _Fill:
    """Fills missing ``x`` before predicting: the frame keeps NaN for the slices."""

    def __init__(self, inner: _OnNumbers) -> None:
        self.inner = inner
        self.classes_ = inner.classes_

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return self.inner.predict(x.fillna({"x": 0.0}))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.inner.predict_proba(x.fillna({"x": 0.0}))


def _no_nan(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"JSON holds {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_round_trip_has_no_nan(hostile: Evaluation) -> None:
    d = _no_nan(hostile.to_json().decode())
    assert d["failure_case_rows"] == 100
    assert "failure_cases" not in d
    assert d["failure_case_columns"][-3:] == ["prediction", "true_class_probability", "loss"]
    again = Evaluation.from_dict(d)
    assert again.to_dict() == hostile.to_dict()
    assert again == hostile
    assert again.failure_cases is None
    assert any(s["label"] == "(missing)" for s in d["slices"])


def test_html_is_self_contained_with_plotly_once(hostile: Evaluation, tmp_path: Path) -> None:
    path = tmp_path / "evaluation.html"
    text = hostile.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    parser = _Tags()
    parser.feed(text)
    assert parser.errors == []
    assert parser.open == []
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert len(scripts) == 3
    assert all("src" not in attrs for attrs in scripts)
    assert not [attrs for tag, attrs in parser.tags if tag == "link"]
    assert text.count(get_plotlyjs()[:2000]) == 1
    assert "http://" not in text.replace(get_plotlyjs(), "").replace("http://www.w3.org", "")
    for section in ("metrics", "plots", "slices", "failures", "explanations"):
        assert f'id="{section}"' in text
    assert 'data-fig="roc"' in text
    assert 'data-fig="importance"' in text  # a model without fit still gets importance


def test_html_escapes_column_names_and_values(hostile: Evaluation) -> None:
    text = hostile.to_html()
    page = text.replace(get_plotlyjs(), "")
    assert HOSTILE not in page
    assert "</script><b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    figures = page.split('id="mc-figures">', 1)[1].split("</script>", 1)[0]
    assert "<" not in figures
    data = json.loads(figures)
    assert {"roc", "pr", "calibration", "importance"} <= set(data)


def test_a_stored_evaluation_renders_without_its_failure_frame(hostile: Evaluation) -> None:
    again = Evaluation.from_dict(_no_nan(hostile.to_json().decode()))
    text = again.to_html()
    assert "Columns: x, &lt;script&gt;" in text
    assert 'id="failure-table"' not in text
    assert 'id="failure-table"' in hostile.to_html()


def test_a_missing_folder_is_refused_and_nothing_is_left(
    hostile: Evaluation, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="does not exist; create it first"):
        hostile.to_html(tmp_path / "nope" / "r.html")
    hostile.to_html(tmp_path / "r.html")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_flagged_slices_and_notes_reach_the_report() -> None:
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=800), "zone": rng.integers(0, 3, 800)})
    truth = (frame["x"] > 0).astype(int)
    model = LinearSVC().fit(frame, truth)
    flip = (frame["zone"] == 1).to_numpy()
    truth[flip] = 1 - truth[flip]
    frame["y"] = truth
    e = evaluate_model(model, frame, "y", explain=False)
    text = e.to_html()
    assert e.flagged_slices
    assert 'id="flagged"' in text
    assert "roc_auc: not computed, the model has no predict_proba" in text


@pytest.mark.parametrize("fixture", ["binary", "multiclass", "regression"])
def test_every_problem_renders_and_round_trips(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model, frame = request.getfixturevalue(fixture)
    e = evaluate_model(model, frame, "y", importance_rows=200, shap=fixture == "multiclass")
    d = _no_nan(e.to_json().decode())
    assert Evaluation.from_dict(d).to_dict() == e.to_dict()
    parser = _Tags()
    parser.feed(e.to_html(tmp_path / "r.html"))
    assert parser.errors == []
    drawn = {attrs["data-fig"] for tag, attrs in parser.tags if "data-fig" in attrs}
    assert drawn <= set(e.figures) | {"importance", "shap-importance"}
    expected = {
        "binary": {"roc", "pr", "calibration", "confusion", "confusion-normalized"},
        "multiclass": {"roc", "pr", "calibration", "confusion", "confusion-normalized"},
        "regression": {"residuals", "pred-vs-actual"},
    }[fixture]
    assert set(e.figures) == expected
    if fixture == "multiclass":
        assert len(e.figures["roc"]["data"]) == 4  # one curve per class and the chance line
        assert "shap-importance" in drawn


def test_scatter_plots_use_a_stated_sample() -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=12_000)})
    frame["y"] = 2 * frame["x"] + rng.normal(size=12_000)
    e = evaluate_model(LinearRegression().fit(frame[["x"]], frame["y"]), frame, "y", explain=False)
    assert len(e.figures["residuals"]["data"][0]["x"]) == 5000
    assert e.settings["plot_rows"] == 5000
    assert "a seeded random sample of 5,000 of 12,000 rows" in e.to_html()


def test_boolean_targets_are_classes() -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x": rng.normal(size=300)})
    frame["y"] = frame["x"] + rng.normal(scale=0.5, size=300) > 0
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    e = evaluate_model(model, frame, "y", explain=False)
    assert e.classes == (False, True)
    assert e.positive_class is True
    assert e.failure_cases is not None
    assert e.failure_cases["prediction"].dtype == bool
