"""What a run captures of git, on real repositories made in a temporary folder."""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from modelcycle.core.settings import Settings
from modelcycle.services.tracking import LocalTrackingService
from modelcycle.services.tracking.capture import capture_environment, capture_git
from modelcycle.store.artifacts import open_artifact_store
from modelcycle.store.metadata import open_metadata_store

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        check=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print(1)\n")
    _git(root, "add", "train.py")
    _git(root, "commit", "-q", "-m", "first")
    _git(root, "remote", "add", "origin", "https://user:secret@example.org/team/repo.git")
    return root


def test_a_clean_repository(repo: Path) -> None:
    state = capture_git.__wrapped__(str(repo / "src"))
    assert state.commit == _git(repo, "rev-parse", "HEAD")
    assert state.branch == "main"
    assert state.dirty is False
    assert state.diff is None
    assert state.repository == "https://example.org/team/repo.git"  # no credentials
    assert state.root == repo.resolve()


def test_a_changed_file_is_dirty_with_its_diff(repo: Path) -> None:
    (repo / "train.py").write_text("print(2)\n")
    state = capture_git.__wrapped__(str(repo))
    assert state.dirty is True
    assert state.diff is not None
    assert b"+print(2)" in state.diff


def test_an_untracked_file_is_dirty_without_a_diff(repo: Path) -> None:
    (repo / "notes.txt").write_text("x\n")
    state = capture_git.__wrapped__(str(repo))
    assert state.dirty is True
    assert state.diff is None


def test_a_detached_head_has_branch_head(repo: Path) -> None:
    _git(repo, "checkout", "-q", "--detach")
    state = capture_git.__wrapped__(str(repo))
    assert state.branch == "HEAD"
    assert state.commit == _git(repo, "rev-parse", "HEAD")


def test_a_repository_without_commits(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("1\n")
    state = capture_git.__wrapped__(str(tmp_path))
    assert (state.commit, state.branch, state.diff, state.repository) == (None, None, None, None)
    assert state.dirty is True
    assert state.root == tmp_path.resolve()


def test_outside_a_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    state = capture_git.__wrapped__(str(folder))
    if state.root is not None:  # the temporary folder itself lies in a repository
        pytest.skip("the temporary folder is inside a git repository")
    assert (state.commit, state.branch, state.dirty, state.diff) == (None, None, None, None)


def test_the_environment_pins_installed_distributions() -> None:
    env = capture_environment()
    assert any(pin.lower().startswith("sqlalchemy==") for pin in env.packages)
    assert list(env.packages) == sorted(env.packages, key=str.lower)
    assert len(env.digest) == 64


def test_the_environment_lists_what_importlib_metadata_lists() -> None:
    expected = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"] and dist.version
    }
    assert set(capture_environment.__wrapped__().packages) == expected


def test_metadata_headers_longer_than_one_read_are_read_to_their_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "bigpkg-1.2.dist-info"
    info.mkdir()
    classifiers = "".join(f"Classifier: Topic :: Example {i}\n" for i in range(3000))
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: bigpkg\n{classifiers}Version: 1.2\n\nVersion: 9\n"
    )
    egg = tmp_path / "oldpkg.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: oldpkg\nVersion: 0.3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    packages = capture_environment.__wrapped__().packages
    assert "bigpkg==1.2" in packages
    assert "oldpkg==0.3" in packages
    assert "bigpkg==9" not in packages


def test_the_diff_of_a_dirty_tree_is_stored_when_a_run_starts(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The diff is stored in the background from set_project; a started run has it stored."""
    (repo / "train.py").write_text("print(3)\n")
    monkeypatch.setattr(sys, "argv", [str(repo / "train.py")])
    capture_git.cache_clear()
    url = f"sqlite:///{tmp_path / 'mc.db'}"
    artifacts = open_artifact_store(str(tmp_path / "artifacts"))
    service = LocalTrackingService(
        open_metadata_store(url),
        artifacts,
        Settings(uri=url, metadata_url=url, artifacts_url=str(tmp_path / "artifacts")),
    )
    try:
        service.set_project("p")
        run = service.create_run("p")
        diff = capture_git().diff
        assert diff is not None
        assert b"+print(3)" in diff
        assert run.code.diff_digest == hashlib.sha256(diff).hexdigest()
        assert artifacts.read_bytes(run.code.diff_digest) == diff  # type: ignore[arg-type]
    finally:
        service.close()
        capture_git.cache_clear()
