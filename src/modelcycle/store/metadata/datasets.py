"""Datasets and their versions, with parents, rules, validation results, profiles and recipes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from modelcycle.core.entities.dataset import (
    ColumnKind,
    ColumnSchema,
    Dataset,
    DatasetSchema,
    DatasetVersion,
    Lineage,
    Operation,
)
from modelcycle.core.errors import Conflict, NotFound
from modelcycle.core.ids import new_id
from modelcycle.store.metadata._codec import dumps, loads
from modelcycle.store.metadata._named import named_row_id
from modelcycle.store.metadata._tables import (
    dataset_parents,
    dataset_profiles,
    dataset_rules,
    dataset_versions,
    datasets,
    projects,
    recipes,
    validation_results,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Connection, Row

    from modelcycle.store.metadata._unit_of_work import UnitOfWork

_VERSION_COLUMNS = (
    dataset_versions,
    datasets.c.name.label("dataset_name"),
    projects.c.name.label("project_name"),
)
_ATTEMPTS = 5  # concurrent registrations of one name race for the next version number


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a new version stores; the repository numbers it."""

    digest: str
    snapshot_digest: str
    schema: DatasetSchema
    num_rows: int
    size_bytes: int
    lineage: Lineage
    parent_ids: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """Where a computed profile's JSON and HTML are in the artifact store."""

    json_digest: str
    html_digest: str
    created_at: int


