"""The metadata store unit tests run against: a real SQLite file, and a real PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from modelcycle.store.metadata import SqlMetadataStore, open_metadata_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    """A fresh store, once on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mc.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    metadata = open_metadata_store(url)
    yield metadata
    metadata.close()
