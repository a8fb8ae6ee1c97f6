"""SQLAlchemy statements compiled once into the text and parameters the driver takes.

Statements that repeat (a search's page, its estimate) are compiled once per shape and run
through the driver (``_bulk.run``), which skips SQLAlchemy's per-execution work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import NotImplementedYet

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine import Dialect


def compile_for_driver(
    query: Select[Any], dialect: Dialect
) -> tuple[str, tuple[Any, ...] | dict[str, Any], list[str]]:
    """The text of ``query``, its parameters, and their names in order (positional only)."""
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    if dialect.paramstyle == "qmark":
        names = list(compiled.positiontup or [])
        return str(compiled), tuple(values[k] for k in names), names
    if dialect.paramstyle == "pyformat":
        return str(compiled), dict(values), []
    raise NotImplementedYet(f"searches through a driver with paramstyle {dialect.paramstyle!r}")
