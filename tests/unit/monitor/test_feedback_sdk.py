"""``mc.feedback`` on predictions that ``mc.predict_batch`` logged, in a real folder store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    monkeypatch.setenv("MODELCYCLE_USER", "sdk-user")
    mc.configure(str(tmp_path / "store"))
    mc.set_project("iris", task="classification", target="target")
    iris = load_iris(as_frame=True)
    model = DecisionTreeClassifier(random_state=0).fit(iris.data, iris.target)
    with mc.start_run() as run:
        mc.log_model(model, input_example=iris.data.head(5))
    mc.models.register(run, "iris")
    out = mc.predict_batch("iris@1", iris.data)
    assert isinstance(out, pd.DataFrame)
    out["truth"] = iris.target.to_numpy()
    yield out
    session.configure()


def test_one_label_by_prediction_id(scored: pd.DataFrame) -> None:
    prediction_id = str(scored["prediction_id"].iloc[7])
    stored = mc.feedback(prediction_id, int(scored["truth"].iloc[7]))
    assert (stored.prediction_id, stored.label, stored.actor, stored.source) == (
        prediction_id,
        0,
        "sdk-user",
        "sdk",
    )
    again = mc.feedback(prediction_id, 2, actor="reviewer")
    assert (again.revision, again.label, again.actor) == (2, 2, "reviewer")


def test_labels_in_bulk_from_a_file_and_a_frame(scored: pd.DataFrame, tmp_path: Path) -> None:
    labels = scored[["prediction_id", "truth"]].rename(columns={"truth": "label"})
    path = tmp_path / "labels.csv"
    labels.head(100).to_csv(path, index=False)
    summary = mc.feedback(path)
    assert (summary.received, summary.recorded, summary.unknown) == (100, 100, 0)
    rest = mc.feedback(labels.iloc[90:])
    assert (rest.recorded, rest.relabelled) == (60, 10)
    metadata = session.get_session().metadata
    assert metadata.feedback.count() == 150
    assert metadata.feedback.get(str(labels["prediction_id"].iloc[120])).source == "sdk"
    assert metadata.feedback.get(str(labels["prediction_id"].iloc[5])).source == "file"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("0" * 32,), mc.InvalidInput, r"no label given for prediction '0{32}'"),
        ((12, 1), mc.InvalidInput, "prediction_id must be a str when a label is given, got int"),
        (("0" * 32, 1), mc.NotFound, r"no logged prediction has id '0{32}'"),
        (("nowhere.parquet",), mc.NotFound, "no feedback file at 'nowhere.parquet'"),
    ],
)
def test_mistakes_are_clear(
    scored: pd.DataFrame, args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        mc.feedback(*args)
    assert session.get_session().metadata.feedback.count() == 0
