"""``mc.data``: datasets of the current project, as immutable content-addressed versions.

Wherever a dataset is taken, a reference (``"churn@3"``, ``"churn@latest"``, ``"churn"``) or a
``DatasetVersion`` is accepted; functions that only read data also take a DataFrame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.sdk import context
from modelcycle.sdk.session import get_session

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from modelcycle.core.entities.dataset import Dataset, DatasetVersion
    from modelcycle.services.data.profile import Profile
    from modelcycle.services.data.recipes import Recipe
    from modelcycle.services.data.rules import RuleSet, ValidationReport

__all__ = [
    "clean",
    "get",
    "get_rules",
    "list_datasets",
    "load",
    "profile",
    "register",
    "set_rules",
    "split",
    "suggest_rules",
    "validate",
    "versions",
]


def register(
    name: str,
    source: object,
    *,
    query: str | None = None,
    table: str | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    encoding: str = "utf8",
    header: bool = True,
    column_names: tuple[str, ...] | None = None,
    dtypes: Mapping[str, str] | None = None,
    null_values: tuple[str, ...] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    description: str | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> DatasetVersion:
    """Snapshot ``source`` as the next version of dataset ``name`` in the current project.

    Args:
        name: The dataset name.
        source: A path, folder or glob of CSV/TSV/JSON-lines/Parquet files; an fsspec URL
            (``s3://bucket/data.parquet``); a database URL with ``query`` or ``table``; or a
            pandas/polars DataFrame or pyarrow Table.
        query: SQL to run, for a database URL.
        table: A table to read whole, for a database URL.
        format: ``csv``, ``tsv``, ``jsonl`` or ``parquet`` when the extension does not tell.
        delimiter: CSV delimiter.
        encoding: Text encoding of CSV and JSON files.
        header: Whether a CSV's first line holds the column names.
        column_names: Column names for a CSV without a header.
        dtypes: Types of some columns, e.g. ``{"zip": "string"}``.
        null_values: CSV strings read as null.
        storage_options: Options of the fsspec file system of a URL.
        description: What this version is.
        progress: Called with (done, total or None, unit) while reading.

    Returns:
        The new version; registering content that ``name`` already holds returns that
        version and stores nothing. Inside ``mc.start_run()`` the run is recorded as the one
        that made it.
    """
    from modelcycle.services.data.sources import SourceOptions

    options = SourceOptions(
        format=format,
        delimiter=delimiter,
        encoding=encoding,
        header=header,
        column_names=tuple(column_names) if column_names else None,
        dtypes=dtypes,
        null_values=tuple(null_values) if null_values is not None else None,
        query=query,
        table=table,
        storage_options=storage_options,
    )
    session = get_session()
    active = context.active()
    return session.data.register(
        session.project,
        name,
        source,
        options=options,
        description=description,
        run_id=active.id if active is not None else None,
        progress=progress,
    )


def get(ref: str | DatasetVersion) -> DatasetVersion:
    """The version ``ref`` names in the current project (``"name@3"``, ``"name@latest"``)."""
    session = get_session()
    return session.data.get(session.project, ref)


def load(
    ref: str | DatasetVersion, output: str = "pandas", columns: tuple[str, ...] | None = None
) -> Any:
    """The rows of a version, verified: pandas (default), ``"polars"`` or ``"arrow"``."""
    return get(ref).load(output, columns)


def list_datasets() -> list[Dataset]:
    """The datasets of the current project, by name."""
    session = get_session()
    return session.data.list_datasets(session.project)


def versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, newest first."""
    session = get_session()
    return session.data.list_versions(session.project, name)


def _version(ref: str | DatasetVersion) -> DatasetVersion:
    return get(ref)


def suggest_rules(ref: str | DatasetVersion) -> RuleSet:
    """Rules that describe a version as it is: edit them, then ``set_rules``.

    ``rules.to_yaml()`` gives the YAML form to edit by hand.
    """
    from modelcycle.services.data import quality

    return quality.suggest_rules(get_session().data, _version(ref))


def set_rules(name: str, rules: RuleSet | str) -> int:
    """Keep ``rules`` (a ``RuleSet`` or its YAML text) as the expectations of dataset ``name``.

    Returns:
        The revision of the saved rules (every save is kept).

    Raises:
        InvalidInput: a rule names a column the newest version lacks, or the YAML is wrong.
    """
    from modelcycle.services.data import quality
    from modelcycle.services.data.rules import RuleSet

    if isinstance(rules, str):
        rules = RuleSet.from_yaml(rules)
    session = get_session()
    return quality.save_rules(session.data, session.project, name, rules)


def get_rules(name: str) -> RuleSet | None:
    """The newest saved rules of dataset ``name``, or None."""
    from modelcycle.services.data import quality

    session = get_session()
    found = quality.get_rules(session.data, session.project, name)
    return None if found is None else found[1]


def validate(ref: str | DatasetVersion, rules: RuleSet | str | None = None) -> ValidationReport:
    """Check a version against ``rules`` (default: its dataset's saved rules); stored.

    Returns:
        Each rule's result: passed, the failing count and up to 20 failing rows.
    """
    from modelcycle.services.data import quality
    from modelcycle.services.data.rules import RuleSet

    if isinstance(rules, str):
        rules = RuleSet.from_yaml(rules)
    return quality.validate(get_session().data, _version(ref), rules)


def profile(
    ref: str | DatasetVersion,
    *,
    target: str | None = None,
    max_rows: int | None = None,
    recompute: bool = False,
) -> Profile:
    """The EDA profile of a version (computed once, stored with it).

    Args:
        ref: The version.
        target: The target column (default: the project's target when the data has it).
        max_rows: Profile a seeded sample of this many rows; the report says so.
        recompute: Compute again even if a stored profile exists.

    Returns:
        The profile: ``.to_dict()``, ``.to_html(path)``, ``.warnings``, ``.columns``.
    """
    from modelcycle.services.data import quality

    session = get_session()
    version = _version(ref)
    if target is None:
        card_target = session.tracking.get_project(session.project).card.target
        target = card_target if card_target in version.schema else None
    return quality.profile(
        session.data, version, target=target, max_rows=max_rows, recompute=recompute
    )


def clean(
    ref: str | DatasetVersion,
    recipe: Recipe | str,
    *,
    name: str | None = None,
    save_as: str | None = None,
    description: str | None = None,
) -> DatasetVersion:
    """Apply a cleaning recipe; the result is a new version with lineage to ``ref``.

    Args:
        ref: The version to clean.
        recipe: A ``Recipe``, its YAML text, or the name (``name`` or ``name@2``) of a saved
            recipe, to replay it on new data.
        name: The dataset of the result (default ``<dataset>-clean``).
        save_as: Also save the recipe under this name.
        description: What the new version is.
    """
    from modelcycle.services.data import transforms
    from modelcycle.services.data.recipes import Recipe

    session = get_session()
    version = _version(ref)
    if isinstance(recipe, str):
        if "\n" in recipe or ":" in recipe:
            recipe = Recipe.from_yaml(recipe)
        else:
            _, recipe = transforms.load_recipe(session.data, session.project, recipe)
    active = context.active()
    return transforms.clean(
        session.data,
        version,
        recipe,
        name=name,
        recipe_name=save_as,
        run_id=active.id if active is not None else None,
        description=description,
    )


def split(
    ref: str | DatasetVersion,
    fractions: Mapping[str, float] | None = None,
    *,
    method: str = "random",
    column: str | None = None,
    seed: int = 0,
    prefix: str | None = None,
) -> dict[str, DatasetVersion]:
    """Split a version into parts, each a version of ``<prefix>-<part>`` with lineage.

    Args:
        ref: The version to split.
        fractions: Part name to share, e.g. ``{"train": 0.7, "valid": 0.15, "test": 0.15}``
            (default 80/20 train/test).
        method: ``random``, ``stratified`` (by ``column``), ``time`` (earlier rows first, by
            ``column``) or ``group`` (each ``column`` value in one part).
        column: The column the method needs.
        seed: Seeds the random choices.
        prefix: The parts' dataset name prefix (default: the dataset's name).
    """
    from modelcycle.services.data import transforms

    active = context.active()
    return transforms.split(
        get_session().data,
        _version(ref),
        fractions,
        method=method,
        column=column,
        seed=seed,
        prefix=prefix,
        run_id=active.id if active is not None else None,
    )
