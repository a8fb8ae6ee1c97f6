"""Reading every page of a search, as a caller paging through it does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelcycle.core.filters import Expr, OrderKey
    from modelcycle.store.metadata import SqlMetadataStore


def all_pages(
    store: SqlMetadataStore, expr: Expr | None, keys: tuple[OrderKey, ...], limit: int
) -> list[str]:
    """The run ids of every page of ``limit`` runs, in order, until a page comes short."""
    found: list[str] = []
    offset = 0
    while True:
        page = store.runs.search(
            project_ids=None, expr=expr, order_by=keys, limit=limit, offset=offset
        )
        found.extend(run.id for run in page)
        if len(page) < limit:
            return found
        offset += limit
