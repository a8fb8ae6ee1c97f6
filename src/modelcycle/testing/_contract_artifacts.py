# ruff: noqa: S101  (a shipped test suite: pytest rewrites these asserts, see store_contract)
"""Artifact, input and liveness behaviours of the tracking contract (see ``store_contract``)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.entities.run import ArtifactEntry, RunInput, RunStatus
from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.tracking.liveness import host_identity
from modelcycle.testing._contract_data import (
    _dead_pid,
    _files_under,
    _now_ms,
    _write_foreign_run,
    open_tracking_service,
)
from modelcycle.testing.traversal_payloads import TRAVERSAL_PAYLOADS

if TYPE_CHECKING:
    from modelcycle.services.tracking import LocalTrackingService
    from modelcycle.testing._contract_data import StoreLocation


class ArtifactsInputsLivenessContract:
    """The second half of ``TrackingServiceContract``; needs its ``tracking_service`` fixture."""

    # -- artifacts -------------------------------------------------------------------------

    def test_log_and_download_a_file_and_a_folder(
        self, tracking_service: LocalTrackingService, tracking_location: StoreLocation
    ) -> None:
        """Files are stored by content under confined names and come back identical."""
        sandbox = tracking_location.sandbox
        model = sandbox / "src" / "model.bin"
        model.parent.mkdir(parents=True)
        model.write_bytes(b"\x00weights\xff" * 100)  # 900 bytes
        plots = sandbox / "src" / "plots"
        (plots / "sub").mkdir(parents=True)
        (plots / "roc.png").write_bytes(b"png-roc")
        (plots / "sub" / "pr.png").write_bytes(b"png-pr")
        run = tracking_service.create_run("p")
        [entry] = tracking_service.log_artifact(run.id, model)
        assert entry == ArtifactEntry(
            "model.bin", hashlib.sha256(model.read_bytes()).hexdigest(), 900
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
        watched, database = sandbox.parent, tracking_location.metadata_url
        before = _files_under(watched, database_url=database)
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
        assert _files_under(watched, database_url=database) == before
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
            host=host_identity(),
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
            host=host_identity(),
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
        with open_tracking_service(tracking_location) as other:
            other.heartbeat([foreign, ended.id])
        stored = tracking_service.get_run(foreign)
        assert stored.status is RunStatus.RUNNING
        assert stored.heartbeat_at is not None
        assert stored.heartbeat_at > long_ago
        stored_ended = tracking_service.get_run(ended.id)
        assert stored_ended.heartbeat_at == stored_ended.end_time
