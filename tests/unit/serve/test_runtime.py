"""Serving runtimes: the ONNX form and the Python model give the same answers, chosen at load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modelcycle as mc
from modelcycle.core.errors import InvalidInput
from modelcycle.sdk import session
from modelcycle.services.registry.logged import load_logged_model
from modelcycle.services.serve.model_holder import ModelHolder, load_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from modelcycle.core.entities.model import ModelVersion

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    uri = str(tmp_path / "store")
    mc.configure(uri)
    mc.set_project("serve")
    yield uri
    session.configure()


def _register(model: Any, example: pd.DataFrame, name: str, *, onnx: bool) -> ModelVersion:
    with mc.start_run() as run:
        mc.log_model(model, input_example=example)
    version = mc.models.register(run, name)
    if onnx:
        assert mc.models.export(version.ref, format="onnx").parity.passed
    return mc.models.get(version.ref)


def _columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {str(k): v for k, v in frame.to_dict(orient="list").items()}


def _both(version: ModelVersion) -> tuple[Any, Any]:
    artifacts = session.get_session().artifacts
    onnx = load_runtime(artifacts, version)
    python = load_runtime(artifacts, version, prefer_onnx=False)
    assert (onnx.name, python.name) == ("onnx", "python")
    return onnx, python


def _bc() -> tuple[pd.DataFrame, Any]:
    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    return frame, target


def test_onnx_and_python_answer_the_same_rows_alike(store: str) -> None:
    x, y = _bc()
    version = _register(
        GradientBoostingClassifier(n_estimators=30, random_state=0).fit(x, y),
        x.head(20),
        "gbc",
        onnx=True,
    )
    onnx, python = _both(version)
    assert python.describe() == "python (array)"
    rows = x.sample(200, random_state=1)
    from_onnx = onnx.predict(_columns(rows))
    from_python = python.predict(_columns(rows))
    assert from_onnx.answer["classes"] == from_python.answer["classes"] == [0, 1]
    assert from_onnx.answer["predictions"] == from_python.answer["predictions"]
    np.testing.assert_allclose(
        from_onnx.answer["probabilities"], from_python.answer["probabilities"], atol=1e-5
    )
    model = load_logged_model(session.get_session().artifacts, version.model)
    np.testing.assert_array_equal(from_python.answer["probabilities"], model.predict_proba(rows))
    outputs = from_onnx.outputs()
    assert len(outputs) == 200
    assert set(outputs[0]) == {"prediction", "proba_0", "proba_1"}
    assert outputs[0]["prediction"] == from_onnx.answer["predictions"][0]


def test_a_regressor_answers_alike_in_both_runtimes(store: str) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    version = _register(
        GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x, y),
        x.head(20),
        "gbr",
        onnx=True,
    )
    onnx, python = _both(version)
    rows = _columns(x.head(50))
    from_onnx, from_python = onnx.predict(rows), python.predict(rows)
    assert from_onnx.labels is None
    assert from_python.labels is None
    assert set(from_python.answer) == set(from_onnx.answer) == {"predictions"}
    np.testing.assert_allclose(
        from_onnx.answer["predictions"], from_python.answer["predictions"], rtol=1e-5
    )


def test_text_columns_through_a_column_transformer(store: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon", "nice"], 300).astype(object),
            "plan": rng.choice(["basic", "pro"], 300).astype(object),
            "age": rng.integers(18, 80, 300),
            "spend": rng.normal(50, 10, 300),
        }
    )
    target = ((frame["city"] == "paris") ^ (frame["spend"] > 50)).astype(int)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("text", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
                        ("numbers", StandardScaler(), ["age", "spend"]),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=1000)),
        ]
    ).fit(frame, target)
    version = _register(pipeline, frame.head(20), "churn", onnx=True)
    assert version.exports["onnx"]["details"]["layout"] == "columns"
    onnx, python = _both(version)
    assert python.describe() == "python (frame)"  # picks columns by name: pandas it is
    rows = _columns(frame.tail(40))
    from_onnx, from_python = onnx.predict(rows), python.predict(rows)
    assert from_onnx.answer["predictions"] == from_python.answer["predictions"]
    np.testing.assert_allclose(
        from_onnx.answer["probabilities"], from_python.answer["probabilities"], atol=1e-5
    )
    for runtime in (onnx, python):
        with pytest.raises(InvalidInput, match=r"column 'city': expected string, got integer"):
            runtime.predict({**rows, "city": [1] * 40})


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: {k: v for k, v in c.items() if k != "mean texture"}, "'mean texture': missing"),
        (lambda c: {**c, "colour": ["red"] * 2}, "'colour': unexpected (not in the signature)"),
        (lambda c: {**c, "mean radius": ["big"] * 2}, "'mean radius': expected float, got string"),
        (lambda c: {**c, "mean radius": [True] * 2}, "'mean radius': expected float, got boolean"),
        (lambda c: {**c, "mean radius": [1.0, None]}, "'mean radius': 1 missing value but the"),
        (lambda c: {**c, "mean radius": [[1.0]] * 2}, "'mean radius': expected float, got mixed"),
    ],
    ids=["missing", "unexpected", "text", "boolean", "null", "list"],
)
def test_input_errors_name_the_column_in_every_runtime(
    store: str, change: Any, fragment: str
) -> None:
    x, y = _bc()
    version = _register(LogisticRegression(max_iter=5000).fit(x, y), x.head(10), "lr", onnx=True)
    onnx, python = _both(version)
    model = load_logged_model(session.get_session().artifacts, version.model)
    columns = change(_columns(x.head(2)))
    for predict in (onnx.predict, python.predict, model.predict):
        with pytest.raises(InvalidInput, match="does not match the model signature") as caught:
            predict(columns)
        assert fragment in caught.value.message


def test_missing_or_failed_onnx_form_serves_the_python_model(store: str) -> None:
    x, y = _bc()
    model = LogisticRegression(max_iter=5000).fit(x, y)
    never = _register(model, x.head(10), "never", onnx=False)
    failed = _register(model, x.head(10), "failed", onnx=False)
    result = mc.models.export(failed.ref, format="onnx", tolerance=1e-15)
    assert not result.parity.passed
    failed = mc.models.get(failed.ref)
    assert failed.exports["onnx"]["parity"]["passed"] is False
    artifacts = session.get_session().artifacts
    assert load_runtime(artifacts, never).name == "python"
    assert load_runtime(artifacts, failed).name == "python"


def test_the_onnx_form_loads_without_scikit_learn_or_pandas(store: str) -> None:
    x, y = _bc()
    version = _register(
        GradientBoostingClassifier(n_estimators=10, random_state=0).fit(x, y),
        x.head(10),
        "gbc",
        onnx=True,
    )
    expected = load_runtime(session.get_session().artifacts, version).predict(_columns(x.head(3)))
    script = textwrap.dedent(
        f"""
        import json, sys
        from modelcycle.sdk.session import configure, get_session
        from modelcycle.services.serve.model_holder import load_runtime
        configure({store!r})
        current = get_session()
        version = current.registry.get("serve", {version.ref!r})
        runtime = load_runtime(current.artifacts, version)
        answer = runtime.predict(json.loads(sys.stdin.read())).answer
        heavy = [m for m in ("sklearn", "pandas", "scipy") if m in sys.modules]
        print(json.dumps({{"runtime": runtime.name, "heavy": heavy, "answer": answer}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(_columns(x.head(3))),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["runtime"] == "onnx"
    assert seen["heavy"] == []
    assert seen["answer"] == expected.answer


def test_the_holder_swaps_between_onnx_and_python_runtimes(store: str) -> None:
    x, y = _bc()
    _register(LogisticRegression(max_iter=5000).fit(x, y), x.head(10), "bc", onnx=True)
    _register(LogisticRegression(C=0.01, max_iter=5000).fit(x, y), x.head(10), "bc", onnx=False)
    mc.models.set_alias("bc", "production", 1, force=True, reason="test")
    current = session.get_session()
    swapped: list[str] = []
    holder = ModelHolder(
        lambda: current.registry.get("serve", "bc@production"),
        lambda version: load_runtime(current.artifacts, version),
        poll_seconds=3600,
        on_swap=lambda version: swapped.append(version.ref),
    )
    first = holder.load_now()
    assert (first.version.ref, first.runtime.name) == ("bc@1", "onnx")
    rows = _columns(x.head(5))
    before = first.runtime.predict(rows).answer
    mc.models.set_alias("bc", "production", 2, force=True, reason="test")
    assert holder.check() is True
    second = holder.current
    assert second is not None
    assert (second.version.ref, second.runtime.name) == ("bc@2", "python")
    after = second.runtime.predict(rows).answer
    assert before["probabilities"] != after["probabilities"]  # another model answers
    mc.models.set_alias("bc", "production", 1, force=True, reason="test")
    assert holder.check() is True
    assert holder.current is not None
    assert holder.current.runtime.name == "onnx"
    assert swapped == ["bc@1", "bc@2", "bc@1"]
    assert holder.swaps == 2
