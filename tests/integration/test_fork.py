"""A forked child shares the parent's store safely: nothing written twice, no run ended early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.sdk import session


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_neither_duplicates_nor_ends_the_parents_run(tmp_path: Path) -> None:
    mc.configure(str(tmp_path / "store"))
    try:
        mc.set_project("fork")
        with mc.start_run() as run:
            mc.log_metric("parent", 1.0, step=0)  # buffered, not yet written
            mc.log_param("before_fork", "yes")
            pid = os.fork()
            if pid == 0:  # the child: log through the inherited active run, then exit normally
                code = 0
                try:
                    mc.log_metric("child", 2.0, step=0)
                    mc.flush()
                except BaseException:  # noqa: BLE001 - report through the exit code
                    code = 1
                finally:
                    session.get_session().close()
                    os._exit(code)  # the test process must not run pytest's teardown twice
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert mc.get_run(run.id).status is mc.RunStatus.RUNNING  # the child left it open
        stored = mc.get_run(run.id)
        assert stored.status is mc.RunStatus.FINISHED
        assert len(mc.get_metric_history(run.id, "parent")) == 1  # written once, by the parent
        assert len(mc.get_metric_history(run.id, "child")) == 1
        assert stored.params == {"before_fork": "yes"}
    finally:
        session.configure()
