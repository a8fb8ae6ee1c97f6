"""What a run captures of git, on real repositories made in a temporary folder."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from modelcycle.services.tracking.capture import capture_environment, capture_git

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
