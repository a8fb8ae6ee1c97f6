"""`import modelcycle` stays light: heavy libraries load only when a call needs them."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

HEAVY = (
    "pandas",
    "numpy",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "sklearn",
    "pyarrow",
    "fsspec",
    "typer",
    "rich",
    "orjson",
)


def _loaded_after(statement: str) -> set[str]:
    script = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_modelcycle_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import modelcycle")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_reaching_the_sdk_still_opens_nothing() -> None:
    loaded = _loaded_after("import modelcycle as mc; mc.NotFound; mc.start_run; mc.search_runs")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_store_loads_its_libraries_when_first_used(tmp_path: Path) -> None:
    loaded = _loaded_after(
        f"import modelcycle as mc; mc.configure({str(tmp_path)!r}); mc.set_project('p')"
    )
    assert {"sqlalchemy", "orjson"} <= loaded
    assert "pandas" not in loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    import modelcycle as mc

    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        mc.no_such_thing  # noqa: B018
