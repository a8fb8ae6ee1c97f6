"""Transactions: the one choke point where driver errors become ModelCycle errors."""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc

from modelcycle.core.errors import Conflict, ModelCycleError, StoreError
from modelcycle.store.metadata._engine import WRITE_OPTION

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine


class UnitOfWork:
    """Opens read and write transactions on one engine.

    A write transaction commits when its block ends and rolls back on any exception, so a
    crash never leaves half a record. Unique-constraint violations become ``Conflict``; other
    database failures become ``StoreError`` with the driver's message.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._translated(), self.engine.connect() as connection:
            connection = connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction giving a consistent snapshot."""
        with self._translated(), self.engine.connect() as connection, connection.begin():
            yield connection

    def _translated(self) -> AbstractContextManager[None]:
        return translate_errors(self.engine)


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn driver errors raised inside the block into ``Conflict`` or ``StoreError``."""
    try:
        yield
    except ModelCycleError:
        raise
    except sa_exc.IntegrityError as error:
        raise Conflict(f"the store refused a write: {_driver_message(error)}") from error
    except sa_exc.SQLAlchemyError as error:
        raise StoreError(
            f"the metadata store failed ({engine.url.render_as_string()}): {_driver_message(error)}"
        ) from error


def _driver_message(error: sa_exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    text = str(original) if original is not None else str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
