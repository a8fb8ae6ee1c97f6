"""Transactions: the one choke point where driver errors become ModelCycle errors."""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc

from modelcycle.core.errors import Conflict, ModelCycleError, StoreError
from modelcycle.store.metadata._bulk import PIPELINE_OPTION, Piped, Target, driver_error, flush
from modelcycle.store.metadata._engine import WRITE_OPTION

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from sqlalchemy.engine import Connection, Dialect, Engine


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
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite).

        ``durable=False`` (PostgreSQL; SQLite's commits are already as ``synchronous=NORMAL``
        makes them): the commit returns without waiting for its WAL to reach the disk
        (``synchronous_commit = off`` for this transaction only). Only for a write whose
        durability a later durable commit of the same work implies: the server writes the
        WAL in order, so that commit's flush covers this one (see ``_engine``'s docstring).
        """
        with self._translated(), self.engine.connect() as connection:
            connection = connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if not durable and self.dialect == "postgresql":
                    connection.exec_driver_sql(_LAZY_COMMIT)
                yield connection

    @contextmanager
    def pipelined(self, *, durable: bool = True) -> Iterator[Target]:
        """A write transaction whose statements all go through ``_bulk``, in few round trips.

        On PostgreSQL the statements go through the driver's pipeline mode and only those
        that wait for their result cost a round trip (see ``_bulk.run``); ``BEGIN`` travels
        with the first statements and the commit with the last (see ``_pipeline``). The
        block gets the pooled driver connection itself, without SQLAlchemy's ``Connection``
        around it (about 130,000 instructions a transaction, a third of an empty one). On
        SQLite this is ``write()``. ``durable`` as in ``write()``.
        """
        if self.dialect != "postgresql":
            with self.write(durable=durable) as connection:
                yield connection
            return
        with self._translated():
            pooled = self.engine.raw_connection()
            try:
                with _pipeline(pooled, self.engine.dialect, lazy=not durable) as target:
                    yield target
            finally:
                pooled.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction giving a consistent snapshot."""
        with self._translated(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def query(self) -> Iterator[Connection]:
        """A connection for reads of one statement each, outside any transaction.

        One statement sees one consistent snapshot by itself, so a read that is one
        statement needs no ``BEGIN`` and ``COMMIT`` (two round trips on PostgreSQL). The
        block must use ``_bulk`` only and not rely on two statements agreeing.
        """
        with self._translated(), self.engine.connect() as connection:
            if self.dialect != "postgresql":
                yield connection  # the driver runs in autocommit mode: no BEGIN is sent
                return
            driver: Any = connection.connection.driver_connection
            driver.autocommit = True
            try:
                yield connection
            finally:
                if not driver.closed:
                    driver.autocommit = False

    def _translated(self) -> AbstractContextManager[None]:
        return translate_errors(self.engine)


_LAZY_COMMIT = "SET LOCAL synchronous_commit = off"


class _Pipelined:
    """A pooled driver connection in a pipelined transaction, as ``_bulk`` runs statements."""

    __slots__ = ("_options", "connection", "dialect")

    def __init__(self, connection: Any, dialect: Dialect, options: Mapping[str, Any]) -> None:
        self.connection = connection
        self.dialect = dialect
        self._options = options

    def get_execution_options(self) -> Mapping[str, Any]:
        """The options ``_bulk`` reads: the ``Piped`` transaction."""
        return self._options


@contextmanager
def _pipeline(pooled: Any, dialect: Dialect, *, lazy: bool = False) -> Iterator[Target]:
    """Run the block as one transaction in the driver's pipeline mode, in few round trips.

    Left to itself, psycopg opens a transaction in a pipeline with ``BEGIN`` and a sync (a
    round trip for ``BEGIN`` alone), and commits with a sync of its own before the one that
    leaves pipeline mode. Here the driver is in autocommit mode for the block and ``BEGIN``
    and ``COMMIT`` are queued as statements: they travel with the block's statements, and the
    commit with the sync that leaves pipeline mode. A transaction that waits for nothing
    costs one round trip; each statement waited for (``_bulk.run``) one more; the writes not
    waited for go as few statements (``_bulk.Piped``). On an error the transaction is rolled
    back before the driver leaves autocommit mode. ``lazy``: the commit does not wait for
    the disk (``UnitOfWork.write(durable=False)``).
    """
    driver: Any = pooled.driver_connection
    error_type: type[Exception] = dialect.loaded_dbapi.Error
    driver.autocommit = True
    target = _Pipelined(pooled, dialect, {WRITE_OPTION: True})
    try:
        with driver.pipeline() as pipeline:
            driver.execute("BEGIN", prepare=False)
            if lazy:
                driver.execute(_LAZY_COMMIT, prepare=False)
            target = _Pipelined(
                pooled, dialect, {WRITE_OPTION: True, PIPELINE_OPTION: Piped(pipeline)}
            )
            yield target
            flush(target)  # the writes still queued go with the commit
            driver.execute("COMMIT", prepare=False)
    except error_type as error:
        _roll_back(driver, error_type)
        raise driver_error(target, error) from error
    except BaseException:
        _roll_back(driver, error_type)
        raise
    finally:
        if not driver.closed:
            driver.autocommit = False


def _roll_back(driver: Any, error_type: type[Exception]) -> None:
    """End a failed transaction; a connection that broke is discarded by the pool anyway."""
    with suppress(error_type):
        driver.rollback()


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
