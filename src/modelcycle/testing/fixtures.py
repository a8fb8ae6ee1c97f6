"""Pytest fixtures for real backing services: a throwaway PostgreSQL cluster and a moto S3 server.

Registered as the ``modelcycle`` pytest plugin (entry point ``pytest11``), so every project that
installs ModelCycle's test extra can use them; without the package installed, load it with
``-p modelcycle.testing.fixtures``.

- ``postgres_server`` (session): a throwaway PostgreSQL cluster;
  yields ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``.
- ``postgres_url`` (function): yields the SQLAlchemy URL of a fresh, empty database on it
  (dropped after the test).
- ``s3_server`` (session): a moto S3 server; yields its endpoint ``http://127.0.0.1:PORT``.
- ``s3_url`` (function): a fresh bucket; returns ``s3://<bucket>/artifacts`` and sets
  ``MODELCYCLE_S3_ENDPOINT_URL`` for the test.
- ``store_uri`` (function): ``<tmp_path>/store``, the embedded-default folder store.

``temporary_database(server_url)`` is the context manager behind ``postgres_url``, for a test
that needs more than one database.

When a service cannot be provided (no PostgreSQL binaries, moto not installed) the test is
skipped with the reason, except when ``CI=true``: then it fails, so CI never silently skips.
The fixtures mark nothing; tests that use them carry the ``postgres`` or ``s3`` marker.
Under pytest-xdist every worker starts its own cluster and server on its own free port.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

_PG_MISSING = "PostgreSQL binaries not found (apt-get install postgresql)"
_DEBIAN_PG = Path("/usr/lib/postgresql")  # Debian/Ubuntu keep initdb and pg_ctl off PATH
_PG_START_ATTEMPTS = 5
_PG_TIMEOUT_S = 120


def _unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when running in CI (``CI=true``)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required because CI=true)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    """A loopback TCP port that was free a moment ago (callers retry if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- PostgreSQL ----------------------------------------------------------------------------------


def _pg_binaries() -> tuple[str, str] | None:
    """``initdb`` and ``pg_ctl``: from PATH first, else from the newest Debian version folder."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is not None and pg_ctl is not None:
        return initdb, pg_ctl
    versions = [p for p in _DEBIAN_PG.glob("*/bin") if p.parent.name.isdigit()]
    for folder in sorted(versions, key=lambda p: int(p.parent.name), reverse=True):
        initdb = shutil.which("initdb", path=str(folder))
        pg_ctl = shutil.which("pg_ctl", path=str(folder))
        if initdb is not None and pg_ctl is not None:
            return initdb, pg_ctl
    return None


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _as_postgres(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` OS user when we are root (PostgreSQL refuses root)."""
    if not _running_as_root():
        return cmd
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", "postgres", "--", *cmd]
    su = shutil.which("su") or "su"
    return [su, "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (fixed argv built from found binaries)
        _as_postgres(cmd),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_PG_TIMEOUT_S,
        check=False,
    )


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _give_to_postgres(base: Path) -> None:
    """Hand the cluster folder to the ``postgres`` user when we are root."""
    if not _running_as_root():
        return
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _unavailable("running as root needs a 'postgres' OS user to own the test cluster")
    for path in (base, *base.rglob("*")):
        shutil.chown(path, user="postgres", group=None)


def _start_cluster(initdb: str, pg_ctl: str, base: Path) -> int:
    """``initdb`` and start a cluster under ``base``; return its port."""
    data, sockets, log = base / "data", base / "sock", base / "postgres.log"
    sockets.mkdir()
    _give_to_postgres(base)
    init = [
        initdb,
        *("-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"),
        "--no-sync",
    ]
    result = _run(init, cwd=base)
    if result.returncode != 0:
        msg = f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        raise RuntimeError(msg)
    for _ in range(_PG_START_ATTEMPTS):
        port = _free_port()
        options = (
            f"-p {port} -k {shlex.quote(str(sockets))} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            " -c max_connections=200"
        )
        start = [pg_ctl, "start", "-w", "-t", "60", "-D", str(data)]
        result = _run([*start, "-l", str(log), "-o", options], cwd=base)
        if result.returncode == 0:
            return port
        _run([pg_ctl, "stop", "-D", str(data), "-m", "immediate"], cwd=base)
    msg = f"PostgreSQL did not start after {_PG_START_ATTEMPTS} attempts:\n{_tail(log)}"
    raise RuntimeError(msg)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (per xdist worker).

    Yields:
        Its SQLAlchemy URL, ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` (trust
        auth, loopback only, fsync off).
    """
    binaries = _pg_binaries()
    if binaries is None:
        _unavailable(_PG_MISSING)
    initdb, pg_ctl = binaries
    base = Path(tempfile.mkdtemp(prefix="mc-pg-"))  # not tmp_path: root's is closed to postgres
    try:
        port = _start_cluster(initdb, pg_ctl, base)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            stop = [pg_ctl, "stop", "-D", str(base / "data"), "-m", "immediate"]
            _run([*stop, "-w"], cwd=base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _admin_execute(server_url: str, statement: str, name: str) -> None:
    """Run ``statement`` (one ``{}`` placeholder for the identifier ``name``) in autocommit."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'modelcycle[postgres]')")
    parts = urlsplit(server_url)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        dbname=parts.path.lstrip("/"),
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


@contextlib.contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """Create a fresh database on the cluster at ``server_url``; drop it (``WITH (FORCE)``) after.

    ``postgres_url`` uses this; call it directly when one test needs several databases.

    Args:
        server_url: A URL from ``postgres_server``.

    Yields:
        The SQLAlchemy URL of the new database, ``postgresql+psycopg://.../mc_<random>``.
    """
    name = f"mc_{secrets.token_hex(8)}"
    _admin_execute(server_url, "CREATE DATABASE {}", name)
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin_execute(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the session cluster, dropped (``WITH (FORCE)``) after the test.

    Yields:
        Its SQLAlchemy URL, ``postgresql+psycopg://postgres@127.0.0.1:PORT/mc_<random>``.
    """
    with temporary_database(postgres_server) as url:
        yield url


# --- S3 (moto) -----------------------------------------------------------------------------------

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,  # never read the developer's real profiles
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback for the session, with fake AWS credentials in the env.

    The credentials, region and cleared endpoint/profile variables are restored afterwards.

    Yields:
        The endpoint URL, ``http://127.0.0.1:PORT``.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        _unavailable("moto is not installed (pip install 'moto[server]')")
    with pytest.MonkeyPatch.context() as env:
        for key, value in _FAKE_AWS_ENV.items():
            env.setenv(key, value)
        for key in _AWS_ENV_CLEARED:
            env.delenv(key, raising=False)
        # Port 0: the OS picks a free port at bind time, so xdist workers never collide (moto's
        # start() would wait forever if its bind failed).
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_url(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server; ``MODELCYCLE_S3_ENDPOINT_URL`` points at the server.

    Returns:
        ``s3://<bucket>/artifacts``.
    """
    try:
        import boto3
    except ImportError:
        _unavailable("boto3 is not installed (pip install boto3)")
    bucket = f"mc-{secrets.token_hex(8)}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    monkeypatch.setenv("MODELCYCLE_S3_ENDPOINT_URL", s3_server)
    return f"s3://{bucket}/artifacts"


# --- embedded default ----------------------------------------------------------------------------


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    """The embedded-default folder store: ``<tmp_path>/store`` (not created yet)."""
    return str(tmp_path / "store")


__all__ = [
    "postgres_server",
    "postgres_url",
    "s3_server",
    "s3_url",
    "store_uri",
    "temporary_database",
]
