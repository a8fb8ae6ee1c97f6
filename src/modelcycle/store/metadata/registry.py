"""The model registry: named models, numbered versions, aliases, reviews, gates and exports.

Every change writes a ``registry_events`` row in the same transaction, so the audit log can
replay what happened, by whom and when, and a crash never leaves a change without its event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update

from modelcycle.core.entities.model import (
    Approval,
    ApprovalState,
    GateResult,
    ModelVersion,
)
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata._codec import dumps, loads
from modelcycle.store.metadata._named import named_row_id
from modelcycle.store.metadata._tables import (
    logged_models,
    model_aliases,
    model_approvals,
    model_exports,
    model_gates,
    model_versions,
    projects,
    registered_models,
    registry_events,
)
from modelcycle.store.metadata.logged_models import to_logged_model

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Connection

    from modelcycle.store.metadata._unit_of_work import UnitOfWork

_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model of a project, with its newest version and aliases."""

    project: str
    name: str
    latest_version: int
    version_count: int
    aliases: Mapping[str, int]
    created_at: int
    updated_at: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One change to the registry."""

    at: int
    actor: str
    action: str
    model: str
    version: int | None
    details: Mapping[str, Any]


class RegistryRepository:
    """Create, move and read registry records; every write is one transaction with its event."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    # -- versions -------------------------------------------------------------------------

    def register(
        self,
        project_id: int,
        name: str,
        logged_model_id: str,
        actor: str,
        description: str | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` for a logged model (creating the name if new)."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._register_once(project_id, name, logged_model_id, actor, description)
            except Conflict:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _register_once(
        self,
        project_id: int,
        name: str,
        logged_model_id: str,
        actor: str,
        description: str | None,
    ) -> ModelVersion:
        now = _now()
        with self._uow.write() as conn:
            model_id = _model_id(conn, project_id, name, now, create=True)
            number = conn.execute(
                select(func.coalesce(func.max(model_versions.c.version), 0)).where(
                    model_versions.c.model_id == model_id
                )
            ).scalar_one()
            version_id = new_id()
            conn.execute(
                insert(model_versions).values(
                    id=version_id,
                    model_id=model_id,
                    version=number + 1,
                    logged_model_id=logged_model_id,
                    description=description,
                    created_at=now,
                )
            )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.id == model_id)
                .values(updated_at=now)
            )
            _event(conn, now, actor, "register", model_id, version_id, {"version": number + 1})
            return _load_version(conn, version_id)

    def get_version(self, project_id: int, name: str, selector: int | str | None) -> ModelVersion:
        """Version ``selector`` of ``name``: a number, an alias, or None for the newest."""
        with self._uow.read() as conn:
            model_id = _model_id(conn, project_id, name, 0, create=False)
            return _load_version(conn, _version_id(conn, model_id, name, selector))

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        """The version with this id."""
        with self._uow.read() as conn:
            return _load_version(conn, version_id)

    def list_versions(self, project_id: int, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        with self._uow.read() as conn:
            model_id = _model_id(conn, project_id, name, 0, create=False)
            ids = conn.execute(
                select(model_versions.c.id)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version.desc())
            ).scalars()
            return [_load_version(conn, version_id) for version_id in list(ids)]

    def list_models(self, project_id: int) -> list[RegisteredModel]:
        """Every registered model of the project, by name."""
        with self._uow.read() as conn:
            rows = conn.execute(
                select(registered_models, projects.c.name.label("project_name"))
                .join(projects, projects.c.id == registered_models.c.project_id)
                .where(registered_models.c.project_id == project_id)
                .order_by(registered_models.c.name)
            ).all()
            found = []
            for row in rows:
                latest, count = conn.execute(
                    select(func.max(model_versions.c.version), func.count()).where(
                        model_versions.c.model_id == row.id
                    )
                ).one()
                found.append(
                    RegisteredModel(
                        project=row.project_name,
                        name=row.name,
                        latest_version=latest or 0,
                        version_count=count,
                        aliases=_aliases_of_model(conn, row.id),
                        created_at=row.created_at,
                        updated_at=row.updated_at,
                        description=row.description,
                    )
                )
        return found

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, version_id: str, alias: str, actor: str, details: Mapping[str, Any]
    ) -> ModelVersion:
        """Point ``alias`` of the version's model at it, in one transaction with its event."""
        now = _now()
        with self._uow.write() as conn:
            model_id, version = _owner(conn, version_id)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
                .where(model_aliases.c.model_id == model_id)
                .where(model_aliases.c.alias == alias)
            ).scalar()
            conn.execute(
                delete(model_aliases)
                .where(model_aliases.c.model_id == model_id)
                .where(model_aliases.c.alias == alias)
            )
            conn.execute(
                insert(model_aliases).values(
                    model_id=model_id, alias=alias, version_id=version_id, updated_at=now
                )
            )
            recorded = {"alias": alias, "version": version, "previous": previous, **details}
            _event(conn, now, actor, "alias", model_id, version_id, recorded)
            return _load_version(conn, version_id)

    def delete_alias(self, project_id: int, name: str, alias: str, actor: str) -> None:
        """Remove ``alias`` from model ``name``."""
        now = _now()
        with self._uow.write() as conn:
            model_id = _model_id(conn, project_id, name, now, create=False)
            removed = conn.execute(
                delete(model_aliases)
                .where(model_aliases.c.model_id == model_id)
                .where(model_aliases.c.alias == alias)
            ).rowcount
            if not removed:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            _event(conn, now, actor, "unalias", model_id, None, {"alias": alias})

    # -- reviews, gates, exports ----------------------------------------------------------

    def add_approval(
        self, version_id: str, state: ApprovalState, actor: str, comment: str | None
    ) -> ModelVersion:
        """Record a review decision on a version."""
        now = _now()
        with self._uow.write() as conn:
            model_id, version = _owner(conn, version_id)
            conn.execute(
                insert(model_approvals).values(
                    version_id=version_id, state=state.value, actor=actor, comment=comment, at=now
                )
            )
            details = {"version": version, "comment": comment}
            _event(conn, now, actor, state.value, model_id, version_id, details)
            return _load_version(conn, version_id)

    def add_gate(self, version_id: str, result: GateResult, actor: str) -> ModelVersion:
        """Store the gate result of a version."""
        with self._uow.write() as conn:
            model_id, version = _owner(conn, version_id)
            conn.execute(
                insert(model_gates).values(
                    version_id=version_id,
                    passed=result.passed,
                    result_json=dumps(gate_dict(result)),
                    at=result.at,
                )
            )
            details = {"version": version, "passed": result.passed, "reason": result.reason}
            _event(conn, result.at, actor, "gate", model_id, version_id, details)
            return _load_version(conn, version_id)

    def add_export(
        self,
        version_id: str,
        fmt: str,
        digest: str,
        size: int,
        parity: Mapping[str, Any],
        actor: str,
    ) -> ModelVersion:
        """Record an export of a version (replacing an earlier export to the same format)."""
        now = _now()
        with self._uow.write() as conn:
            model_id, version = _owner(conn, version_id)
            conn.execute(
                delete(model_exports)
                .where(model_exports.c.version_id == version_id)
                .where(model_exports.c.format == fmt)
            )
            conn.execute(
                insert(model_exports).values(
                    version_id=version_id,
                    format=fmt,
                    digest=digest,
                    size_bytes=size,
                    parity_json=dumps(dict(parity)),
                    created_at=now,
                )
            )
            details = {"version": version, "format": fmt, "digest": digest}
            _event(conn, now, actor, "export", model_id, version_id, details)
            return _load_version(conn, version_id)

    def events(self, project_id: int, name: str) -> list[RegistryEvent]:
        """Every change to model ``name``, oldest first."""
        with self._uow.read() as conn:
            model_id = _model_id(conn, project_id, name, 0, create=False)
            rows = conn.execute(
                select(registry_events, model_versions.c.version)
                .outerjoin(model_versions, model_versions.c.id == registry_events.c.version_id)
                .where(registry_events.c.model_id == model_id)
                .order_by(registry_events.c.id)
            ).all()
        return [
            RegistryEvent(row.at, row.actor, row.action, name, row.version, loads(row.details_json))
            for row in rows
        ]


def _now() -> int:
    return time.time_ns() // 1_000_000


def _event(
    conn: Connection,
    at: int,
    actor: str,
    action: str,
    model_id: int,
    version_id: str | None,
    details: Mapping[str, Any],
) -> None:
    conn.execute(
        insert(registry_events).values(
            at=at,
            actor=actor,
            action=action,
            model_id=model_id,
            version_id=version_id,
            details_json=dumps(dict(details)),
        )
    )


def _model_id(conn: Connection, project_id: int, name: str, now: int, *, create: bool) -> int:
    return named_row_id(
        conn,
        registered_models,
        project_id,
        name,
        now,
        create=create,
        missing="no registered model named {name!r} in this project (models: {known})",
    )


def _version_id(conn: Connection, model_id: int, name: str, selector: int | str | None) -> str:
    query = select(model_versions.c.id).where(model_versions.c.model_id == model_id)
    if selector is None:
        query = query.order_by(model_versions.c.version.desc()).limit(1)
    elif isinstance(selector, int):
        query = query.where(model_versions.c.version == selector)
    else:
        query = (
            select(model_aliases.c.version_id)
            .where(model_aliases.c.model_id == model_id)
            .where(model_aliases.c.alias == selector)
        )
    found = conn.execute(query).scalar()
    if found is not None:
        return str(found)
    if isinstance(selector, str):
        aliases = ", ".join(sorted(_aliases_of_model(conn, model_id))) or "none yet"
        raise NotFound(f"model {name!r} has no alias {selector!r} (aliases: {aliases})")
    newest = conn.execute(
        select(func.max(model_versions.c.version)).where(model_versions.c.model_id == model_id)
    ).scalar()
    raise NotFound(f"model {name!r} has no version {selector} (versions 1 to {newest})")


def _owner(conn: Connection, version_id: str) -> tuple[int, int]:
    row = conn.execute(
        select(model_versions.c.model_id, model_versions.c.version).where(
            model_versions.c.id == version_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no model version with id {version_id!r}")
    return int(row.model_id), int(row.version)


def _aliases_of_model(conn: Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(model_aliases.c.alias, model_versions.c.version)
        .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
        .where(model_aliases.c.model_id == model_id)
    ).all()
    return {row.alias: row.version for row in rows}


def _load_version(conn: Connection, version_id: str) -> ModelVersion:
    row = conn.execute(
        select(
            model_versions,
            registered_models.c.name.label("model_name"),
            projects.c.name.label("project_name"),
        )
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .join(projects, projects.c.id == registered_models.c.project_id)
        .where(model_versions.c.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"no model version with id {version_id!r}")
    logged = conn.execute(
        select(logged_models).where(logged_models.c.id == row.logged_model_id)
    ).one()
    aliases = conn.execute(
        select(model_aliases.c.alias)
        .where(model_aliases.c.version_id == version_id)
        .order_by(model_aliases.c.alias)
    ).scalars()
    approvals = conn.execute(
        select(model_approvals)
        .where(model_approvals.c.version_id == version_id)
        .order_by(model_approvals.c.id)
    ).all()
    gate = conn.execute(
        select(model_gates.c.result_json)
        .where(model_gates.c.version_id == version_id)
        .order_by(model_gates.c.id.desc())
        .limit(1)
    ).scalar()
    exports = conn.execute(select(model_exports).where(model_exports.c.version_id == version_id))
    return ModelVersion(
        id=row.id,
        project=row.project_name,
        name=row.model_name,
        version=row.version,
        model=to_logged_model(logged),
        created_at=row.created_at,
        aliases=tuple(aliases),
        approvals=tuple(
            Approval(ApprovalState(a.state), a.actor, a.at, a.comment) for a in approvals
        ),
        gate=None if gate is None else GateResult(**loads(gate)),
        description=row.description,
        exports={
            e.format: {
                **loads(e.parity_json),  # the export's record: parity, details
                "digest": e.digest,
                "size_bytes": e.size_bytes,
                "created_at": e.created_at,
            }
            for e in exports
        },
    )


def gate_dict(result: GateResult) -> dict[str, Any]:
    """The JSON form of a gate result."""
    return {
        "passed": result.passed,
        "metric": result.metric,
        "value": result.value,
        "goal": result.goal,
        "production_ref": result.production_ref,
        "production_value": result.production_value,
        "dataset_version_id": result.dataset_version_id,
        "tolerance": result.tolerance,
        "reason": result.reason,
        "at": result.at,
    }
