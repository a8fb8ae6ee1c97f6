"""The one place where exceptions become ``error: …`` lines and exit codes.

``ErrorHandlingGroup`` is the root command class: whatever a command raises is reported as::

    error: <first line of the message>
    <further lines of the message, such as a filter's caret>
    hint: <how to fix it>

on stderr, with exit status 2 for invalid input (as Click's usage errors) and 1 otherwise.
``MODELCYCLE_DEBUG=1`` lets the exception through with its traceback, for bug reports.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from modelcycle.core.errors import (
    InvalidFilter,
    InvalidInput,
    ModelCycleError,
    NotImplementedYet,
    SchemaOutdated,
    StoreError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    # Typer vendors Click and does not re-export the Context its group methods take.
    from typer._click import Context as ClickContext

EXIT_FAILURE = 1
EXIT_USAGE = 2
_HINT = "hint: "


def add_hint(exc: BaseException, hint: str) -> None:
    """Attach ``hint`` (how to fix it) to ``exc``; ``report`` prints it after the error."""
    exc.add_note(_HINT + hint)


@contextlib.contextmanager
def hint_on(kind: type[BaseException], hint: str) -> Iterator[None]:
    """Attach ``hint`` to an exception of type ``kind`` raised in the block."""
    try:
        yield
    except kind as exc:
        add_hint(exc, hint)
        raise


def _default_hint(exc: BaseException) -> str | None:
    if isinstance(exc, InvalidFilter):
        return "the filter and order-by grammar: `modelcycle runs list --help`"
    if isinstance(exc, SchemaOutdated | NotImplementedYet):
        return None  # their messages already say what to do
    if isinstance(exc, StoreError):
        return "check the store location (--uri or MODELCYCLE_URI)"
    if not isinstance(exc, ModelCycleError) and type(exc).__module__.startswith("sqlalchemy"):
        return "check the store location (--uri or MODELCYCLE_URI)"
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, ModelCycleError):
        return exc.message
    if type(exc).__module__.startswith("sqlalchemy"):
        # The driver's own message, without SQLAlchemy's statement dump and help link.
        orig = getattr(exc, "orig", None)
        text = str(orig) if orig is not None else str(exc).split("\n", 1)[0]
        return f"the metadata store failed: {text}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"unexpected {type(exc).__name__}: {exc} (set MODELCYCLE_DEBUG=1 for the traceback)"


def report(exc: BaseException) -> int:
    """Print ``exc`` as ``error: …`` lines (plus hints) on stderr; return the exit status."""
    first, *rest = _message(exc).splitlines() or [""]
    typer.echo(typer.style("error:", fg="red", bold=True) + f" {first}", err=True)
    for line in rest:
        typer.echo(line, err=True)
    hints = [n for n in getattr(exc, "__notes__", ()) if n.startswith(_HINT)]
    default = _default_hint(exc)
    if not hints and default is not None:
        hints = [_HINT + default]
    for hint in hints:
        typer.echo(hint, err=True)
    return EXIT_USAGE if isinstance(exc, InvalidInput) else EXIT_FAILURE


class ErrorHandlingGroup(TyperGroup):
    """The root group: reports every error raised by a command, never a traceback."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; turn what it raises into an error line and an exit status."""
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # Typer's own: usage errors (exit 2), --help, Ctrl-C
        except BrokenPipeError:
            raise typer.Exit(EXIT_FAILURE) from None  # `modelcycle … | head` closed stdout
        except Exception as exc:
            if os.environ.get("MODELCYCLE_DEBUG", "") not in ("", "0"):
                raise
            raise typer.Exit(report(exc)) from None
