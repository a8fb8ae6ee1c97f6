"""The PostgreSQL pool: pooled connections are pinged only after sitting idle.

The server ends a pooled connection (as a restart or an idle timeout would) and the next call
either never notices (pinged and replaced) or fails once and is served again at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest

from modelcycle.core.errors import StoreError
from modelcycle.store.metadata import _engine, open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modelcycle.store.metadata import SqlMetadataStore


@pytest.fixture
def store(postgres_url: str) -> Iterator[SqlMetadataStore]:
    metadata = open_metadata_store(postgres_url)
    yield metadata
    metadata.close()


def _end_pooled_connections(url: str) -> int:
    """Terminate every other session on the store's database, as the server may do."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    database = plain.rsplit("/", 1)[1]
    with psycopg.connect(plain, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def test_an_idle_connection_is_pinged_and_replaced(
    store: SqlMetadataStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.projects.upsert("p", None)
    assert _end_pooled_connections(postgres_url) >= 1
    monkeypatch.setattr(_engine, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection is idle
    assert store.projects.get("p").name == "p"


def test_a_connection_in_steady_use_is_not_pinged(
    store: SqlMetadataStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a ping, a call on a connection the server ended fails once; the next one works."""
    store.projects.upsert("p", None)
    monkeypatch.setattr(_engine, "PING_AFTER_IDLE_S", 3600.0)
    assert _end_pooled_connections(postgres_url) >= 1
    with pytest.raises(StoreError, match="metadata store failed"):
        store.projects.get("p")
    assert store.projects.get("p").name == "p"
