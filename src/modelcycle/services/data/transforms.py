"""New versions made from a version: cleaned by a recipe, or split into parts.

Each result is a version of its own with lineage to the version it was made from (and, for a
cleaning, the recipe with what it learned), so that any model trained on a part traces back to
the raw data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import Lineage, Operation
from modelcycle.core.refs import check_name
from modelcycle.services.data.quality import frame_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modelcycle.core.entities.dataset import DatasetVersion
    from modelcycle.services.data.recipes import Recipe
    from modelcycle.services.data.versions import DatasetVersions

DEFAULT_FRACTIONS = {"train": 0.8, "test": 0.2}


def split(
    versions: DatasetVersions,
    version: DatasetVersion,
    fractions: Mapping[str, float] | None = None,
    *,
    method: str = "random",
    column: str | None = None,
    seed: int = 0,
    prefix: str | None = None,
    run_id: str | None = None,
) -> dict[str, DatasetVersion]:
    """Split ``version`` into parts, each registered as dataset ``<prefix>-<part>``.

    Args:
        versions: The store's dataset versions.
        version: The version to split.
        fractions: Part name to share of rows (default 80% train, 20% test).
        method: ``random``, ``stratified``, ``time`` or ``group`` (see ``splits``).
        column: The label, time or group column the method needs.
        seed: Seeds the random choices.
        prefix: The datasets' name prefix (default: the version's dataset name).
        run_id: The run that made the split, if any.

    Returns:
        Part name to its new version, in the order of ``fractions``.
    """
    from modelcycle.services.data.splits import split_frame

    fractions = dict(fractions or DEFAULT_FRACTIONS)
    prefix = check_name(prefix or version.name, "dataset name prefix")
    for part in fractions:
        check_name(f"{prefix}-{part}", "split part name")
    parts = split_frame(
        frame_of(versions, version),
        fractions,
        method=method,  # type: ignore[arg-type]
        column=column,
        seed=seed,
    )
    made: dict[str, DatasetVersion] = {}
    for part, frame in parts.items():
        details: dict[str, Any] = {
            "part": part,
            "method": method,
            "fractions": fractions,
            "seed": seed,
        }
        if column is not None:
            details["column"] = column
        lineage = Lineage(Operation.SPLIT, run_id=run_id, details=details)
        made[part] = versions.add_table(
            version.project, f"{prefix}-{part}", frame.to_arrow(), lineage, [version]
        )
    return made


def clean(
    versions: DatasetVersions,
    version: DatasetVersion,
    recipe: Recipe,
    *,
    name: str | None = None,
    recipe_name: str | None = None,
    run_id: str | None = None,
    description: str | None = None,
) -> DatasetVersion:
    """Apply ``recipe`` to ``version``; the result is the next version of ``name``.

    Args:
        versions: The store's dataset versions.
        version: The data to clean.
        recipe: The steps; they learn from this data (a median, a scaler's mean...).
        name: The dataset to add the result to (default: ``<dataset>-clean``).
        recipe_name: Also save the recipe under this name, for replay on new data.
        run_id: The run that made the version, if any.
        description: What this version is.

    Returns:
        The cleaned version, whose lineage holds the recipe and what each step learned.
    """
    applied = recipe.apply(frame_of(versions, version))
    spec = recipe.to_dict()
    recorded: dict[str, Any] = {"spec": spec, "fitted": applied.fitted.to_dict()}
    if recipe_name is not None:
        check_name(recipe_name, "recipe name")
        project_id = versions.project_id(version.project, create=False)
        revision = versions.metadata.datasets.save_recipe(project_id, recipe_name, spec)
        recorded["name"] = f"{recipe_name}@{revision}"
    lineage = Lineage(Operation.CLEAN, recipe=recorded, run_id=run_id)
    target = name or f"{version.name}-clean"
    return versions.add_table(
        version.project, target, applied.frame.to_arrow(), lineage, [version], description
    )


def load_recipe(versions: DatasetVersions, project: str, ref: str) -> tuple[str, Recipe]:
    """A saved recipe by ``name`` or ``name@revision``: (its canonical ref, the recipe)."""
    from modelcycle.core.refs import parse_ref
    from modelcycle.services.data.recipes import Recipe

    parsed = parse_ref(ref)
    if parsed.alias is not None and not parsed.is_latest:
        from modelcycle.core.errors import InvalidInput

        raise InvalidInput(f"recipes are named 'name' or 'name@revision', not {ref!r}")
    project_id = versions.project_id(project, create=False)
    revision, spec = versions.metadata.datasets.get_recipe(project_id, parsed.name, parsed.version)
    return f"{parsed.name}@{revision}", Recipe.from_dict(spec)
