"""``mc.log_model`` and ``mc.models``: logging, registering, aliases, reviews, loading, exports."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.core.entities.model import ApprovalState
from modelcycle.sdk import session

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def store(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "store"
    mc.configure(uri=str(folder))
    mc.set_project("bc", task="classification", target="target", metric="roc_auc", goal=0.9)
    yield folder
    session.configure()


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def gbm(data: tuple[pd.DataFrame, pd.Series]) -> GradientBoostingClassifier:
    X, y = data
    return GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)


def _logged_version(model: object, X: pd.DataFrame, name: str = "bc-gbm") -> mc.ModelVersion:
    with mc.start_run(name="train") as run:
        mc.log_model(model, input_example=X.head(20))
    return mc.models.register(run, name)


def _blob(store: Path, digest: str) -> Path:
    return store / "artifacts" / "sha256" / digest[:2] / digest[2:4] / digest


def test_a_logged_model_is_a_content_addressed_artifact_of_its_run(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier, store: Path
) -> None:
    X, _ = data
    with mc.start_run() as run:
        logged = mc.log_model(gbm, input_example=X.head(20))
    assert logged.flavor == "sklearn"
    assert logged.task == "classification"
    assert logged.signature.input_names == tuple(X.columns)
    assert any(r.startswith("scikit-learn==") for r in logged.requirements)
    artifacts = {a.path: a.digest for a in mc.get_run(run.id).artifacts}
    assert artifacts["models/model/model"] == logged.digest
    assert "models/model/input_example" in artifacts
    assert _blob(store, logged.digest).is_file()
    with (
        pytest.raises(mc.Conflict, match="already logged a model named 'model'"),
        mc.start_run(name="x") as again,
    ):
        mc.log_model(gbm, input_example=X.head(5), run_id=run.id)
    assert again.id != run.id


def test_log_model_needs_a_run_and_a_model_with_predict() -> None:
    with pytest.raises(mc.InvalidInput, match="no active run"):
        mc.log_model(LogisticRegression())
    with mc.start_run(), pytest.raises(mc.InvalidInput, match="no predict method"):
        mc.log_model(object(), input_example=[[1.0]])


def test_versions_count_up_and_record_lineage(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier
) -> None:
    X, y = data
    frame = X.assign(target=y)
    train = mc.data.register("bc-data", frame)
    with mc.start_run(name="train") as run:
        mc.log_input(train, role="train")
        mc.log_model(gbm, input_example=X.head(20))
    first = mc.models.register(run, "bc-gbm")
    second = mc.models.register(f"runs:/{run.id}/model", "bc-gbm")
    assert (first.ref, second.ref) == ("bc-gbm@1", "bc-gbm@2")
    assert mc.models.get("bc-gbm").ref == "bc-gbm@2"
    lineage = mc.models.lineage("bc-gbm@1")
    assert lineage.run.id == run.id
    assert lineage.inputs == (("bc-data@1", "train"),)
    assert lineage.run.environment_digest is not None
    with pytest.raises(mc.NotFound, match="has no version 7"):
        mc.models.get("bc-gbm@7")
    with pytest.raises(mc.NotFound, match="no alias 'staging'"):
        mc.models.get("bc-gbm@staging")
    with pytest.raises(mc.NotFound, match="no registered model named 'other'"):
        mc.models.get("other@1")


def test_production_needs_approval_and_a_gate_unless_forced(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier
) -> None:
    X, _ = data
    version = _logged_version(gbm, X)
    with pytest.raises(mc.Conflict, match="pending, not approved; its gate has not run"):
        mc.models.set_alias("bc-gbm", "production", 1)
    assert mc.models.get("bc-gbm@1").aliases == ()
    staged = mc.models.set_alias("bc-gbm", "staging", 1)  # other aliases are free
    assert staged.aliases == ("staging",)
    mc.models.reject(version, "overfits")
    approved = mc.models.approve("bc-gbm@1", "re-checked")
    assert approved.approval is ApprovalState.APPROVED
    assert [a.comment for a in approved.approvals] == ["overfits", "re-checked"]
    with pytest.raises(mc.Conflict, match="its gate has not run"):
        mc.models.set_alias("bc-gbm", "production", 1)
    forced = mc.models.set_alias("bc-gbm", "production", 1, force=True, reason="hotfix")
    assert "production" in forced.aliases
    events = mc.models.events("bc-gbm")
    assert [e.action for e in events] == ["register", "alias", "rejected", "approved", "alias"]
    assert events[-1].details["forced"] is True
    assert events[-1].details["reason"] == "hotfix"
    with pytest.raises(mc.InvalidInput, match="'latest' always means"):
        mc.models.set_alias("bc-gbm", "latest", 1)
    with pytest.raises(mc.InvalidInput, match="alias"):
        mc.models.set_alias("bc-gbm", "123", 1)


def test_an_alias_moves_atomically_to_the_new_version(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier
) -> None:
    X, _ = data
    _logged_version(gbm, X)
    _logged_version(gbm, X)
    mc.models.set_alias("bc-gbm", "staging", 1)
    moved = mc.models.set_alias("bc-gbm", "staging", 2)
    assert moved.ref == "bc-gbm@2"
    assert mc.models.get("bc-gbm@1").aliases == ()
    assert mc.models.get("bc-gbm@staging").version == 2
    assert mc.models.events("bc-gbm")[-1].details["previous"] == 1
    mc.models.delete_alias("bc-gbm", "staging")
    with pytest.raises(mc.NotFound, match="no alias 'staging'"):
        mc.models.get("bc-gbm@staging")


def test_a_loaded_model_predicts_and_checks_its_input(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier
) -> None:
    X, _ = data
    _logged_version(gbm, X)
    model = mc.models.load("bc-gbm@latest")
    np.testing.assert_array_equal(model.predict(X.head(50)), gbm.predict(X.head(50)))
    np.testing.assert_allclose(model.predict_proba(X.head(50)), gbm.predict_proba(X.head(50)))
    bad = X.head(3).drop(columns=["mean radius"]).assign(extra=1.0)
    with pytest.raises(mc.InvalidInput, match=r"(?s)'mean radius': missing.*'extra': unexpected"):
        model.predict(bad)


class _Marker:
    """A pickle that, if ever loaded, writes a marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def test_swapped_model_bytes_are_never_unpickled(
    data: tuple[pd.DataFrame, pd.Series],
    gbm: GradientBoostingClassifier,
    store: Path,
    tmp_path: Path,
) -> None:
    X, _ = data
    version = _logged_version(gbm, X)
    marker = tmp_path / "pwned"
    _blob(store, version.model.digest).write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(mc.IntegrityError, match="not loaded"):
        mc.models.load("bc-gbm@1")
    with pytest.raises(mc.IntegrityError, match="sha256"):
        mc.models.export("bc-gbm@1", "pickle", tmp_path / "out.pkl")
    with pytest.raises(mc.IntegrityError, match="sha256"):
        mc.models.export("bc-gbm@1", "onnx", tmp_path / "out.onnx")
    assert not marker.exists()
    assert not (tmp_path / "out.pkl").exists()
    assert mc.models.get("bc-gbm@1").exports == {}


