# ruff: noqa: S101  (a shipped test suite: pytest rewrites these asserts, see below)
"""The conformance suite of the ``TrackingService`` port over the SQL metadata store.

Shipped in the package, like ``optuna.testing.pytest_storages``, so that every backend (SQLite,
PostgreSQL, and any later one) runs the same checks. Subclass ``TrackingServiceContract`` in a
test module and provide one fixture, ``tracking_location``, returning a ``StoreLocation``::

    import pytest
    from modelcycle.testing.store_contract import StoreLocation, TrackingServiceContract


    @pytest.fixture
    def tracking_location(tmp_path):
        return StoreLocation(f"sqlite:///{tmp_path}/mc.db", str(tmp_path / "art"), tmp_path)


    class TestSqliteTracking(TrackingServiceContract):
        pass

The contract builds its ``tracking_service`` fixture (a ``LocalTrackingService``) from the
location; a backend that knowingly differs overrides a test and ``pytest.skip``s with the
reason. For readable assertion messages, call
``pytest.register_assert_rewrite("modelcycle.testing.store_contract")`` in a ``conftest.py``
before the module is imported.

Every test asserts behaviour written in ``modelcycle.core.ports.TrackingService``. The reaper
tests write runs as another process would have (through ``SqlMetadataStore``), because a run
of another host or of a dead process cannot be made any other way in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.entities.project import Direction, ProblemCard, Task
from modelcycle.core.entities.run import ArtifactEntry, RunInput, RunStatus
from modelcycle.core.errors import Conflict, InvalidFilter, InvalidInput, NotFound
from modelcycle.core.ids import new_id
from modelcycle.core.settings import Settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import NewRun, SqlMetadataStore, open_metadata_store
from modelcycle.testing.traversal_payloads import TRAVERSAL_PAYLOADS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from modelcycle.core.entities.run import CodeVersion, Run

__all__ = ["StoreLocation", "TrackingServiceContract", "open_tracking_service"]

UNKNOWN_RUN_ID = "0" * 32
"""A well-formed run id that no store holds."""


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store under test lives.

    Attributes:
        metadata_url: The SQLAlchemy URL of an empty database (or one the suite may share).
        artifacts_url: The artifact root, a folder inside ``sandbox``.
        sandbox: A private folder holding every local file of the store; the suite writes its
            source files here too and checks that nothing is written outside the store.
    """

    metadata_url: str
    artifacts_url: str
    sandbox: Path


@contextlib.contextmanager
def open_tracking_service(
    location: StoreLocation, *, killed_after: float = 60.0
) -> Iterator[LocalTrackingService]:
    """A ``LocalTrackingService`` over ``location``; its engine is disposed afterwards."""
    metadata = open_metadata_store(location.metadata_url)
    settings = Settings(
        uri=location.metadata_url,
        metadata_url=location.metadata_url,
        artifacts_url=location.artifacts_url,
        killed_after=killed_after,
    )
    try:
        yield LocalTrackingService(metadata, open_artifact_store(location.artifacts_url), settings)
    finally:
        metadata.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _names(runs: Sequence[Run]) -> list[str | None]:
    return [run.name for run in runs]


def _files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its content: a snapshot of the disk."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _dead_pid() -> int:
    """The pid of a process that has exited and been waited for."""
    probe = subprocess.Popen(["/bin/sh", "-c", "exit 0"])  # noqa: S603 - a fixed argv
    probe.wait()
    return probe.pid


def _write_foreign_run(
    location: StoreLocation,
    project_id: int,
    *,
    host: str,
    pid: int | None,
    heartbeat_at: int,
) -> str:
    """Insert a running run as another process (or host) would have, bypassing the service."""
    run_id = new_id()
    store = SqlMetadataStore(location.metadata_url)
    try:
        store.runs.create(
            NewRun(
                id=run_id,
                project_id=project_id,
                name=f"foreign-{host}-{pid}",
                parent_id=None,
                start_time=heartbeat_at,
                host=host,
                pid=pid,
                code=_no_code(),
                environment=None,
                tags={},
            )
        )
    finally:
        store.close()
    return run_id


def _no_code() -> CodeVersion:
    from modelcycle.core.entities.run import CodeVersion

    return CodeVersion()


# -- the search population --------------------------------------------------------------------

_POPULATION: tuple[tuple[str, Mapping[str, str], Mapping[str, float], Mapping[str, str]], ...] = (
    ("alpha", {"lr": "0.01", "model": "gbm"}, {"acc": 0.9}, {"team": "vision"}),
    ("beta", {"lr": "0.1", "model": "linear"}, {"acc": 0.7}, {"team": "Vision"}),
    ("gamma", {"lr": "0.5", "model": "gbm"}, {}, {}),
    ("delta", {"lr": "auto", "model": "GBM-large"}, {"acc": 0.8}, {}),
)
_POPULATION_STATUS = {
    "alpha": RunStatus.FINISHED,
    "beta": RunStatus.FAILED,
    "gamma": RunStatus.RUNNING,
    "delta": RunStatus.FINISHED,
}


