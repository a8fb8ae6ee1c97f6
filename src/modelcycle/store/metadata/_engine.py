"""One SQLAlchemy engine per database URL, tuned per dialect.

SQLite: WAL journal with ``synchronous=NORMAL`` by default: a commit survives a crash of the
process (SIGKILL, OOM), and after an OS crash or power loss the last commits may be rolled
back, never half-applied. ``MODELCYCLE_SQLITE_SYNCHRONOUS=full`` makes every commit survive
power loss too, at the price of an fsync per commit (0.2 to 5 ms on the disks we measured).
Also a busy timeout so that concurrent processes wait instead of failing, foreign keys on,
and case-sensitive LIKE (as PostgreSQL's). The driver runs in autocommit mode and we emit
``BEGIN`` ourselves: write transactions start with ``BEGIN IMMEDIATE`` so that two writers
never deadlock upgrading a read lock (the pysqlite recipe in SQLAlchemy's documentation).

PostgreSQL: a commit returns once its WAL is on disk (the server's ``synchronous_commit``),
except a commit the unit of work opens with ``durable=False`` (``SET LOCAL
synchronous_commit = off``, that transaction only): creating a run, and a batch written with
``RunRepository.log_batch(durable=False)``. Such a commit is visible at once and survives a
crash of the calling process (SIGKILL, OOM): the server holds it and writes it on its own
within moments. A crash of the server, the OS or the power can lose the non-durable commits
of the last moments before it (at most about three times the server's ``wal_writer_delay``,
200 ms by default), each whole or not at all, never half of one. The server writes WAL in
order, so the next durable commit on the same server (the run's end, a ``log_batch``) makes
every earlier commit durable too: a run whose end returned is all on disk. That is the
promise SQLite's ``synchronous=NORMAL`` makes for every commit.

A pooled PostgreSQL connection that sat idle for ``PING_AFTER_IDLE_S`` or more is pinged
when it is checked out, and replaced if the server dropped it. One in steady use is not: a
ping is a round trip, as much as a small statement costs, and a connection used a moment ago
is alive (a server restarted in that moment fails one call with a ``StoreError``, and the
dead connection is discarded). Each connection compresses the large values it writes (a run's
JSON summaries) with lz4 where the server has it: a thousand-key ``metrics_json`` costs the
server 0.4-0.6 ms to store instead of 1.25-1.3 with the default pglz, and reads faster too;
stored values of either kind read the same.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from modelcycle.core.errors import InvalidInput
from modelcycle.store.metadata._bulk import adapt_encoded_arrays, driver_error

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

BUSY_TIMEOUT_S = 60
WRITE_OPTION = "modelcycle_write"
PING_AFTER_IDLE_S = 2.0
# Server-side prepared from a statement's second run (the driver's default: its sixth): the
# server then plans a repeated search five more times before it keeps a generic plan, so a
# short-lived process stops paying 1-2 ms of planning per search after a few calls.
PREPARE_THRESHOLD = 1


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    The pool is safe across ``os.fork()``: a connection opened by another process is never
    handed out; the child opens its own (SQLAlchemy's pooling-with-multiprocessing recipe).
    """
    engine = _create(url)
    _guard_pool_across_fork(engine)
    return engine


def _guard_pool_across_fork(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _refuse_foreign(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa_exc.DisconnectionError("connection opened by another process")


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _remember_use(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa_exc.DisconnectionError(f"connection lost while idle: {error}") from error


def _set_up_postgresql_connections(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        adapt_encoded_arrays(dbapi_connection)  # the arrays ``_bulk`` encodes itself
        _compress_with_lz4(dbapi_connection, engine.dialect.loaded_dbapi.Error)


def _compress_with_lz4(dbapi_connection: Any, error: type[Exception]) -> None:
    """Prefer lz4 for values stored out of line; a server without it keeps pglz."""
    dbapi_connection.autocommit = True  # a SET in a transaction rolled back would be undone
    try:
        dbapi_connection.execute("SET default_toast_compression = 'lz4'")
    except error:
        pass  # built without lz4, or older than PostgreSQL 14
    finally:
        dbapi_connection.autocommit = False


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types here
        raise InvalidInput(f"not a database URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed.database, url)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(
            parsed,
            pool_size=5,
            max_overflow=10,
            connect_args={"prepare_threshold": PREPARE_THRESHOLD},
        )
        _ping_when_idle(engine)
        _set_up_postgresql_connections(engine)
        return engine
    raise InvalidInput(f"unsupported database {backend!r} in {url!r}: use sqlite or postgresql")


def _sqlite_engine(database: str | None, url: str) -> Engine:
    synchronous = os.environ.get("MODELCYCLE_SQLITE_SYNCHRONOUS", "normal").upper()
    if synchronous not in ("NORMAL", "FULL", "EXTRA"):
        raise InvalidInput(
            f"MODELCYCLE_SQLITE_SYNCHRONOUS={synchronous.lower()!r} must be normal, full or extra"
        )
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={
            "timeout": BUSY_TIMEOUT_S,
            "isolation_level": None,
            "check_same_thread": False,
        },
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        sql = "BEGIN IMMEDIATE" if write else "BEGIN"
        try:  # on the driver: a statement through SQLAlchemy costs more than BEGIN itself
            connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
        except sqlite3.Error as error:
            raise driver_error(connection, error, sql) from error

    return engine
