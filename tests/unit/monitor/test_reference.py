"""Windows of the prediction log and the choice of a reference (training data from lineage)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression

import modelcycle as mc
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.sdk import session
from modelcycle.services.monitor.reference import (
    LogWindow,
    resolve_reference,
    training_dataset,
    window_features,
    window_outputs,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.core.entities.model import ModelVersion

HOUR = 3_600_000


def test_a_window_checks_its_bounds() -> None:
    assert LogWindow(last=np.int64(5)).last == 5  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="window last=0 must be positive"):
        LogWindow(last=0)
    with pytest.raises(InvalidInput, match="window span_ms=-1 must be positive"):
        LogWindow(span_ms=-1)
    with pytest.raises(InvalidInput, match=r"window last=1\.5 must be an int or None"):
        LogWindow(last=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="window since_ms=True must be an int"):
        LogWindow(since_ms=True)
    with pytest.raises(InvalidInput, match="a start time or a span before now, not both"):
        LogWindow(since_ms=1, span_ms=HOUR)
    with pytest.raises(InvalidInput, match="since_ms=5 must be before until_ms=5"):
        LogWindow(since_ms=5, until_ms=5)


@pytest.mark.parametrize(
    ("window", "now", "bounds", "words"),
    [
        (LogWindow(), 10 * HOUR, (None, None), "every logged prediction"),
        (LogWindow(last=1000), 10 * HOUR, (None, None), "last 1,000 predictions"),
        (LogWindow(span_ms=HOUR), 10 * HOUR, (9 * HOUR, None), "past 1h"),
        (LogWindow(span_ms=90_000), 10 * HOUR, (10 * HOUR - 90_000, None), "past 90s"),
        (LogWindow(span_ms=HOUR, until_ms=5 * HOUR), 10 * HOUR, (4 * HOUR, 5 * HOUR), None),
        (LogWindow(since_ms=0, until_ms=HOUR), 10 * HOUR, (0, HOUR), None),
    ],
)
def test_bounds_follow_the_clock_only_for_spans(
    window: LogWindow, now: int, bounds: tuple[int | None, int | None], words: str | None
) -> None:
    assert window.bounds(now) == bounds
    if words is not None:
        assert window.describe() == words


def test_a_time_window_is_described_in_utc() -> None:
    described = LogWindow(last=5, since_ms=0, until_ms=HOUR).describe()
    assert described == (
        "last 5 predictions, since 1970-01-01T00:00:00+00:00, until 1970-01-01T01:00:00+00:00"
    )


def test_window_features_give_inputs_their_names_back() -> None:
    rows = pl.DataFrame(
        {
            "id": ["a"],
            "at": [0],
            "model_version_id": ["v"],
            "latency_ms": [1.0],
            "source": ["http"],
            "age": [30],
            "input.source": ["web"],  # a feature named like a base column
            "input.output.x": [1],  # a feature named like an output
            "output.prediction": [1],
        }
    )
    assert window_features(rows).columns == ["age", "source", "output.x"]
    assert window_features(rows, ["source", "age", "absent"]).to_dicts() == [
        {"source": "web", "age": 30}
    ]
    assert window_outputs(rows).columns == ["output.prediction"]


@pytest.fixture
def model(tmp_path: Path) -> Iterator[ModelVersion]:
    mc.configure(str(tmp_path / "store"))
    mc.set_project("house", task="regression", target="price")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"rooms": rng.integers(1, 6, 300), "area": rng.normal(80, 20, 300)})
    frame["price"] = frame["area"] * 3 + frame["rooms"] * 10 + rng.normal(0, 5, 300)
    with mc.start_run() as run:
        mc.log_input(mc.data.register("house-valid", frame.tail(50)), role="validation")
        mc.log_input(mc.data.register("house-old", frame.head(100)), role="train")
        mc.log_input(mc.data.register("house", frame), role="train")
        features = frame[["rooms", "area"]]
        mc.log_model(LinearRegression().fit(features, frame["price"]), input_example=features)
    yield mc.models.register(run, "house")
    session.configure()


def _resolve(version: ModelVersion, reference: object) -> Any:
    current = session.get_session()
    return resolve_reference(
        current.registry, current.data, "house", version, reference, target="price", now_ms=0
    )


def test_the_default_reference_is_the_last_training_input(model: ModelVersion) -> None:
    current = session.get_session()
    assert training_dataset(current.registry, model).ref == "house@1"
    resolved = _resolve(model, None)
    assert resolved.label == "house@1"
    assert resolved.dataset is not None
    assert resolved.dataset.name == "house"
    assert resolved.frame.columns == ["rooms", "area"]  # the target is not read
    assert resolved.frame.height == 300
    assert resolved.outputs is None


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "lazy"])
def test_a_frame_reference_loses_its_target(model: ModelVersion, kind: str) -> None:
    frame = pd.DataFrame({"area": [50.0, 60.0], "rooms": [2, 3], "price": [1.0, 2.0]})
    given: object = {
        "pandas": frame,
        "polars": pl.from_pandas(frame),
        "arrow": pa.Table.from_pandas(frame),
        "lazy": pl.from_pandas(frame).lazy(),
    }[kind]
    resolved = _resolve(model, given)
    assert resolved.label == "a DataFrame"
    assert resolved.frame.columns == ["rooms", "area"]


def test_a_dataset_reference_by_ref_or_version(model: ModelVersion) -> None:
    assert _resolve(model, "house-old@1").frame.height == 100
    version = mc.data.get("house-valid@1")
    assert _resolve(model, version).label == "house-valid@1"


def test_bad_references_are_refused(model: ModelVersion) -> None:
    with pytest.raises(NotFound, match="no dataset"):
        _resolve(model, "nothing@1")
    with pytest.raises(InvalidInput, match=r"the reference \(a DataFrame\) has no column 'area'"):
        _resolve(model, pd.DataFrame({"rooms": [1]}))
    with pytest.raises(InvalidInput, match="a reference is a dataset ref"):
        _resolve(model, [1, 2, 3])


def test_no_training_input_is_not_found(tmp_path: Path) -> None:
    mc.configure(str(tmp_path / "bare"))
    try:
        frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
        with mc.start_run() as run:
            mc.log_input(mc.data.register("t", frame), role="test")
            mc.log_model(
                LinearRegression().fit(frame[["x"]], frame["y"]), input_example=frame[["x"]]
            )
        version = mc.models.register(run, "bare")
        with pytest.raises(NotFound, match=r"recorded only inputs with roles \['test'\]"):
            training_dataset(session.get_session().registry, version)
    finally:
        session.configure()
