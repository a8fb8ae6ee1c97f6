"""The store integration tests run against: an empty one on each backend, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The URI and artifact folder of an empty store on each backend."""
    artifacts = str(tmp_path / "artifacts")
    if request.param == "sqlite":
        return {"STORE_URI": str(tmp_path / "store"), "STORE_ARTIFACTS": artifacts}
    url: str = request.getfixturevalue("postgres_url")
    return {"STORE_URI": url, "STORE_ARTIFACTS": artifacts}
