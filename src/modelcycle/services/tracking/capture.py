"""What a run captures without being asked: the code version and the environment.

Both are captured once per process and reused by every run it starts: the code a process
runs is the code it imported, and its installed packages do not change under it. That makes
starting a run cost a dictionary lookup rather than a dozen subprocesses. ``start_capture``
begins both in the background as soon as a process shows it will track (``set_project``), so
that they overlap with opening the store instead of delaying the first run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelcycle.core.entities.run import CodeVersion, Environment

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

_GIT_TIMEOUT_S = 10
_CREDENTIALS_RE = re.compile(r"(?<=://)[^/@]+@")
_HEADER_READ = 16_384  # metadata headers fit in one read; the long description follows them


@dataclass(frozen=True, slots=True)
class GitState:
    """The repository state around the entry point; ``diff`` is `git diff HEAD` when dirty."""

    commit: str | None
    branch: str | None
    dirty: bool | None
    diff: bytes | None
    repository: str | None
    root: Path | None


class _Started:
    """The background capture of this process (threads do not survive a fork)."""

    lock = threading.Lock()
    pid = 0
    threads: tuple[threading.Thread, ...] = ()


def start_capture() -> None:
    """Begin capturing the environment and git state in the background, once per process.

    Two threads: git waits on subprocesses while the other reads package metadata. A failure
    is left for the run that needs the capture to raise.
    """
    with _Started.lock:
        if _Started.pid == os.getpid():
            return
        _Started.pid = os.getpid()
        threads = []
        for capture in (capture_environment, capture_git):
            thread = threading.Thread(
                target=_quietly, args=(capture,), name="modelcycle-capture", daemon=True
            )
            thread.start()
            threads.append(thread)
        _Started.threads = tuple(threads)


def wait_for_capture() -> None:
    """Wait for the background capture, if this process started one."""
    if _Started.pid == os.getpid():
        for thread in _Started.threads:
            thread.join()


def _quietly(capture: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        capture()


@functools.cache
def capture_environment() -> Environment:
    """The interpreter, platform and installed distributions (``name==version``, sorted)."""
    packages = sorted(set(_installed_pins()), key=str.lower)
    python_version = platform.python_version()
    platform_name = platform.platform()
    canonical = json.dumps([python_version, platform_name, packages]).encode()
    return Environment(
        digest=hashlib.sha256(canonical).hexdigest(),
        python_version=python_version,
        platform=platform_name,
        packages=tuple(packages),
    )


def _installed_pins() -> Iterator[str]:
    """``name==version`` of every distribution on ``sys.path``, as ``importlib.metadata`` sees it.

    Folders on the path are scanned directly and only the headers of each metadata file are
    read (the whole files of a few hundred distributions are megabytes of descriptions);
    anything else on the path (zip archives) is left to ``importlib.metadata``.
    """
    for entry in sys.path:
        folder = entry or "."
        try:
            listing = os.scandir(folder)
        except NotADirectoryError:
            yield from _pins_of(importlib.metadata.distributions(path=[entry]))
            continue
        except OSError:
            continue
        with listing:
            for item in listing:
                pin = _folder_pin(item)
                if pin is not None:
                    yield pin


def _folder_pin(item: os.DirEntry[str]) -> str | None:
    name = item.name.lower()
    if name.endswith(".dist-info"):
        return _header_pin(os.path.join(item.path, "METADATA"))  # noqa: PTH118 - hot loop
    if name.endswith(".egg-info"):
        if item.is_dir():
            return _header_pin(os.path.join(item.path, "PKG-INFO"))  # noqa: PTH118
        return _header_pin(item.path)
    if name.endswith(".egg") and item.is_dir():
        return _header_pin(os.path.join(item.path, "EGG-INFO", "PKG-INFO"))  # noqa: PTH118
    return None


def _pins_of(dists: Iterable[importlib.metadata.Distribution]) -> Iterator[str]:
    for dist in dists:
        pin = _parse_pin(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
        if pin is not None:
            yield pin


def _header_pin(path: str) -> str | None:
    """``name==version`` from a metadata file, reading no further than its headers."""
    try:
        with open(path, "rb") as file:  # noqa: PTH123 - hot loop
            data = file.read(_HEADER_READ)
            while b"\n\n" not in data:
                more = file.read(_HEADER_READ)
                if not more:
                    break
                data += more
    except OSError:
        return None
    return _parse_pin(data.decode("utf-8", errors="replace"))


def _parse_pin(text: str) -> str | None:
    """``name==version`` from metadata headers, read without the full email parser."""
    end = text.find("\n\n")  # the headers end at the first blank line
    name = version = None
    for line in (text if end < 0 else text[:end]).splitlines():
        if not line:
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            break
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

    One round of git commands side by side, run in that folder: where the repository is
    with its commit and branch, its status, its remote and the diff (kept only when the tree
    is dirty). Status and diff cover the whole repository from any folder in it.
    """
    git = shutil.which("git")
    folder = Path(start) if start else _entry_folder()
    if git is None:
        return GitState(None, None, None, None, None, None)
    head, status, remote_out, diff = _git_all(
        git,
        folder,
        [
            ["rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"],
            ["status", "--porcelain", "--untracked-files=normal"],
            ["config", "--get", "remote.origin.url"],
            ["-c", "diff.relative=false", "diff", "HEAD", "--binary"],
        ],
    )
    lines = head.decode().splitlines() if head is not None else []
    if len(lines) == 3:
        root, commit, branch = (line.strip() or None for line in lines)
    else:  # not a repository, or no commit yet
        found = _git(git, folder, "rev-parse", "--show-toplevel")
        if found is None:
            return GitState(None, None, None, None, None, None)
        root, commit, branch, diff = found.decode().strip(), None, None, None
    if root is None:
        return GitState(None, None, None, None, None, None)
    root_path = Path(root)
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