def test_exports_are_checked_for_parity_and_recorded(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier, tmp_path: Path
) -> None:
    X, _ = data
    version = _logged_version(gbm, X)
    onnx = mc.models.export(version, "onnx", tmp_path / "model.onnx")
    assert onnx.parity.passed
    assert (tmp_path / "model.onnx").read_bytes() == onnx.data
    raw = mc.models.export(version, "pickle", tmp_path / "model.pkl")
    assert raw.sha256 == version.model.digest
    recorded = mc.models.get("bc-gbm@1").exports
    assert sorted(recorded) == ["onnx", "pickle"]
    assert recorded["onnx"]["parity"]["passed"] is True
    with pytest.raises(mc.InvalidInput, match="format must be one of"):
        mc.models.export(version, "h5")


@pytest.mark.slow
def test_a_pmml_export_is_checked_and_recorded(
    data: tuple[pd.DataFrame, pd.Series], gbm: GradientBoostingClassifier, tmp_path: Path
) -> None:
    if shutil.which("java") is None and os.environ.get("CI") != "true":
        pytest.skip("PMML needs a Java runtime ('java' on PATH)")
    X, _ = data
    version = _logged_version(gbm, X)
    pmml = mc.models.export(version, "pmml", tmp_path / "model.pmml")
    assert pmml.parity.passed
    assert (tmp_path / "model.pmml").read_bytes().lstrip().startswith(b"<?xml")
    assert (
        mc.models.get("bc-gbm@1")
        .exports["pmml"]["parity"]["checked_with"]
        .startswith("jpmml-evaluator")
    )
