"""The active-run stack, in a ContextVar.

Each thread and each asyncio task sees its own stack: a run started in one never becomes
the active run of another. A new thread starts with no active run; pass the run id (or
use ``mc.start_run(parent=...)``) to log from worker threads.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelcycle.sdk.fluent import ActiveRun

_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("modelcycle_active_runs", default=())


def active() -> ActiveRun | None:
    """The innermost active run of this context."""
    stack = _stack.get()
    return stack[-1] if stack else None


def push(run: ActiveRun) -> None:
    """Make ``run`` the active run of this context."""
    _stack.set((*_stack.get(), run))


def remove(run: ActiveRun) -> None:
    """Drop ``run`` from this context's stack (wherever it is)."""
    _stack.set(tuple(r for r in _stack.get() if r is not run))
