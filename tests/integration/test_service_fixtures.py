from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from modelcycle.testing.fixtures import temporary_database

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        dbname=parts.path.lstrip("/"),
        autocommit=True,
        connect_timeout=10,
    )


@pytest.mark.postgres
def test_postgres_server_answers_queries(postgres_server: str) -> None:
    assert postgres_server.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_server.endswith("/postgres")
    with _connect(postgres_server) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        version = conn.execute("show server_version_num").fetchone()
    assert version is not None
    assert int(version[0]) >= 150000


@pytest.mark.postgres
def test_postgres_url_is_a_fresh_writable_database(postgres_url: str) -> None:
    assert urlsplit(postgres_url).path.startswith("/mc_")
    with _connect(postgres_url) as conn:
        conn.execute("create table t (id integer primary key, name text not null)")
        conn.execute("insert into t values (1, 'ü-utf8')")
        assert conn.execute("select name from t").fetchall() == [("ü-utf8",)]
        encoding = conn.execute("show server_encoding").fetchone()
    assert encoding == ("UTF8",)


@pytest.mark.postgres
def test_postgres_urls_are_isolated_and_dropped(postgres_server: str, postgres_url: str) -> None:
    with temporary_database(postgres_server) as other:
        assert other != postgres_url
        with _connect(postgres_url) as conn:
            conn.execute("create table only_here (x integer)")
        with _connect(other) as conn:
            assert conn.execute("select to_regclass('only_here')").fetchone() == (None,)
            conn.execute("create table only_there (x integer)")  # dropped WITH (FORCE) below
    with _connect(postgres_server) as conn:
        names = {row[0] for row in conn.execute("select datname from pg_database")}
    assert urlsplit(postgres_url).path[1:] in names
    assert urlsplit(other).path[1:] not in names


@pytest.mark.s3
def test_s3_url_is_a_working_bucket(s3_url: str, s3_server: str) -> None:
    import boto3

    parts = urlsplit(s3_url)
    assert parts.scheme == "s3"
    assert parts.path == "/artifacts"
    client = boto3.client("s3", endpoint_url=s3_server)
    client.put_object(Bucket=parts.netloc, Key="artifacts/hello.txt", Body=b"hello")
    body = client.get_object(Bucket=parts.netloc, Key="artifacts/hello.txt")["Body"].read()
    assert body == b"hello"


@pytest.mark.s3
def test_s3_urls_get_distinct_empty_buckets(s3_url: str, s3_server: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server)
    bucket = urlsplit(s3_url).netloc
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_store_uri_is_under_tmp_path(store_uri: str, tmp_path: Path) -> None:
    assert store_uri == str(tmp_path / "store")


def test_unavailable_service_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcycle.testing.fixtures import _unavailable

    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no binaries here"):
        _unavailable("no binaries here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no binaries here \(required because CI=true"):
        _unavailable("no binaries here")


def _fake_binaries(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)


@pytest.mark.skipif(os.name != "posix", reason="Debian layout")
def test_postgres_binaries_found_on_path_then_newest_debian_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelcycle.testing import fixtures

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(fixtures, "_DEBIAN_PG", tmp_path / "postgresql")
    assert fixtures._pg_binaries() is None
    for version in ("9", "13", "15"):
        _fake_binaries(tmp_path / "postgresql" / version / "bin")
    newest = tmp_path / "postgresql" / "15" / "bin"
    assert fixtures._pg_binaries() == (str(newest / "initdb"), str(newest / "pg_ctl"))
    _fake_binaries(tmp_path / "on-path")
    monkeypatch.setenv("PATH", str(tmp_path / "on-path"))
    on_path = tmp_path / "on-path"
    assert fixtures._pg_binaries() == (str(on_path / "initdb"), str(on_path / "pg_ctl"))
