"""The model registry: versions with lineage, aliases moved atomically, reviews, promotion rules.

``production`` is the guarded alias: it may point only at a version that was approved and
passed its gate, unless the caller forces it, and then the event says so. Every change is an
event in the same transaction (see ``store.metadata.registry``).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.model import ApprovalState, ModelVersion
from modelcycle.core.errors import Conflict, InvalidInput
from modelcycle.core.refs import LATEST, Ref, check_alias, check_name, parse_ref
from modelcycle.services.registry.logged import resolve_logged_model

if TYPE_CHECKING:
    from modelcycle.core.entities.run import Run
    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import RegisteredModel, RegistryEvent, SqlMetadataStore

GUARDED_ALIAS = "production"
"""The alias that needs an approved version whose gate passed (or ``force``)."""


def current_actor() -> str:
    """Who is acting: ``MODELCYCLE_USER``, else the operating-system user."""
    named = os.environ.get("MODELCYCLE_USER")
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: its run, the data the run read, its code and environment."""

    version: ModelVersion
    run: Run
    inputs: tuple[tuple[str, str], ...]  # (dataset ref or id, role)


class ModelRegistry:
    """Register, find, alias and review model versions of the projects of one store."""

    def __init__(self, metadata: SqlMetadataStore, artifacts: ArtifactStore) -> None:
        self.metadata = metadata
        self.artifacts = artifacts

    def register(
        self,
        project: str,
        source: object,
        name: str,
        *,
        description: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Register the model ``source`` names as the next version of ``name``.

        ``source`` is a logged model, a run or run id, or ``runs:/<run id>/<name>`` (see
        ``resolve_logged_model``).
        """
        check_name(name, "model name")
        logged = resolve_logged_model(self.metadata, source)
        project_id = self.project_id(project, create=True)
        return self.metadata.registry.register(
            project_id, name, logged.id, actor or current_actor(), description
        )

    def get(self, project: str, ref: object) -> ModelVersion:
        """The version ``ref`` names: ``name@3``, ``name@latest``, ``name@production``, ``name``."""
        if isinstance(ref, ModelVersion):
            return self.metadata.registry.get_version_by_id(ref.id)
        parsed = _parse(ref)
        selector: int | str | None = parsed.version
        if parsed.alias is not None:
            selector = None if parsed.alias == LATEST else parsed.alias
        project_id = self.project_id(project, create=False)
        return self.metadata.registry.get_version(project_id, parsed.name, selector)

    def list_models(self, project: str) -> list[RegisteredModel]:
        """The registered models of ``project``."""
        return self.metadata.registry.list_models(self.project_id(project, create=True))

    def list_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        return self.metadata.registry.list_versions(self.project_id(project, create=False), name)

    def events(self, project: str, name: str) -> list[RegistryEvent]:
        """Every change to ``name``, oldest first."""
        return self.metadata.registry.events(self.project_id(project, create=False), name)

    def set_alias(
        self,
        project: str,
        name: str,
        alias: str,
        version: int | str,
        *,
        force: bool = False,
        reason: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` of ``name`` (a number or a ref's selector).

        Raises:
            InvalidInput: the alias is not valid (aliases start with a letter; ``latest`` is
                reserved).
            Conflict: moving ``production`` to a version not approved or whose gate did not
                pass, without ``force``.
        """
        check_alias(alias)
        if alias == LATEST:
            raise InvalidInput("'latest' always means the newest version; choose another alias")
        target = self.get(project, f"{name}@{version}")
        details: dict[str, Any] = {}
        if alias == GUARDED_ALIAS:
            problems = _promotion_problems(target)
            if problems and not force:
                raise Conflict(
                    f"cannot make {target.ref} {GUARDED_ALIAS}: {'; '.join(problems)}. "
                    "Approve it and run its gate, or pass force=True (recorded)"
                )
            if problems:
                details = {"forced": True, "overridden": problems, "reason": reason}
        return self.metadata.registry.set_alias(target.id, alias, actor or current_actor(), details)

    def delete_alias(
        self, project: str, name: str, alias: str, *, actor: str | None = None
    ) -> None:
        """Remove ``alias`` from ``name``."""
        project_id = self.project_id(project, create=False)
        self.metadata.registry.delete_alias(project_id, name, alias, actor or current_actor())

    def review(
        self,
        project: str,
        ref: object,
        state: ApprovalState,
        *,
        comment: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Approve or reject a version, with who, when and why."""
        if state is ApprovalState.PENDING:
            raise InvalidInput("a review approves or rejects; 'pending' is where versions start")
        target = self.get(project, ref)
        return self.metadata.registry.add_approval(
            target.id, state, actor or current_actor(), comment
        )

    def lineage(self, version: ModelVersion) -> Lineage:
        """The run that made the version and the dataset versions that run read."""
        run = self.metadata.runs.get(version.model.run_id)
        inputs = []
        for item in run.inputs:
            try:
                data = self.metadata.datasets.get_version_by_id(item.dataset_version_id)
                inputs.append((data.ref, item.role))
            except LookupError:
                inputs.append((item.dataset_version_id, item.role))
        return Lineage(version, run, tuple(inputs))

    def project_id(self, project: str, *, create: bool) -> int:
        """The id of ``project`` (created on first write when ``create``)."""
        return self.metadata.projects.id_of(project, create=create)


def _parse(ref: object) -> Ref:
    if isinstance(ref, Ref):
        return ref
    if not isinstance(ref, str):
        raise InvalidInput(
            f"a model version is named by a reference such as 'churn@3' or "
            f"'churn@production', got {type(ref).__name__}"
        )
    return parse_ref(ref)


def _promotion_problems(version: ModelVersion) -> list[str]:
    problems = []
    if version.approval is not ApprovalState.APPROVED:
        problems.append(f"it is {version.approval.value}, not approved")
    if version.gate is None:
        problems.append("its gate has not run")
    elif not version.gate.passed:
        problems.append(f"its gate failed ({version.gate.reason})")
    return problems
