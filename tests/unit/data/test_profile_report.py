"""The profile's JSON and HTML forms: round trip, no NaN, self-contained, escaped, atomic."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import numpy as np
import orjson
import polars as pl
import pytest
from plotly.offline import get_plotlyjs

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data.profile import Profile, compute_profile

if TYPE_CHECKING:
    from pathlib import Path

VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "source", "wbr"}


class _Checker(HTMLParser):
    """Collects tags and checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _frame() -> pl.DataFrame:
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=n)
    x[::17] = np.nan
    start = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    frame = pl.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 5, n),
            "<script>alert('c')</script>": rng.choice(["</script><b>v", "plain", "a&b"], n),
            "flag": rng.random(n) < 0.1,
            "when": [start + dt.timedelta(hours=i) for i in range(n)],
            "day": [dt.date(2025, 1, 1) + dt.timedelta(days=i % 30) for i in range(n)],
            "text": [f"a longer free text value, row {i} of the test frame" for i in range(n)],
            "empty": pl.Series([None] * n, dtype=pl.Float64),
        }
    )
    return pl.concat([frame, frame.head(2)])


@pytest.fixture(scope="module")
def profile() -> Profile:
    return compute_profile(_frame(), target="flag", title="Test <b>title</b>", max_rows=300)


def test_dict_round_trip(profile: Profile) -> None:
    d = profile.to_dict()
    again = Profile.from_dict(d)
    assert again == profile
    assert again.to_dict() == d
    assert Profile.from_dict(json.loads(profile.to_json())) == profile


def test_json_has_no_nan_and_iso_datetimes(profile: Profile) -> None:
    text = profile.to_json().decode()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert "NaN" not in text
    assert "Infinity" not in text
    empty = profile.to_dict()["columns"]["empty"]["numeric"]
    assert empty["mean"] is None
    assert empty["skewness"] is None
    when = profile.to_dict()["columns"]["when"]["datetime"]
    assert dt.datetime.fromisoformat(when["min"]).tzinfo is not None
    assert orjson.loads(profile.to_json()) == profile.to_dict()


def test_sampling_is_stated(profile: Profile) -> None:
    assert profile.total_rows == 402
    assert profile.sampled_rows == 300
    html = profile.to_html()
    assert "a seeded random sample of 300 of 402 rows" in html
    assert 'id="sample-notice"' in html
    whole = compute_profile(pl.DataFrame({"a": [1, 2, 3]})).to_html()
    assert "all 3 rows" in whole
    assert "sample-notice" not in whole


def test_html_is_well_formed_and_self_contained(profile: Profile) -> None:
    html = profile.to_html()
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    for tag, attrs in checker.tags:
        assert not (tag == "script" and attrs.get("src")), attrs
        assert tag != "link", attrs
        assert tag != "iframe", attrs
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"(https?:)?//", value), (tag, attrs)
    plotly_js = get_plotlyjs()
    assert html.count(plotly_js) == 1
    assert html.count("plotly.js v") == 1


def test_user_strings_are_escaped(profile: Profile) -> None:
    html = profile.to_html()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;" in html
    assert "Test &lt;b&gt;title&lt;/b&gt;" in html
    checker = _Checker()
    checker.feed(html)
    figures = next(s for s in checker.scripts if s.startswith("{"))
    assert "</" not in figures
    data = json.loads(figures)
    assert any("</script><b>v" in json.dumps(f) for f in data.values())


def test_every_figure_has_an_element_and_every_element_a_figure(profile: Profile) -> None:
    html = profile.to_html()
    checker = _Checker()
    checker.feed(html)
    figures = json.loads(next(s for s in checker.scripts if s.startswith("{")))
    elements = {a["data-fig"] for _, a in checker.tags if a.get("data-fig")}
    assert elements == set(figures)
    assert {"corr-pearson", "corr-spearman", "missing"} <= elements
    hist = figures["col-0-hist"]["data"][0]
    x = profile.columns["x"].numeric
    assert x is not None
    assert x.histogram is not None
    assert hist["y"] == list(x.histogram.counts)


def test_to_html_writes_atomically(profile: Profile, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    html = profile.to_html(target)
    assert target.read_text(encoding="utf-8") == html
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert profile.to_html(str(tmp_path / "again.html")) == html


def test_failed_write_leaves_no_temporary_file(profile: Profile, tmp_path: Path) -> None:
    folder = tmp_path / "is_a_folder.html"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is_a_folder"):
        profile.to_html(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["is_a_folder.html"]
    assert list(folder.iterdir()) == []


def test_a_missing_folder_is_invalid_input(profile: Profile, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"the folder .* does not exist; create it first"):
        profile.to_html(tmp_path / "no" / "report.html")


@pytest.mark.parametrize("broken", [{}, {"title": "x"}, {"columns": []}])
def test_from_dict_refuses_what_is_not_a_profile(broken: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="not the dictionary form of a profile"):
        Profile.from_dict(broken)
