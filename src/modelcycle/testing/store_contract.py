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

import math
import platform
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.entities.project import Direction, ProblemCard, Task
from modelcycle.core.entities.run import RunStatus
from modelcycle.core.errors import Conflict, InvalidFilter, InvalidInput, NotFound
from modelcycle.testing._contract_artifacts import ArtifactsInputsLivenessContract
from modelcycle.testing._contract_data import (
    MALFORMED_FILTERS,
    ORDER_CASES,
    SEARCH_CASES,
    StoreLocation,
    _all_pages,
    _names,
    _now_ms,
    _populate,
    open_tracking_service,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from modelcycle.services.tracking import LocalTrackingService


__all__ = ["StoreLocation", "TrackingServiceContract", "open_tracking_service"]

UNKNOWN_RUN_ID = "0" * 32
"""A well-formed run id that no store holds."""


class TrackingServiceContract(ArtifactsInputsLivenessContract):
    """Every behaviour of the ``TrackingService`` port; subclass it and give a location.

    The subclass provides a ``tracking_location`` fixture (a ``StoreLocation`` over an empty
    store); each test gets a fresh ``tracking_service`` over it.
    """

    @pytest.fixture
    def tracking_service(self, tracking_location: StoreLocation) -> Iterator[LocalTrackingService]:
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

    def test_end_run_failed_records_the_error(self, tracking_service: LocalTrackingService) -> None:
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
        ("run_id", "error", "message"),
        [
            (UNKNOWN_RUN_ID, NotFound, rf"no run with id '{UNKNOWN_RUN_ID}'"),
            ("not-a-run", InvalidInput, r"run id 'not-a-run' is not a 32-character hex id"),
            ("A" * 32, InvalidInput, r"run id 'A{32}' is not a 32-character hex id"),
        ],
    )
    def test_run_ids_are_checked(
        self,
        tracking_service: LocalTrackingService,
        tracking_location: StoreLocation,
        run_id: str,
        error: type[Exception],
        message: str,
    ) -> None:
        """An unknown run id is NotFound; a malformed one is InvalidInput, on every call."""
        source = tracking_location.sandbox / "source.txt"
        source.write_text("x")
        out = tracking_location.sandbox / "out"
        calls: dict[str, Callable[[], object]] = {
            "get_run": lambda: tracking_service.get_run(run_id),
            "get_metric_history": lambda: tracking_service.get_metric_history(run_id, "m"),
            "log_batch": lambda: tracking_service.log_batch(run_id, params={"a": "1"}),
            "end_run": lambda: tracking_service.end_run(run_id),
            "log_inputs": lambda: tracking_service.log_inputs(run_id, [("ds-1", "train")]),
            "log_artifact": lambda: tracking_service.log_artifact(run_id, source),
            "download_artifacts": lambda: tracking_service.download_artifacts(run_id, out),
        }
        for name, call in calls.items():
            with pytest.raises(error, match=message):
                call()
            assert not out.exists(), name

    # -- search ----------------------------------------------------------------------------

    def test_search_filters(self, tracking_service: LocalTrackingService) -> None:
        """Each part of the grammar selects the runs it describes (``SEARCH_CASES``).

        One population answers every case, so the cases run in a loop; the assertion lists
        every case that went wrong.
        """
        _populate(tracking_service)
        tracking_service.create_run("elsewhere", name="other")
        wrong = {}
        for filter_text, expected in SEARCH_CASES:
            page = tracking_service.search_runs(projects=["search"], filter=filter_text)
            found = set(_names(page.runs))
            if found != expected or page.next_page_token is not None:
                wrong[filter_text] = (sorted(found), sorted(expected))
        assert wrong == {}

    def test_search_orders(self, tracking_service: LocalTrackingService) -> None:
        """Order by metric, param, tag or attribute; runs missing the key come last.

        The cases (``ORDER_CASES``) share one population and run in a loop.
        """
        _populate(tracking_service)
        wrong = {}
        for order_by, expected in ORDER_CASES:
            page = tracking_service.search_runs(projects=["search"], order_by=order_by)
            found = tuple(_names(page.runs))
            if found != expected:
                wrong[str(order_by)] = (found, expected)
        assert wrong == {}

    def test_search_by_project(self, tracking_service: LocalTrackingService) -> None:
        """``projects`` narrows the search; None searches all; unknown is NotFound."""
        tracking_service.create_run("a", name="in-a")
        tracking_service.create_run("b", name="in-b")
        assert _names(tracking_service.search_runs(projects=["a"]).runs) == ["in-a"]
        assert set(_names(tracking_service.search_runs().runs)) == {"in-a", "in-b"}
        assert len(tracking_service.search_runs(projects=["a", "b"]).runs) == 2
        with pytest.raises(NotFound, match=r"no project named 'nope'"):
            tracking_service.search_runs(projects=["nope"])

    @pytest.mark.parametrize(
        "order_by",
        [None, "metrics.m", "metrics.m desc", "params.p desc", "tags.t", "name", "start_time"],
    )
    def test_search_pages_cover_every_run_once(
        self, tracking_service: LocalTrackingService, order_by: str | None
    ) -> None:
        """Pages of any size concatenate to the one-page answer: no run twice, none missing.

        Seven runs, three without the ordered key, so page boundaries fall before, inside
        and after the switch from runs with the key to runs without.
        """
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
        for limit in (1, 2, 3, 4, 6, 7, 8):
            pages = _all_pages(tracking_service, order_by, limit)
            assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1), limit
            assert [r.id for page in pages for r in page] == [r.id for r in whole], limit
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
        garbage = "garbage!"
        with pytest.raises(InvalidInput, match=r"page token 'garbage!' is not one"):
            tracking_service.search_runs(limit=1, page_token=garbage)
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
        [("metrics.", r"after 'metrics\.'"), ("foo", r"foo"), ("name sideways", r"sideways")],
    )
    def test_malformed_order_keys_are_refused(
        self, tracking_service: LocalTrackingService, order_by: str, message: str
    ) -> None:
        """A bad order key is InvalidInput naming it."""
        with pytest.raises(InvalidInput, match=message):
            tracking_service.search_runs(order_by=order_by)