class DatasetRepository:
    """Create and read datasets, versions and what is stored with them."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    # -- versions -----------------------------------------------------------------------

    def add_version(
        self, project_id: int, name: str, new: NewVersion
    ) -> tuple[DatasetVersion, bool]:
        """Store ``new`` as the next version of ``name``, unless that content is there already.

        Returns:
            The version, and whether it was created (False: the same digest was registered
            before under this name and that version is returned).
        """
        for attempt in range(_ATTEMPTS):
            try:
                return self._add_version_once(project_id, name, new)
            except Conflict:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _add_version_once(
        self, project_id: int, name: str, new: NewVersion
    ) -> tuple[DatasetVersion, bool]:
        now = _now_ms()
        with self._uow.write() as conn:
            dataset_id = _dataset_id(conn, project_id, name, now, create=True)
            existing = conn.execute(
                select(dataset_versions.c.id)
                .where(dataset_versions.c.dataset_id == dataset_id)
                .where(dataset_versions.c.digest == new.digest)
                .order_by(dataset_versions.c.version)
                .limit(1)
            ).scalar()
            if existing is not None:
                return _to_entity(_select_version(conn, existing)), False
            number = conn.execute(
                select(func.coalesce(func.max(dataset_versions.c.version), 0)).where(
                    dataset_versions.c.dataset_id == dataset_id
                )
            ).scalar_one()
            version_id = new_id()
            conn.execute(
                insert(dataset_versions).values(
                    id=version_id,
                    dataset_id=dataset_id,
                    version=number + 1,
                    digest=new.digest,
                    snapshot_digest=new.snapshot_digest,
                    num_rows=new.num_rows,
                    num_columns=len(new.schema),
                    size_bytes=new.size_bytes,
                    operation=new.lineage.operation.value,
                    run_id=new.lineage.run_id,
                    schema_json=dumps(encode_schema(new.schema)),
                    lineage_json=dumps(encode_lineage(new.lineage)),
                    description=new.description,
                    created_at=now,
                )
            )
            if new.parent_ids:
                conn.execute(
                    insert(dataset_parents),
                    [{"version_id": version_id, "parent_id": p} for p in set(new.parent_ids)],
                )
            conn.execute(
                datasets.update().where(datasets.c.id == dataset_id).values(updated_at=now)
            )
            return _to_entity(_select_version(conn, version_id)), True

    def get_version(self, project_id: int, name: str, version: int | None) -> DatasetVersion:
        """Version ``version`` of ``name``, or its newest when ``version`` is None."""
        with self._uow.read() as conn:
            dataset_id = _dataset_id(conn, project_id, name, 0, create=False)
            query = select(dataset_versions.c.id).where(dataset_versions.c.dataset_id == dataset_id)
            if version is None:
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            else:
                query = query.where(dataset_versions.c.version == version)
            version_id = conn.execute(query).scalar()
            if version_id is None:
                newest = conn.execute(
                    select(func.max(dataset_versions.c.version)).where(
                        dataset_versions.c.dataset_id == dataset_id
                    )
                ).scalar()
                raise NotFound(
                    f"dataset {name!r} has no version {version} (versions 1 to {newest})"
                )
            return _to_entity(_select_version(conn, version_id))

    def get_version_by_id(self, version_id: str) -> DatasetVersion:
        """The version with this id."""
        with self._uow.read() as conn:
            return _to_entity(_select_version(conn, version_id))

    def list_versions(self, project_id: int, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, newest first."""
        with self._uow.read() as conn:
            dataset_id = _dataset_id(conn, project_id, name, 0, create=False)
            rows = conn.execute(
                _version_query()
                .where(dataset_versions.c.dataset_id == dataset_id)
                .order_by(dataset_versions.c.version.desc())
            ).all()
        return [_to_entity(row) for row in rows]

    def children(self, version_id: str) -> list[DatasetVersion]:
        """The versions made from this one (cleaned, split, labelled), oldest first."""
        with self._uow.read() as conn:
            rows = conn.execute(
                _version_query()
                .join(dataset_parents, dataset_parents.c.version_id == dataset_versions.c.id)
                .where(dataset_parents.c.parent_id == version_id)
                .order_by(dataset_versions.c.created_at)
            ).all()
        return [_to_entity(row) for row in rows]

    def list_datasets(self, project_id: int) -> list[Dataset]:
        """Every dataset of the project, by name, with its newest version number."""
        counts = (
            select(
                dataset_versions.c.dataset_id,
                func.max(dataset_versions.c.version).label("latest"),
                func.count().label("n"),
            )
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        query = (
            select(datasets, projects.c.name.label("project_name"), counts.c.latest, counts.c.n)
            .join(projects, projects.c.id == datasets.c.project_id)
            .join(counts, counts.c.dataset_id == datasets.c.id)
            .where(datasets.c.project_id == project_id)
            .order_by(datasets.c.name)
        )
        with self._uow.read() as conn:
            rows = conn.execute(query).all()
        return [
            Dataset(
                project=row.project_name,
                name=row.name,
                latest_version=row.latest,
                version_count=row.n,
                created_at=row.created_at,
                updated_at=row.updated_at,
                description=row.description,
            )
            for row in rows
        ]

    # -- rules and validation -----------------------------------------------------------

    def save_rules(self, project_id: int, name: str, rules: Mapping[str, Any]) -> int:
        """Store a new revision of the rules of ``name``; returns the revision number."""
        now = _now_ms()
        with self._uow.write() as conn:
            dataset_id = _dataset_id(conn, project_id, name, now, create=False)
            revision = (
                conn.execute(
                    select(func.coalesce(func.max(dataset_rules.c.revision), 0)).where(
                        dataset_rules.c.dataset_id == dataset_id
                    )
                ).scalar_one()
                + 1
            )
            conn.execute(
                insert(dataset_rules).values(
                    dataset_id=dataset_id,
                    revision=revision,
                    rules_json=dumps(rules),
                    created_at=now,
                )
            )
        return int(revision)

    def latest_rules(self, project_id: int, name: str) -> tuple[int, Any] | None:
        """The newest (revision, rules) of ``name``, or None when it has none."""
        with self._uow.read() as conn:
            dataset_id = _dataset_id(conn, project_id, name, 0, create=False)
            row = conn.execute(
                select(dataset_rules.c.revision, dataset_rules.c.rules_json)
                .where(dataset_rules.c.dataset_id == dataset_id)
                .order_by(dataset_rules.c.revision.desc())
                .limit(1)
            ).first()
        return None if row is None else (row.revision, loads(row.rules_json))

    def add_validation(
        self, version_id: str, revision: int | None, passed: bool, failed: int, result: Any
    ) -> str:
        """Store a validation result of a version; returns its id."""
        result_id = new_id()
        with self._uow.write() as conn:
            conn.execute(
                insert(validation_results).values(
                    id=result_id,
                    version_id=version_id,
                    rules_revision=revision,
                    passed=passed,
                    failed_rules=failed,
                    result_json=dumps(result),
                    created_at=_now_ms(),
                )
            )
        return result_id

    def latest_validation(self, version_id: str) -> Any | None:
        """The newest stored validation result of a version, or None."""
        with self._uow.read() as conn:
            text = conn.execute(
                select(validation_results.c.result_json)
                .where(validation_results.c.version_id == version_id)
                .order_by(validation_results.c.created_at.desc(), validation_results.c.id.desc())
                .limit(1)
            ).scalar()
        return None if text is None else loads(text)

    # -- profiles -----------------------------------------------------------------------

    def get_profile(self, version_id: str, options_key: str) -> StoredProfile | None:
        """The stored profile of a version computed with these options, or None."""
        with self._uow.read() as conn:
            row = conn.execute(
                select(dataset_profiles)
                .where(dataset_profiles.c.version_id == version_id)
                .where(dataset_profiles.c.options_key == options_key)
            ).first()
        if row is None:
            return None
        return StoredProfile(row.json_digest, row.html_digest, row.created_at)

    def put_profile(self, version_id: str, options_key: str, stored: StoredProfile) -> None:
        """Record a computed profile, replacing one computed earlier with the same options."""
        with self._uow.write() as conn:
            conn.execute(
                delete(dataset_profiles)
                .where(dataset_profiles.c.version_id == version_id)
                .where(dataset_profiles.c.options_key == options_key)
            )
            conn.execute(
                insert(dataset_profiles).values(
                    version_id=version_id,
                    options_key=options_key,
                    json_digest=stored.json_digest,
                    html_digest=stored.html_digest,
                    created_at=stored.created_at,
                )
            )

    # -- recipes ------------------------------------------------------------------------

    def save_recipe(self, project_id: int, name: str, spec: Mapping[str, Any]) -> int:
        """Store ``spec`` as the next revision of recipe ``name`` (unless it is the newest)."""
        with self._uow.write() as conn:
            newest = conn.execute(
                select(recipes.c.revision, recipes.c.spec_json)
                .where(recipes.c.project_id == project_id)
                .where(recipes.c.name == name)
                .order_by(recipes.c.revision.desc())
                .limit(1)
            ).first()
            text = dumps(spec)
            if newest is not None and newest.spec_json == text:
                return int(newest.revision)
            revision = 1 if newest is None else newest.revision + 1
            conn.execute(
                insert(recipes).values(
                    project_id=project_id,
                    name=name,
                    revision=revision,
                    spec_json=text,
                    created_at=_now_ms(),
                )
            )
        return int(revision)

    def get_recipe(self, project_id: int, name: str, revision: int | None) -> tuple[int, Any]:
        """Revision ``revision`` (or the newest) of recipe ``name``: (revision, spec)."""
        query = (
            select(recipes.c.revision, recipes.c.spec_json)
            .where(recipes.c.project_id == project_id)
            .where(recipes.c.name == name)
        )
        if revision is None:
            query = query.order_by(recipes.c.revision.desc()).limit(1)
        else:
            query = query.where(recipes.c.revision == revision)
        with self._uow.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                known = conn.execute(
                    select(recipes.c.name)
                    .where(recipes.c.project_id == project_id)
                    .distinct()
                    .order_by(recipes.c.name)
                    .limit(20)
                ).scalars()
                names = ", ".join(known) or "none saved yet"
                which = name if revision is None else f"{name}@{revision}"
                raise NotFound(f"no recipe {which!r} (recipes: {names})")
        return int(row.revision), loads(row.spec_json)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dataset_id(conn: Connection, project_id: int, name: str, now: int, *, create: bool) -> int:
    return named_row_id(
        conn,
        datasets,
        project_id,
        name,
        now,
        create=create,
        missing="no dataset named {name!r} in this project (datasets: {known}); register it "
        "with `modelcycle data add` or mc.data.register",
    )


def _version_query() -> Any:
    return (
        select(*_VERSION_COLUMNS)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
    )


def _select_version(conn: Connection, version_id: str) -> Row[Any]:
    row = conn.execute(_version_query().where(dataset_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound(f"no dataset version with id {version_id!r}")
    return row


def encode_schema(schema: DatasetSchema) -> list[dict[str, Any]]:
    """The JSON form of a schema."""
    return [
        {
            "name": c.name,
            "dtype": c.dtype,
            "kind": c.kind.value,
            "nullable": c.nullable,
            "null_count": c.null_count,
            "categories": None if c.categories is None else list(c.categories),
        }
        for c in schema.columns
    ]


def decode_schema(data: Sequence[Mapping[str, Any]]) -> DatasetSchema:
    """The inverse of ``encode_schema``."""
    return DatasetSchema(
        tuple(
            ColumnSchema(
                name=c["name"],
                dtype=c["dtype"],
                kind=ColumnKind(c["kind"]),
                nullable=c["nullable"],
                null_count=c["null_count"],
                categories=None if c["categories"] is None else tuple(c["categories"]),
            )
            for c in data
        )
    )


def encode_lineage(lineage: Lineage) -> dict[str, Any]:
    """The JSON form of a lineage."""
    return {
        "operation": lineage.operation.value,
        "source": dict(lineage.source),
        "parents": list(lineage.parents),
        "recipe": None if lineage.recipe is None else dict(lineage.recipe),
        "run_id": lineage.run_id,
        "details": dict(lineage.details),
    }


def decode_lineage(data: Mapping[str, Any]) -> Lineage:
    """The inverse of ``encode_lineage``."""
    return Lineage(
        operation=Operation(data["operation"]),
        source=data.get("source") or {},
        parents=tuple(data.get("parents") or ()),
        recipe=data.get("recipe"),
        run_id=data.get("run_id"),
        details=data.get("details") or {},
    )


def _to_entity(row: Row[Any]) -> DatasetVersion:
    return DatasetVersion(
        id=row.id,
        project=row.project_name,
        name=row.dataset_name,
        version=row.version,
        digest=row.digest,
        snapshot_digest=row.snapshot_digest,
        schema=decode_schema(loads(row.schema_json) or []),
        num_rows=row.num_rows,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        lineage=decode_lineage(loads(row.lineage_json)),
        description=row.description,
    )
