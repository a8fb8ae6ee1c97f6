"""What a run captures without being asked: the code version and the environment.

Both are captured once per process and reused by every run it starts: the code a process
runs is the code it imported, and its installed packages do not change under it. That makes
starting a run cost a dictionary lookup rather than a dozen subprocesses.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from modelcycle.core.entities.run import CodeVersion, Environment

_GIT_TIMEOUT_S = 10
_CREDENTIALS_RE = re.compile(r"(?<=://)[^/@]+@")


@dataclass(frozen=True, slots=True)
class GitState:
    """The repository state around the entry point; ``diff`` is `git diff HEAD` when dirty."""

    commit: str | None
    branch: str | None
    dirty: bool | None
    diff: bytes | None
    repository: str | None
    root: Path | None


@functools.cache
def capture_environment() -> Environment:
    """The interpreter, platform and installed distributions (``name==version``, sorted)."""
    packages = sorted(
        {pin for dist in importlib.metadata.distributions() if (pin := _pin(dist))},
        key=str.lower,
    )
    python_version = platform.python_version()
    platform_name = platform.platform()
    canonical = json.dumps([python_version, platform_name, packages]).encode()
    return Environment(
        digest=hashlib.sha256(canonical).hexdigest(),
        python_version=python_version,
        platform=platform_name,
        packages=tuple(packages),
    )


def _pin(dist: importlib.metadata.Distribution) -> str | None:
    """``name==version`` from the metadata headers, read without the full email parser."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    end = text.find("\n\n")  # the headers end at the first blank line
    name = version = None
    for line in (text if end < 0 else text[:end]).splitlines():
        if not line:
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return f"{name}=={version}" if name and version else None


def entry_point() -> str:
    """The script or module this process runs, as the user would name it."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not argv0 or argv0 == "-c":
        return "python -c" if argv0 == "-c" else "interactive"
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return f"python -m {spec.name.removesuffix('.__main__')}"
    return argv0


@functools.cache
def capture_git(start: str | None = None) -> GitState:
    """Git state of the repository holding ``start`` (default: the entry point's folder).

    Two rounds of git commands: where the repository is with its commit and branch, then
    its status, remote and diff at once (the diff is kept only when the tree is dirty).
    """
    git = shutil.which("git")
    folder = Path(start) if start else _entry_folder()
    if git is None:
        return GitState(None, None, None, None, None, None)
    head = _git(git, folder, "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD")
    lines = head.decode().splitlines() if head is not None else []
    if len(lines) == 3:
        root, commit, branch = (line.strip() or None for line in lines)
    else:  # not a repository, or no commit yet
        found = _git(git, folder, "rev-parse", "--show-toplevel")
        if found is None:
            return GitState(None, None, None, None, None, None)
        root, commit, branch = found.decode().strip(), None, None
    if root is None:
        return GitState(None, None, None, None, None, None)
    root_path = Path(root)
    commands = [
        ["status", "--porcelain", "--untracked-files=normal"],
        ["config", "--get", "remote.origin.url"],
    ]
    if commit:
        commands.append(["diff", "HEAD", "--binary"])
    status, remote_out, diff = [*_git_all(git, root_path, commands), None][:3]
    dirty = None if status is None else bool(status.strip())
    remote = _text(remote_out)
    return GitState(
        commit=commit,
        branch=branch,
        dirty=dirty,
        diff=(diff or None) if dirty else None,
        repository=_CREDENTIALS_RE.sub("", remote) if remote else None,
        root=root_path,
    )


def code_version(git: GitState, diff_digest: str | None) -> CodeVersion:
    """The stored form of the git state plus the entry point."""
    point = entry_point()
    if (
        git.root is not None
        and point not in ("interactive", "python -c")
        and not point.startswith("python -m")
    ):
        with contextlib.suppress(ValueError):
            point = str(Path(point).resolve().relative_to(git.root))
    return CodeVersion(
        git_commit=git.commit,
        git_branch=git.branch,
        git_dirty=git.dirty,
        diff_digest=diff_digest,
        entry_point=point,
        repository=git.repository,
    )


def _entry_folder() -> Path:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c") else ""
    candidate = Path(argv0).resolve().parent if argv0 else Path.cwd()
    return candidate if candidate.is_dir() else Path.cwd()


def _git(git: str, cwd: Path, *args: str) -> bytes | None:
    return _git_all(git, cwd, [list(args)])[0]


def _git_all(git: str, cwd: Path, commands: list[list[str]]) -> list[bytes | None]:
    """Run git commands side by side; the output of each, or None where it failed."""
    started: list[subprocess.Popen[bytes] | None] = []
    for args in commands:
        try:
            started.append(
                subprocess.Popen(  # noqa: S603 - fixed git commands, no shell
                    [git, *args],
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        except OSError:
            started.append(None)
    outputs: list[bytes | None] = []
    for process in started:
        if process is None:
            outputs.append(None)
            continue
        try:
            out, _ = process.communicate(timeout=_GIT_TIMEOUT_S)
        except subprocess.SubprocessError:
            process.kill()
            process.communicate()
            outputs.append(None)
            continue
        outputs.append(out if process.returncode == 0 else None)
    return outputs


def _text(out: bytes | None) -> str | None:
    text = out.decode(errors="replace").strip() if out is not None else ""
    return text or None
