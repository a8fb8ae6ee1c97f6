"""A Hypothesis state machine drives the real tracking store against an in-memory model."""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from modelcycle.core.entities.run import RunStatus
from modelcycle.core.errors import Conflict
from modelcycle.core.settings import Settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store

KEYS = st.sampled_from(["a", "b", "loss", "val/acc"])
PARAM_VALUES = st.sampled_from(["0.1", "0.2", "gbm", ""])
TAG_VALUES = st.text(alphabet="xyz01 ", max_size=4)
# -inf is left out: its order against NaN (both sort lowest) is not specified.
METRIC_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.just(math.nan),
    st.just(math.inf),
)
POINTS = st.lists(
    st.tuples(KEYS, METRIC_VALUES, st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=6
)
END_STATUSES = st.sampled_from([RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])

Point = tuple[float, int, int]  # value, step, timestamp


def _order_value(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@dataclass
class RunModel:
    """What the store should hold for one run."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: dict[str, list[Point]] = field(default_factory=dict)  # in logging order
    status: RunStatus = RunStatus.RUNNING

    def latest(self) -> dict[str, float]:
        """The highest step, then time, then value (NaN lowest); the first logged on a tie."""
        result = {}
        for key, points in self.points.items():
            best = points[0]
            for point in points[1:]:
                if (point[1], point[2], _order_value(point[0])) > (
                    best[1],
                    best[2],
                    _order_value(best[0]),
                ):
                    best = point
            result[key] = best[0]
        return result

    def history(self, key: str) -> list[Point]:
        """By step, then time, then logging order."""
        return sorted(self.points.get(key, []), key=lambda p: (p[1], p[2]))


class TrackingStoreMachine(RuleBasedStateMachine):
    """Creates runs and logs to them through the real service over a SQLite file."""

    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="mc-state-"))
        url = f"sqlite:///{self.folder / 'mc.db'}"
        artifacts = str(self.folder / "artifacts")
        self.service = LocalTrackingService(
            open_metadata_store(url),
            open_artifact_store(artifacts),
            Settings(uri=url, metadata_url=url, artifacts_url=artifacts),
            capture=False,
        )
        self.model: dict[str, RunModel] = {}

    def teardown(self) -> None:
        self.service.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize(target=runs)
    def first_run(self) -> str:
        return self.create_run_now()

    @rule(target=runs)
    def create_run(self) -> str:
        return self.create_run_now()

    def create_run_now(self) -> str:
        run = self.service.create_run("p")
        self.model[run.id] = RunModel()
        return run.id

    @rule(run_id=runs, params=st.dictionaries(KEYS, PARAM_VALUES, min_size=1, max_size=3))
    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        model = self.model[run_id]
        clash = {k: v for k, v in params.items() if k in model.params and model.params[k] != v}
        if clash:
            key = next(iter(clash))
            with pytest.raises(Conflict, match=rf"param '{key}'"):
                self.service.log_batch(
                    run_id, params=params, metrics=[("clash", 1.0, 0, 0)], tags={"clash": "1"}
                )
            return  # the model is unchanged: nothing of the batch may land
        self.service.log_batch(run_id, params=params)
        model.params.update(params)

    @rule(run_id=runs, points=POINTS)
    def log_metrics(self, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
        self.service.log_batch(run_id, metrics=points)
        model = self.model[run_id]
        for key, value, step, timestamp in points:
            model.points.setdefault(key, []).append((value, step, timestamp))

    @rule(run_id=runs, tags=st.dictionaries(KEYS, TAG_VALUES, min_size=1, max_size=3))
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.service.log_batch(run_id, tags=tags)
        self.model[run_id].tags.update(tags)

    @precondition(lambda self: any(m.status is RunStatus.RUNNING for m in self.model.values()))
    @rule(data=st.data(), status=END_STATUSES)
    def end_run(self, data: st.DataObject, status: RunStatus) -> None:
        running = sorted(r for r, m in self.model.items() if m.status is RunStatus.RUNNING)
        run_id = data.draw(st.sampled_from(running))
        self.service.end_run(run_id, status)
        self.model[run_id].status = status

    @invariant()
    def store_matches_model(self) -> None:
        for run_id, model in self.model.items():
            run = self.service.get_run(run_id)
            assert run.status is model.status
            assert dict(run.params) == model.params
            assert dict(run.tags) == model.tags
            latest = model.latest()
            assert run.metrics.keys() == latest.keys()
            for key, value in latest.items():
                assert _same(run.metrics[key], value), (key, run.metrics[key], value)

    @invariant()
    def histories_match_model(self) -> None:
        for run_id, model in self.model.items():
            for key in [*model.points, "clash"]:
                history = self.service.get_metric_history(run_id, key)
                expected = model.history(key)
                assert list(history.steps) == [p[1] for p in expected]
                assert list(history.timestamps) == [p[2] for p in expected]
                assert all(
                    _same(got, want[0]) for got, want in zip(history.values, expected, strict=True)
                )


TrackingStoreMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_tracking_store_matches_model = pytest.mark.slow(TrackingStoreMachine.TestCase)
