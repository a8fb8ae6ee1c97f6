"""``mc.monitor``: drift between any two sides, windows, runs, reports and series over time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.core.entities.model import ModelVersion

FEATURES = ["tenure", "spend"]


def _data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.exponential(24 * (1 + shift), n)
    spend = rng.normal(50 + 30 * shift, 10, n)
    churned = ((spend - tenure + rng.normal(0, 5, n)) > 30).astype(int)
    return pd.DataFrame({"tenure": tenure, "spend": spend, "churned": churned})


@pytest.fixture
def model(tmp_path: Path) -> Iterator[ModelVersion]:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("telco", task="classification", target="churned", metric="f1")
    train = _data(800, 0)
    with mc.start_run() as run:
        mc.log_input(mc.data.register("telco", train), role="train")
        fitted = LogisticRegression().fit(train[FEATURES], train["churned"])
        mc.log_model(fitted, input_example=train[FEATURES].head(3))
    yield mc.models.register(run, "telco-lr")
    session.configure()


def test_drift_between_a_dataset_and_frames_of_any_kind(model: ModelVersion) -> None:
    shifted = _data(500, 1, shift=1.0)
    for current in (shifted, pl.from_pandas(shifted), pa.Table.from_pandas(shifted)):
        report = mc.monitor.drift("telco@1", current)
        # The target is not compared: the dataset reference leaves it out.
        assert list(report.columns) == FEATURES
        assert set(report.drifted_columns) == {"tenure", "spend"}
        assert report.share == 1.0
    same = mc.monitor.drift(mc.data.get("telco@1"), _data(500, 2))
    assert same.drifted_columns == []


def test_drift_against_a_window_compares_the_model_inputs(model: ModelVersion) -> None:
    mc.predict_batch("telco-lr@1", _data(400, 3, shift=1.0)[FEATURES])
    window = mc.monitor.window("telco-lr@1", last=300)
    report = mc.monitor.drift("telco@1", window, tests="psi", title="telco")
    assert list(report.columns) == FEATURES
    assert report.current_rows == 300
    assert {c.test for c in report.columns.values()} == {"psi"}
    assert set(report.drifted_columns) == {"tenure", "spend"}
    # A window on both sides: the newest predictions against themselves do not drift.
    assert mc.monitor.drift(window, window).drifted_columns == []
    only = mc.monitor.drift(_data(300, 4), window, columns=["spend"])
    assert list(only.columns) == ["spend"]


def test_windows_take_spans_and_times(model: ModelVersion) -> None:
    relative = mc.monitor.window("telco-lr@1", since="1h")
    assert (relative.span_ms, relative.since_ms) == (3_600_000, None)
    assert mc.monitor.window("telco-lr@1", since=dt.timedelta(minutes=5)).span_ms == 300_000
    moment = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    absolute = mc.monitor.window("telco-lr@1", since=moment, until=moment + dt.timedelta(days=1))
    assert absolute.since_ms == int(moment.timestamp() * 1000)
    assert absolute.log_window().describe().startswith("since 2030-01-01T00:00:00")
    mc.predict_batch("telco-lr@1", _data(20, 5)[FEATURES])
    with pytest.raises(InvalidInput, match="the window holds no predictions"):
        mc.monitor.drift("telco@1", absolute)
    assert mc.monitor.drift("telco@1", relative).current_rows == 20


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"last": 0}, "window last=0 must be positive"),
        ({"since": "yesterday"}, "duration 'yesterday' is not a number and a unit"),
        ({"since": 5}, "since=5 must be a timedelta or text such as '1h'"),
        ({"until": "tomorrow"}, "until='tomorrow' must be a datetime"),
    ],
)
def test_bad_windows_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        mc.monitor.window("m@1", **options)


def test_a_side_that_is_none_or_unknown_is_refused(model: ModelVersion) -> None:
    with pytest.raises(InvalidInput, match="the current is None"):
        mc.monitor.drift("telco@1", None)
    with pytest.raises(InvalidInput, match="must be a polars, pandas or pyarrow frame"):
        mc.monitor.drift("telco@1", [1, 2])
    with pytest.raises(NotFound, match="no registered model named 'other'"):
        mc.monitor.drift("telco@1", mc.monitor.window("other@1"))


def test_run_stores_a_report_and_writes_html(model: ModelVersion, tmp_path: Path) -> None:
    mc.predict_batch("telco-lr@1", _data(300, 6, shift=1.0)[FEATURES])
    steps: list[str] = []
    result = mc.monitor.run(
        "telco-lr@1", window=200, html=tmp_path / "r.html", progress=lambda s, d, t: steps.append(s)
    )
    assert result.report.rows == 200
    assert result.report.reference == "telco@1"
    assert set(result.drift.drifted_columns) == {"tenure", "spend"}
    assert len(steps) == 8
    html = (tmp_path / "r.html").read_text()
    assert "Monitor report: telco-lr@1" in html
    assert 'data-fig="time-drift-share"' in html
    by_span = mc.monitor.run("telco-lr@1", window="1h")
    assert by_span.report.rows == 300
    assert by_span.window == "past 1h"
    against = mc.monitor.run(
        "telco-lr@1",
        window=mc.monitor.window("telco-lr@1", last=100),
        reference=mc.monitor.window("telco-lr@1", last=100),
    )
    assert against.drift.drifted_columns == []
    assert against.report.reference == "telco-lr@1 (last 100 predictions)"
    assert [r.id for r in mc.monitor.reports("telco-lr@1")] == [against.id, by_span.id, result.id]


def test_run_refuses_a_window_of_another_version(model: ModelVersion) -> None:
    mc.models.register(model.model.run_id, "telco-lr")
    mc.predict_batch("telco-lr@1", _data(30, 7)[FEATURES])
    with pytest.raises(InvalidInput, match="the window reads telco-lr@2 but the monitor runs on"):
        mc.monitor.run("telco-lr@1", window=mc.monitor.window("telco-lr@2", last=10))
    with pytest.raises(InvalidInput, match=r"window=2\.5: pass mc.monitor.window"):
        mc.monitor.run("telco-lr@1", window=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="the window holds no predictions"):
        mc.monitor.run("telco-lr@2")


def test_reports_and_series_over_time(model: ModelVersion) -> None:
    mc.predict_batch("telco-lr@1", _data(200, 8)[FEATURES])
    first = mc.monitor.run("telco-lr@1")
    mc.predict_batch("telco-lr@1", _data(200, 9, shift=1.0)[FEATURES])
    second = mc.monitor.run("telco-lr@1")
    reports = mc.monitor.reports("telco-lr@1")
    assert [r.id for r in reports] == [second.id, first.id]
    assert mc.monitor.reports("telco-lr@1", limit=1)[0].id == second.id
    later = dt.datetime.fromtimestamp(second.report.created_at / 1000 + 1, dt.UTC)
    assert mc.monitor.reports("telco-lr@1", since=later) == []
    points = mc.monitor.series("telco-lr@1", "drift.share")
    assert isinstance(points, dict)
    assert [p.value for p in points["drift.share"]] == [first.drift.share, second.drift.share]
    scores = mc.monitor.series("telco-lr@1", prefix="drift.column.", output="polars")
    assert isinstance(scores, pl.DataFrame)
    assert scores.columns == ["at", "report_id", "drift.column.spend", "drift.column.tenure"]
    assert scores["report_id"].to_list() == [first.id, second.id]
    assert scores["at"].dtype == pl.Datetime("ms", "UTC")
    frame = mc.monitor.series("telco-lr@1", ["drift.share", "ops.rows"], output="pandas")
    assert isinstance(frame, pd.DataFrame)
    assert frame["ops.rows"].tolist() == [200.0, 400.0]
    with pytest.raises(InvalidInput, match="output='csv'"):
        mc.monitor.series("telco-lr@1", output="csv")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="has no version 7"):
        mc.monitor.reports("telco-lr@7")


def test_the_alert_calls_are_in_the_namespace() -> None:
    for name in ("add_alert_rule", "alert_rules", "alerts", "remove_alert_rule"):
        assert callable(getattr(mc.monitor, name))
