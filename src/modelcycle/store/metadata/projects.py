"""Projects and their problem cards."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from modelcycle.core.entities.project import Direction, ProblemCard, Project, Task
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.store.metadata._codec import dumps, loads
from modelcycle.store.metadata._tables import projects

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from modelcycle.store.metadata._unit_of_work import UnitOfWork


class ProjectRepository:
    """Create, update and read projects."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._ids: dict[str, int] = {}  # ids never change and projects are never deleted
        self._ids_lock = threading.Lock()

    def id_of(self, name: str, *, create: bool) -> int:
        """The id of project ``name``, created (without a card) when ``create``; cached.

        Raises:
            NotFound: no such project and ``create`` is false.
        """
        with self._ids_lock:
            found = self._ids.get(name)
        if found is not None:
            return found
        project_id = (self.upsert(name, None) if create else self.get(name)).id
        with self._ids_lock:
            self._ids[name] = project_id
        return project_id

    def upsert(self, name: str, card: ProblemCard | None) -> Project:
        """Create the project, or update the card fields that ``card`` sets.

        Two processes creating the same project at once both succeed: the one whose insert
        loses the race (a unique violation on PostgreSQL) updates the row the other made.
        """
        try:
            return self._upsert_once(name, card)
        except Conflict:
            return self._upsert_once(name, card)

    def _upsert_once(self, name: str, card: ProblemCard | None) -> Project:
        now = time.time_ns() // 1_000_000
        with self._uow.write() as conn:
            row = _select(conn, name)
            if row is None:
                values = _card_values(card or ProblemCard())
                conn.execute(
                    insert(projects).values(name=name, created_at=now, updated_at=now, **values)
                )
            elif card is not None:
                changes = _card_changes(_to_entity(row).card, card)
                if changes:
                    conn.execute(
                        update(projects)
                        .where(projects.c.id == row.id)
                        .values(updated_at=now, **changes)
                    )
            result = _select(conn, name)
        if result is None:  # pragma: no cover - the row was written in this transaction
            raise NotFound(f"project {name!r} vanished while being written")
        return _to_entity(result)

    def get(self, name: str) -> Project:
        """The project named ``name``; NotFound names the known projects."""
        with self._uow.read() as conn:
            row = _select(conn, name)
            if row is None:
                known = conn.execute(select(projects.c.name).order_by(projects.c.name).limit(20))
                names = ", ".join(known.scalars()) or "none yet"
                raise NotFound(f"no project named {name!r} (projects: {names})")
        return _to_entity(row)

    def find(self, name: str) -> Project | None:
        """The project named ``name``, or None."""
        with self._uow.read() as conn:
            row = _select(conn, name)
        return None if row is None else _to_entity(row)

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self._uow.read() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.name)).all()
        return [_to_entity(row) for row in rows]


def _select(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(projects).where(projects.c.name == name)).first()


def _card_values(card: ProblemCard) -> dict[str, Any]:
    return {
        "task": card.task.value if card.task else None,
        "target": card.target,
        "metric": card.metric,
        "direction": card.direction.value if card.direction else None,
        "goal": card.goal,
        "owners_json": dumps(list(card.owners)),
        "description": card.description,
    }


def _card_changes(old: ProblemCard, new: ProblemCard) -> dict[str, Any]:
    """The columns that ``new`` sets to a value different from ``old`` (unset fields stay)."""
    old_values, new_values = _card_values(old), _card_values(new)
    changes = {}
    for column, value in new_values.items():
        unset = value is None or (column == "owners_json" and not new.owners)
        if not unset and value != old_values[column]:
            changes[column] = value
    return changes


def _to_entity(row: Row[Any]) -> Project:
    card = ProblemCard(
        task=Task(row.task) if row.task else None,
        target=row.target,
        metric=row.metric,
        direction=Direction(row.direction) if row.direction else None,
        goal=row.goal,
        owners=tuple(loads(row.owners_json) or ()),
        description=row.description,
    )
    return Project(
        id=row.id, name=row.name, card=card, created_at=row.created_at, updated_at=row.updated_at
    )