def _populate(service: LocalTrackingService, project: str = "search") -> dict[str, Run]:
    created = {}
    for name, params, metrics, tags in _POPULATION:
        run = service.create_run(project, name=name, tags=tags)
        service.log_batch(
            run.id,
            params=params,
            metrics=[(key, value, 0, _now_ms()) for key, value in metrics.items()],
        )
        status = _POPULATION_STATUS[name]
        if status is not RunStatus.RUNNING:
            service.end_run(run.id, status, error="boom" if status is RunStatus.FAILED else None)
        created[name] = run
    return created


SEARCH_CASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("params.lr < 0.1", frozenset({"alpha"})),
    ("params.lr >= 0.1", frozenset({"beta", "gamma"})),
    ("params.lr != 0.1", frozenset({"alpha", "gamma"})),
    ("params.model = 'gbm'", frozenset({"alpha", "gamma"})),
    ("params.model like 'gbm%'", frozenset({"alpha", "gamma"})),
    ("params.model ilike 'gbm%'", frozenset({"alpha", "gamma", "delta"})),
    ("params.model in ('linear', 'GBM-large')", frozenset({"beta", "delta"})),
    ("params.model not in ('gbm')", frozenset({"beta", "delta"})),
    ("metrics.acc > 0.75", frozenset({"alpha", "delta"})),
    ("metrics.acc is null", frozenset({"gamma"})),
    ("metrics.acc is not null", frozenset({"alpha", "beta", "delta"})),
    ("tags.team = 'vision'", frozenset({"alpha"})),
    ("tags.team ilike 'VISION'", frozenset({"alpha", "beta"})),
    ("tags.team is null", frozenset({"gamma", "delta"})),
    ("tags.team = 'vision' or metrics.acc < 0.75", frozenset({"alpha", "beta"})),
    ("params.model = 'gbm' and not metrics.acc is null", frozenset({"alpha"})),
    ("not (params.model = 'gbm' or params.model = 'linear')", frozenset({"delta"})),
    ("(metrics.acc >= 0.8 or params.lr = 0.5) and NOT name = 'alpha'", frozenset({"gamma", "delta"})),
    ("status = 'finished'", frozenset({"alpha", "delta"})),
    ("attributes.status in ('FAILED', 'running')", frozenset({"beta", "gamma"})),
    ("status != 'finished'", frozenset({"beta", "gamma"})),
    ("name = 'beta'", frozenset({"beta"})),
    ("name like 'g%'", frozenset({"gamma"})),
    ("name not in ('alpha', 'beta')", frozenset({"gamma", "delta"})),
    ("start_time >= 0", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("start_time > '2000-01-01'", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("start_time < '2000-01-01T00:00:00'", frozenset()),
    ("end_time is null", frozenset({"gamma"})),
    ("project = 'search'", frozenset({"alpha", "beta", "gamma", "delta"})),
    ("parent_id is null", frozenset({"alpha", "beta", "gamma", "delta"})),
)

ORDER_CASES: tuple[tuple[Sequence[str] | str, tuple[str, ...]], ...] = (
    ("metrics.acc DESC", ("alpha", "delta", "beta", "gamma")),
    ("metrics.acc", ("beta", "delta", "alpha", "gamma")),
    ("metrics.acc asc", ("beta", "delta", "alpha", "gamma")),
    ("params.lr", ("alpha", "beta", "gamma", "delta")),
    ("params.lr desc", ("delta", "gamma", "beta", "alpha")),
    ("tags.team", ("beta", "alpha", "delta", "gamma")),
    ("name desc", ("gamma", "delta", "beta", "alpha")),
    ("start_time desc", ("delta", "gamma", "beta", "alpha")),
    (["status", "name"], ("beta", "alpha", "delta", "gamma")),
    (["params.model", "metrics.acc desc"], ("delta", "alpha", "gamma", "beta")),
)

MALFORMED_FILTERS: tuple[tuple[str, int], ...] = (
    ("metrics.acc >", 13),
    ("metrics.acc > 0.5 and", 21),
    ("params.lr << 1", 11),
    ("metrics.acc = 'x'", 14),
    ("foo = 1", 0),
    ("name = 'a' or or", 14),
)


class TrackingServiceContract:
    """Every behaviour of the ``TrackingService`` port; subclass it and give a location.

    The subclass provides a ``tracking_location`` fixture (a ``StoreLocation`` over an empty
    store); each test gets a fresh ``tracking_service`` over it.
    """

    @pytest.fixture
    def tracking_service(
        self, tracking_location: StoreLocation
    ) -> Iterator[LocalTrackingService]:
        """A fresh service over the location under test."""
        with open_tracking_service(tracking_location) as service:
            yield service

    # -- projects --------------------------------------------------------------------------

    def test_set_project_creates_then_updates_only_given_fields(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """Card fields change only when given; the rest stay as stored."""
        created = tracking_service.set_project(
            "churn",
            ProblemCard(task=Task.CLASSIFICATION, target="churned", metric="roc_auc", goal=0.8),
        )
        assert created.card.direction is Direction.MAXIMIZE
        updated = tracking_service.set_project("churn", ProblemCard(description="who leaves"))
        assert updated.id == created.id
        assert updated.card == ProblemCard(
            task=Task.CLASSIFICATION,
            target="churned",
            metric="roc_auc",
            direction=Direction.MAXIMIZE,
            goal=0.8,
            description="who leaves",
        )
        again = tracking_service.set_project("churn")
        assert again.card == updated.card
        assert tracking_service.get_project("churn") == again

    @pytest.mark.parametrize(
        ("metric", "direction"),
        [("roc_auc", Direction.MAXIMIZE), ("RMSE", Direction.MINIMIZE), ("f1", Direction.MAXIMIZE)],
    )
    def test_set_project_infers_direction_of_known_metrics(
        self, tracking_service: LocalTrackingService, metric: str, direction: Direction
    ) -> None:
        """A well-known metric name gives its direction without being told."""
        project = tracking_service.set_project("p", ProblemCard(metric=metric, goal=0.5))
        assert project.card.direction is direction

    def test_set_project_refuses_a_goal_on_a_metric_of_unknown_direction(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """A goal on an unknown metric needs an explicit direction; nothing is written."""
        with pytest.raises(InvalidInput, match=r"direction of metric 'zork' is unknown"):
            tracking_service.set_project("p", ProblemCard(metric="zork", goal=3.0))
        with pytest.raises(NotFound, match=r"no project named 'p'"):
            tracking_service.get_project("p")
        explicit = ProblemCard(metric="zork", goal=3.0, direction=Direction.MINIMIZE)
        assert tracking_service.set_project("p", explicit).card.direction is Direction.MINIMIZE
        no_goal = tracking_service.set_project("q", ProblemCard(metric="zork"))
        assert no_goal.card.direction is None

    def test_set_project_refuses_a_goal_without_a_metric(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """A goal is a bar on the primary metric, so it needs one."""
        with pytest.raises(InvalidInput, match=r"a goal needs a metric"):
            tracking_service.set_project("p", ProblemCard(goal=0.9))

    @pytest.mark.parametrize("name", ["", "-lead", "has space", "a/b", "x" * 129])
    def test_set_project_refuses_malformed_names(
        self, tracking_service: LocalTrackingService, name: str
    ) -> None:
        """Project names are 1-128 of letters, digits, '.', '_', '-'."""
        with pytest.raises(InvalidInput, match=r"project name"):
            tracking_service.set_project(name)

    def test_projects_are_listed_by_name_and_unknown_is_not_found(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """``list_projects`` sorts by name; ``get_project`` of an unknown name raises."""
        for name in ("b", "c", "a"):
            tracking_service.set_project(name)
        assert [p.name for p in tracking_service.list_projects()] == ["a", "b", "c"]
        with pytest.raises(NotFound, match=r"no project named 'zz'"):
            tracking_service.get_project("zz")

    # -- runs ------------------------------------------------------------------------------

    def test_create_run_captures_environment_and_code(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """The environment digest resolves; the entry point is recorded."""
        run = tracking_service.create_run("p", name="first", tags={"team": "a"})
        stored = tracking_service.get_run(run.id)
        assert stored.status is RunStatus.RUNNING
        assert stored.name == "first"
        assert stored.project == "p"
        assert stored.tags == {"team": "a"}
        assert stored.end_time is None
        assert stored.code.entry_point
        assert stored.environment_digest is not None
        environment = tracking_service.get_environment(stored.environment_digest)
        assert environment.digest == stored.environment_digest
        assert environment.python_version == platform.python_version()
        assert any(pin.startswith("modelcycle==") for pin in environment.packages)
        with pytest.raises(NotFound, match=r"no environment with digest"):
            tracking_service.get_environment("f" * 64)

    def test_create_run_creates_a_missing_project(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """A run in a project never set creates it (the fluent API's default project)."""
        run = tracking_service.create_run("fresh")
        assert tracking_service.get_project("fresh").name == "fresh"
        assert tracking_service.get_run(run.id).project == "fresh"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"name": "n" * 251}, r"run name must be text of at most 250"),
            ({"tags": {"bad key!": "v"}}, r"tag key 'bad key!' may hold only"),
            ({"tags": {"k" * 251: "v"}}, r"tag key 'kkkk.*must be 1 to 250"),
            ({"tags": {"big": "v" * 8001}}, r"tag 'big' is 8001 characters long"),
            ({"parent_id": "not-an-id"}, r"parent run id 'not-an-id' is not a 32-character"),
        ],
    )
    def test_create_run_refuses_malformed_input(
        self,
        tracking_service: LocalTrackingService,
        kwargs: dict[str, object],
        message: str,
    ) -> None:
        """Malformed names, tags and parent ids are refused with the offending value."""
        with pytest.raises(InvalidInput, match=message):
            tracking_service.create_run("p", **kwargs)  # type: ignore[arg-type]
        assert tracking_service.search_runs().runs == ()

    def test_nested_runs_record_their_parent(self, tracking_service: LocalTrackingService) -> None:
        """A child run names its parent; an unknown parent is NotFound."""
        parent = tracking_service.create_run("p", name="parent")
        child = tracking_service.create_run("p", name="child", parent_id=parent.id)
        assert tracking_service.get_run(child.id).parent_id == parent.id
        assert tracking_service.get_run(parent.id).parent_id is None
        page = tracking_service.search_runs(filter=f"parent_id = '{parent.id}'")
        assert _names(page.runs) == ["child"]
        with pytest.raises(NotFound, match=rf"no parent run with id '{UNKNOWN_RUN_ID}'"):
            tracking_service.create_run("p", parent_id=UNKNOWN_RUN_ID)

    # -- params ----------------------------------------------------------------------------

    def test_params_are_immutable(self, tracking_service: LocalTrackingService) -> None:
        """Re-logging a param with its value is a no-op; another value is a Conflict."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(run.id, params={"lr": "0.1", "depth": "3"})
        tracking_service.log_batch(run.id, params={"lr": "0.1"})
        with pytest.raises(Conflict, match=r"param 'lr' .* is already '0\.1'.* to '0\.2'"):
            tracking_service.log_batch(run.id, params={"lr": "0.2"})
        assert tracking_service.get_run(run.id).params == {"lr": "0.1", "depth": "3"}

    def test_a_conflicting_batch_writes_nothing(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """The batch holding a conflicting param rolls back whole: params, metrics and tags."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(run.id, params={"lr": "0.1"}, tags={"t": "before"})
        with pytest.raises(Conflict, match=r"param 'lr'.*'0\.1'.*'0\.5'"):
            tracking_service.log_batch(
                run.id,
                params={"new": "x", "lr": "0.5", "later": "y"},
                metrics=[("loss", 1.0, 0, _now_ms())],
                tags={"t": "after", "u": "1"},
            )
        stored = tracking_service.get_run(run.id)
        assert stored.params == {"lr": "0.1"}
        assert stored.tags == {"t": "before"}
        assert stored.metrics == {}
        assert len(tracking_service.get_metric_history(run.id, "loss")) == 0
        assert tracking_service.search_runs(filter="params.new is not null").runs == ()
        assert tracking_service.search_runs(filter="tags.u is not null").runs == ()
        assert tracking_service.search_runs(filter="metrics.loss is not null").runs == ()

    @pytest.mark.parametrize(
        ("batch", "message"),
        [
            ({"params": {"big": "x" * 6001}}, r"param 'big' is 6001 characters long"),
            ({"params": {"k" * 251: "v"}}, r"param key 'kkkk.*must be 1 to 250 characters"),
            ({"params": {"": "v"}}, r"param key '' must be 1 to 250"),
            ({"params": {"../up": "v"}}, r"param key '\.\./up' may hold only"),
            ({"tags": {"big": "x" * 8001}}, r"tag 'big' is 8001 characters long"),
            ({"tags": {"a\nb": "v"}}, r"tag key 'a\\nb' may hold only"),
            ({"metrics": [("m" * 251, 1.0, 0, 0)]}, r"metric key 'mmmm.*must be 1 to 250"),
            ({"metrics": [("m", "1.0", 0, 0)]}, r"metric 'm' must be a real number, got str"),
            ({"metrics": [("m", True, 0, 0)]}, r"metric 'm' must be a real number, got bool"),
            ({"metrics": [("m", 1.0, -1, 0)]}, r"step of metric 'm' must be an integer >= 0"),
        ],
    )
    def test_log_batch_refuses_malformed_input(
        self,
        tracking_service: LocalTrackingService,
        batch: dict[str, object],
        message: str,
    ) -> None:
        """Oversize values and malformed keys are refused, naming the key; nothing lands."""
        run = tracking_service.create_run("p")
        with pytest.raises(InvalidInput, match=message):
            tracking_service.log_batch(run.id, **batch)  # type: ignore[arg-type]
        stored = tracking_service.get_run(run.id)
        assert (stored.params, stored.metrics, stored.tags) == ({}, {}, {})

    def test_limits_are_inclusive(self, tracking_service: LocalTrackingService) -> None:
        """A 250-character key and a 6000-character param are accepted."""
        run = tracking_service.create_run("p")
        key = "k" * 250
        tracking_service.log_batch(run.id, params={key: "v" * 6000}, tags={key: "t" * 8000})
        stored = tracking_service.get_run(run.id)
        assert stored.params == {key: "v" * 6000}
        assert stored.tags == {key: "t" * 8000}

    # -- metrics ---------------------------------------------------------------------------

    def test_metric_history_is_ordered_by_step_then_time(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """Points logged out of order, across batches, read back sorted; latest = top step."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(
            run.id, metrics=[("loss", 0.5, 5, 1000), ("loss", 0.9, 1, 3000), ("acc", 0.1, 0, 0)]
        )
        tracking_service.log_batch(
            run.id, metrics=[("loss", 0.7, 3, 500), ("loss", 0.8, 1, 2000), ("loss", 0.6, 5, 900)]
        )
        tracking_service.log_batch(run.id, metrics=[("loss", 0.4, 2, 9000)])
        history = tracking_service.get_metric_history(run.id, "loss")
        assert history.key == "loss"
        assert list(history.steps) == [1, 1, 2, 3, 5, 5]
        assert list(history.timestamps) == [2000, 3000, 9000, 500, 900, 1000]
        assert list(history.values) == [0.8, 0.9, 0.4, 0.7, 0.6, 0.5]
        assert [tuple(p) for p in history][:2] == [(0.8, 1, 2000), (0.9, 1, 3000)]
        stored = tracking_service.get_run(run.id)
        assert stored.metrics == {"loss": 0.5, "acc": 0.1}  # step 5, latest time at step 5
        assert len(tracking_service.get_metric_history(run.id, "never")) == 0

    def test_an_earlier_step_logged_later_does_not_become_latest(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """The latest value is the highest step's, whatever the logging order."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(run.id, metrics=[("m", 10.0, 10, 1)])
        tracking_service.log_batch(run.id, metrics=[("m", 3.0, 3, 99_999)])
        assert tracking_service.get_run(run.id).metrics == {"m": 10.0}
        page = tracking_service.search_runs(filter="metrics.m = 10")
        assert [r.id for r in page.runs] == [run.id]

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
    def test_non_finite_metric_values_round_trip(
        self, tracking_service: LocalTrackingService, value: float
    ) -> None:
        """NaN and the infinities are stored and read back as such, latest and in history."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(run.id, metrics=[("x", 1.0, 0, 1), ("x", value, 1, 2)])
        latest = tracking_service.get_run(run.id).metrics["x"]
        history = tracking_service.get_metric_history(run.id, "x")
        assert list(history.steps) == [0, 1]
        assert history.values[0] == 1.0
        for read in (latest, history.values[1]):
            if math.isnan(value):
                assert math.isnan(read)
            else:
                assert read == value
        found = tracking_service.search_runs(filter="metrics.x is not null").runs
        assert [r.id for r in found] == [run.id]
        assert found[0].metrics.keys() == {"x"}
        if math.isnan(value):
            assert math.isnan(found[0].metrics["x"])
        else:
            assert found[0].metrics["x"] == value

    def test_a_nan_logged_on_a_lower_step_does_not_mask_the_latest(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """Latest is by step even when a lower step holds NaN, in either batch order."""
        run = tracking_service.create_run("p")
        tracking_service.log_batch(run.id, metrics=[("x", 2.0, 4, 1)])
        tracking_service.log_batch(run.id, metrics=[("x", math.nan, 2, 5)])
        assert tracking_service.get_run(run.id).metrics == {"x": 2.0}

    # -- tags and ending -------------------------------------------------------------------

    def test_tags_are_overwritten(self, tracking_service: LocalTrackingService) -> None:
        """A tag logged again takes the new value; others stay."""
        run = tracking_service.create_run("p", tags={"stage": "dev", "owner": "ann"})
        tracking_service.log_batch(run.id, tags={"stage": "prod"})
        tracking_service.log_batch(run.id, tags={"stage": "prod", "extra": "1"})
        assert tracking_service.get_run(run.id).tags == {
            "stage": "prod",
            "owner": "ann",
            "extra": "1",
        }
        assert _names(tracking_service.search_runs(filter="tags.stage = 'dev'").runs) == []

    def test_end_run_finishes_with_a_last_batch(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """Ending sets the status and end time, and writes the last batch with it."""
        run = tracking_service.create_run("p")
        tracking_service.end_run(run.id, metrics=[("m", 1.5, 0, 7)], tags={"done": "yes"})
        stored = tracking_service.get_run(run.id)
        assert stored.status is RunStatus.FINISHED
        assert stored.end_time is not None
        assert stored.end_time >= stored.start_time
        assert stored.error is None
        assert stored.metrics == {"m": 1.5}
        assert stored.tags == {"done": "yes"}

    def test_end_run_failed_records_the_error(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """A failed run keeps its error text."""
        run = tracking_service.create_run("p")
        tracking_service.end_run(run.id, RunStatus.FAILED, error="ValueError: bad fold")
        stored = tracking_service.get_run(run.id)
        assert stored.status is RunStatus.FAILED
        assert stored.error == "ValueError: bad fold"
        assert stored.end_time is not None
        assert stored.end_time >= stored.start_time

    def test_end_run_refuses_running(self, tracking_service: LocalTrackingService) -> None:
        """'running' is not an end."""
        run = tracking_service.create_run("p")
        with pytest.raises(InvalidInput, match=r"cannot be ended with status 'running'"):
            tracking_service.end_run(run.id, RunStatus.RUNNING)
        assert tracking_service.get_run(run.id).status is RunStatus.RUNNING

    # -- unknown and malformed run ids -----------------------------------------------------

    @pytest.mark.parametrize(
        "call",
        [
            "get_run",
            "get_metric_history",
            "log_batch",
            "end_run",
            "log_inputs",
            "log_artifact",
            "download_artifacts",
        ],
    )
    @pytest.mark.parametrize(
        ("run_id", "error", "message"),
        [
            (UNKNOWN_RUN_ID, NotFound, rf"no run with id '{UNKNOWN_RUN_ID}'"),
            ("not-a-run", InvalidInput, r"run id 'not-a-run' is not a 32-character hex id"),
            (UNKNOWN_RUN_ID.upper().replace("0", "A"), InvalidInput, r"is not a 32-character"),
        ],
    )
    def test_run_ids_are_checked(
        self,
        tracking_service: LocalTrackingService,
        tracking_location: StoreLocation,
        call: str,
        run_id: str,
        error: type[Exception],
        message: str,
    ) -> None:
        """An unknown run id is NotFound; a malformed one is InvalidInput, on every call."""
        source = tracking_location.sandbox / "source.txt"
        source.write_text("x")
        calls = {
            "get_run": lambda: tracking_service.get_run(run_id),
            "get_metric_history": lambda: tracking_service.get_metric_history(run_id, "m"),
            "log_batch": lambda: tracking_service.log_batch(run_id, params={"a": "1"}),
            "end_run": lambda: tracking_service.end_run(run_id),
            "log_inputs": lambda: tracking_service.log_inputs(run_id, [("ds-1", "train")]),
            "log_artifact": lambda: tracking_service.log_artifact(run_id, source),
            "download_artifacts": lambda: tracking_service.download_artifacts(
                run_id, tracking_location.sandbox / "out"
            ),
        }
        with pytest.raises(error, match=message):
            calls[call]()

    # -- search ----------------------------------------------------------------------------

    @pytest.mark.parametrize(("filter_text", "expected"), SEARCH_CASES)
    def test_search_filters(
        self,
        tracking_service: LocalTrackingService,
        filter_text: str,
        expected: frozenset[str],
    ) -> None:
        """Each part of the grammar selects the runs it describes."""
        _populate(tracking_service)
        tracking_service.create_run("elsewhere", name="other")
        page = tracking_service.search_runs(projects=["search"], filter=filter_text)
        assert set(_names(page.runs)) == expected
        assert page.next_page_token is None

    @pytest.mark.parametrize(("order_by", "expected"), ORDER_CASES)
    def test_search_orders(
        self,
        tracking_service: LocalTrackingService,
        order_by: Sequence[str] | str,
        expected: tuple[str, ...],
    ) -> None:
        """Order by metric, param, tag or attribute; runs missing the key come last."""
        _populate(tracking_service)
        page = tracking_service.search_runs(projects=["search"], order_by=order_by)
        assert tuple(_names(page.runs)) == expected

    def test_search_by_project(self, tracking_service: LocalTrackingService) -> None:
        """``projects`` narrows the search; None searches all; unknown is NotFound."""
        tracking_service.create_run("a", name="in-a")
        tracking_service.create_run("b", name="in-b")
        assert _names(tracking_service.search_runs(projects=["a"]).runs) == ["in-a"]
        assert set(_names(tracking_service.search_runs().runs)) == {"in-a", "in-b"}
        assert len(tracking_service.search_runs(projects=["a", "b"]).runs) == 2
        with pytest.raises(NotFound, match=r"no project named 'nope'"):
            tracking_service.search_runs(projects=["nope"])

    @pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 8])
    @pytest.mark.parametrize(
        "order_by",
        [None, "metrics.m", "metrics.m desc", "params.p desc", "tags.t", "name", "start_time"],
    )
    def test_search_pages_cover_every_run_once(
        self, tracking_service: LocalTrackingService, order_by: str | None, limit: int
    ) -> None:
        """Pages concatenate to the one-page answer: no run twice, none missing."""
        for index, value in enumerate([3.0, 1.0, None, 2.0, None, 0.0, None]):
            run = tracking_service.create_run("p", name=f"r{index}")
            if value is not None:
                tracking_service.log_batch(
                    run.id,
                    params={"p": f"v{value}"},
                    metrics=[("m", value, 0, 0)],
                    tags={"t": str(value)},
                )
        whole = tracking_service.search_runs(order_by=order_by, limit=100).runs
        assert len(whole) == 7
        pages: list[Run] = []
        token: str | None = None
        for _ in range(10):
            page = tracking_service.search_runs(order_by=order_by, limit=limit, page_token=token)
            assert len(page.runs) <= limit
            pages.extend(page.runs)
            token = page.next_page_token
            if token is None:
                break
        assert [r.id for r in pages] == [r.id for r in whole]
        if order_by is not None and order_by.split()[0] in ("metrics.m", "params.p", "tags.t"):
            assert {r.name for r in whole[4:]} == {"r2", "r4", "r6"}  # missing: last
        if order_by == "metrics.m":
            assert _names(whole[:4]) == ["r5", "r1", "r3", "r0"]
        if order_by == "metrics.m desc":
            assert _names(whole[:4]) == ["r0", "r3", "r1", "r5"]

    @pytest.mark.parametrize("limit", [0, -1, 50_001, 2.0, True])
    def test_search_limit_bounds(
        self, tracking_service: LocalTrackingService, limit: object
    ) -> None:
        """``limit`` is an integer from 1 to 50,000."""
        with pytest.raises(InvalidInput, match=r"limit must be an integer from 1 to 50000"):
            tracking_service.search_runs(limit=limit)  # type: ignore[arg-type]

    def test_search_max_limit_is_accepted(self, tracking_service: LocalTrackingService) -> None:
        """The upper bound itself is allowed."""
        tracking_service.create_run("p")
        assert len(tracking_service.search_runs(limit=50_000).runs) == 1

    def test_page_tokens_belong_to_their_search(
        self, tracking_service: LocalTrackingService
    ) -> None:
        """A token from another query, or not a token at all, is InvalidInput."""
        for index in range(3):
            tracking_service.create_run("p", name=f"r{index}")
        token = tracking_service.search_runs(limit=1).next_page_token
        assert token is not None
        with pytest.raises(InvalidInput, match=r"page token belongs to another search"):
            tracking_service.search_runs(limit=1, filter="name = 'r1'", page_token=token)
        with pytest.raises(InvalidInput, match=r"page token belongs to another search"):
            tracking_service.search_runs(limit=1, order_by="name", page_token=token)
        with pytest.raises(InvalidInput, match=r"page token 'garbage!' is not one"):
            tracking_service.search_runs(limit=1, page_token="garbage!")
        assert len(tracking_service.search_runs(limit=1, page_token=token).runs) == 1

    @pytest.mark.parametrize(("filter_text", "position"), MALFORMED_FILTERS)
    def test_malformed_filters_point_at_the_mistake(
        self, tracking_service: LocalTrackingService, filter_text: str, position: int
    ) -> None:
        """InvalidFilter carries the offset of the offending token, in the message too."""
        with pytest.raises(InvalidFilter, match=rf"at position {position}:") as caught:
            tracking_service.search_runs(filter=filter_text)
        assert caught.value.position == position
        assert caught.value.text == filter_text
        assert str(caught.value).endswith(" " * position + "^")

    @pytest.mark.parametrize(
        ("order_by", "message"),
        [("metrics.", r"order"), ("foo", r"foo"), ("name sideways", r"sideways")],
    )
    def test_malformed_order_keys_are_refused(
        self, tracking_service: LocalTrackingService, order_by: str, message: str
    ) -> None:
        """A bad order key is InvalidInput naming it."""
        with pytest.raises(InvalidInput, match=message):
            tracking_service.search_runs(order_by=order_by)

    # -- artifacts -------------------------------------------------------------------------

    def test_log_and_download_a_file_and_a_folder(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """Files are stored by content under confined names and come back identical."""
        sandbox = tracking_location.sandbox
        model = sandbox / "src" / "model.bin"
        model.parent.mkdir(parents=True)
        model.write_bytes(b"\x00weights\xff" * 100)
        plots = sandbox / "src" / "plots"
        (plots / "sub").mkdir(parents=True)
        (plots / "roc.png").write_bytes(b"png-roc")
        (plots / "sub" / "pr.png").write_bytes(b"png-pr")
        run = tracking_service.create_run("p")
        [entry] = tracking_service.log_artifact(run.id, model)
        assert entry == ArtifactEntry(
            "model.bin", hashlib.sha256(model.read_bytes()).hexdigest(), 1000
        )
        folder = tracking_service.log_artifact(run.id, plots, name="figures")
        assert [e.path for e in folder] == ["figures/roc.png", "figures/sub/pr.png"]
        stored = tracking_service.get_run(run.id).artifacts
        assert [e.path for e in stored] == ["figures/roc.png", "figures/sub/pr.png", "model.bin"]
        out = tracking_service.download_artifacts(run.id, sandbox / "out")
        assert out == sandbox / "out"
        assert _files_under(out) == {
            "model.bin": model.read_bytes(),
            "figures/roc.png": b"png-roc",
            "figures/sub/pr.png": b"png-pr",
        }
        sub = tracking_service.download_artifacts(run.id, sandbox / "only", "figures/sub")
        assert _files_under(sandbox / "only") == {"figures/sub/pr.png": b"png-pr"}
        assert sub.name == "sub"
        with pytest.raises(NotFound, match=r"has no artifact 'nothing'"):
            tracking_service.download_artifacts(run.id, sandbox / "none", "nothing")

    def test_logging_an_artifact_again_replaces_it(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """The same name logged twice holds the latest content."""
        source = tracking_location.sandbox / "notes.txt"
        run = tracking_service.create_run("p")
        source.write_text("one")
        tracking_service.log_artifact(run.id, source)
        source.write_text("two!")
        tracking_service.log_artifact(run.id, source)
        [entry] = tracking_service.get_run(run.id).artifacts
        assert entry.size == 4
        out = tracking_service.download_artifacts(run.id, tracking_location.sandbox / "out")
        assert (out / "notes.txt").read_text() == "two!"

    def test_log_artifact_refuses_missing_sources(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """A missing file or an empty folder is InvalidInput."""
        run = tracking_service.create_run("p")
        with pytest.raises(InvalidInput, match=r"no such file or folder"):
            tracking_service.log_artifact(run.id, tracking_location.sandbox / "absent")
        (tracking_location.sandbox / "empty").mkdir()
        with pytest.raises(InvalidInput, match=r"the folder holds no files"):
            tracking_service.log_artifact(run.id, tracking_location.sandbox / "empty")

    def test_hostile_artifact_names_write_nothing(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """Every traversal payload is refused, as a name or a download path; the disk is unchanged.

        One test over all payloads (not one per payload) keeps the store opened once.
        """
        sandbox = tracking_location.sandbox
        source = sandbox / "deep" / "er" / "payload.txt"
        source.parent.mkdir(parents=True)
        source.write_text("secret")
        run = tracking_service.create_run("p")
        tracking_service.log_artifact(run.id, source, name="kept.txt")
        watched = sandbox.parent
        before = _files_under(watched)
        accepted = []
        for payload in TRAVERSAL_PAYLOADS:
            try:
                tracking_service.log_artifact(run.id, source, name=payload)
            except InvalidInput:
                pass
            else:
                accepted.append(payload)
            if not payload:
                continue  # download's path="" means "every artifact", like None
            try:
                tracking_service.download_artifacts(run.id, source.parent / "dl", payload)
            except InvalidInput:
                pass
            except NotFound:
                accepted.append(f"download {payload!r}")
        assert accepted == []
        assert _files_under(watched) == before
        assert [e.path for e in tracking_service.get_run(run.id).artifacts] == ["kept.txt"]

    # -- inputs ----------------------------------------------------------------------------

    def test_log_inputs_with_roles(self, tracking_service: LocalTrackingService) -> None:
        """Inputs come back on ``get_run`` by role; logging one again is idempotent."""
        run = tracking_service.create_run("p")
        tracking_service.log_inputs(run.id, [("ds-train-1", "train"), ("ds-test-1", "test")])
        tracking_service.log_inputs(run.id, [("ds-train-1", "train"), ("ds-train-1", "valid")])
        assert tracking_service.get_run(run.id).inputs == (
            RunInput("ds-test-1", "test"),
            RunInput("ds-train-1", "train"),
            RunInput("ds-train-1", "valid"),
        )

    @pytest.mark.parametrize(
        ("inputs", "message"),
        [
            ([("", "train")], r"dataset version id '' must be 1-64"),
            ([("x" * 65, "train")], r"must be 1-64 characters"),
            ([("ds", "bad role!")], r"input role key 'bad role!' may hold only"),
        ],
    )
    def test_log_inputs_refuses_malformed(
        self,
        tracking_service: LocalTrackingService,
        inputs: list[tuple[str, str]],
        message: str,
    ) -> None:
        """Malformed version ids and roles are InvalidInput."""
        run = tracking_service.create_run("p")
        with pytest.raises(InvalidInput, match=message):
            tracking_service.log_inputs(run.id, inputs)
        assert tracking_service.get_run(run.id).inputs == ()

    # -- liveness --------------------------------------------------------------------------

    def test_runs_of_a_dead_process_are_killed(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """A run of a dead pid on this host is ``killed``; this process's runs are not."""
        project = tracking_service.set_project("p")
        mine = tracking_service.create_run("p", name="mine")
        dead = _write_foreign_run(
            tracking_location,
            project.id,
            host=socket.gethostname(),
            pid=_dead_pid(),
            heartbeat_at=_now_ms(),
        )
        stored = tracking_service.get_run(dead)
        assert stored.status is RunStatus.KILLED
        assert stored.end_time is not None
        assert stored.error
        assert tracking_service.get_run(mine.id).status is RunStatus.RUNNING
        killed = tracking_service.search_runs(filter="status = 'killed'").runs
        assert [r.id for r in killed] == [dead]

    def test_runs_of_another_host_are_killed_by_stale_heartbeat(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """Elsewhere the heartbeat decides: stale is killed, fresh stays running."""
        project = tracking_service.set_project("p")
        long_ago = _now_ms() - 3_600_000
        stale = _write_foreign_run(
            tracking_location, project.id, host="elsewhere", pid=1, heartbeat_at=long_ago
        )
        fresh = _write_foreign_run(
            tracking_location, project.id, host="elsewhere", pid=1, heartbeat_at=_now_ms()
        )
        statuses = {r.id: r.status for r in tracking_service.search_runs().runs}
        assert statuses == {stale: RunStatus.KILLED, fresh: RunStatus.RUNNING}
        assert tracking_service.get_run(stale).status is RunStatus.KILLED
        assert tracking_service.get_run(fresh).status is RunStatus.RUNNING

    def test_every_read_reports_a_dead_run(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """The port: a dead run is ``killed`` on *every* read, even one right after another."""
        project = tracking_service.set_project("p")
        mine = tracking_service.create_run("p")
        assert tracking_service.get_run(mine.id).status is RunStatus.RUNNING  # a first read
        dead = _write_foreign_run(
            tracking_location,
            project.id,
            host=socket.gethostname(),
            pid=_dead_pid(),
            heartbeat_at=_now_ms(),
        )
        assert tracking_service.get_run(dead).status is RunStatus.KILLED
        found = tracking_service.search_runs(filter="status = 'running'").runs
        assert [r.id for r in found] == [mine.id]

    def test_heartbeat_keeps_a_foreign_run_alive(
        self, tracking_location: StoreLocation, tracking_service: LocalTrackingService
    ) -> None:
        """A heartbeat refreshes a running run; ended runs are left alone."""
        project = tracking_service.set_project("p")
        long_ago = _now_ms() - 3_600_000
        foreign = _write_foreign_run(
            tracking_location, project.id, host="elsewhere", pid=1, heartbeat_at=long_ago
        )
        ended = tracking_service.create_run("p")
        tracking_service.end_run(ended.id)
        end_time = tracking_service.get_run(ended.id).heartbeat_at
        with open_tracking_service(tracking_location) as other:
            other.heartbeat([foreign, ended.id])
        stored = tracking_service.get_run(foreign)
        assert stored.status is RunStatus.RUNNING
        assert stored.heartbeat_at is not None
        assert stored.heartbeat_at > long_ago
        assert tracking_service.get_run(ended.id).heartbeat_at == end_time
