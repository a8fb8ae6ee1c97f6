"""Which runs stored as running belong to a process that died."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.store.metadata import LiveRun


_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def host_identity() -> str:
    """This host as runs record it: the hostname, plus the boot id where the kernel has one.

    After a reboot (a power loss, say) the identity changes, so a pid recorded before it is
    never mistaken for a live process that happens to reuse the number: such runs are judged
    by their heartbeat instead.
    """
    name = socket.gethostname()
    try:
        boot = _BOOT_ID.read_text().strip().replace("-", "")[:12]
    except OSError:
        return name
    return f"{name}#{boot}" if boot else name


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state letter follows the command name, which is in parentheses.
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no procfs (macOS): trust kill(0)
    return state not in ("Z", "X")


def find_dead(
    live: Sequence[LiveRun], *, host: str, now_ms: int, killed_after_ms: int
) -> list[LiveRun]:
    """The runs among ``live`` whose owning process is gone.

    On this host the process table decides; elsewhere, a heartbeat older than
    ``killed_after_ms`` does.
    """
    dead = []
    for run in live:
        if run.host == host and run.pid is not None:
            if run.pid == os.getpid() or process_alive(run.pid):
                continue
            dead.append(run)
        elif run.heartbeat_at is None or now_ms - run.heartbeat_at > killed_after_ms:
            dead.append(run)
    return dead
