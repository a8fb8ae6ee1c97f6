"""What is stored about a version's quality: rules of a dataset name, validation results, profiles.

Rules belong to a dataset name and are saved in revisions; saving checks them against the
newest version's columns so that a typo fails at once. Every validation is stored with the
version it checked. A profile is computed once per version and options, stored as JSON and
self-contained HTML in the artifact store, and read back from there afterwards.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.core.errors import InvalidInput, NotFound
from modelcycle.services.data.rules import RuleSet, check_rules_against_columns, validate_frame
from modelcycle.store.metadata import StoredProfile

if TYPE_CHECKING:
    import polars as pl

    from modelcycle.core.entities.dataset import DatasetVersion
    from modelcycle.services.data.profile import Profile
    from modelcycle.services.data.rules import ValidationReport
    from modelcycle.services.data.versions import DatasetVersions

_PROFILE_FORMAT = 1  # bump when the profile's content changes, so old stored ones are redone


def frame_of(versions: DatasetVersions, version: DatasetVersion) -> pl.DataFrame:
    """The version's rows as a polars DataFrame, verified."""
    import polars as pl

    frame = pl.from_arrow(versions.read_table(version))
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a table gives a frame
        raise TypeError("a snapshot read back as a Series")
    return frame


def suggest_rules(versions: DatasetVersions, version: DatasetVersion) -> RuleSet:
    """Rules that describe ``version`` as it is (see ``rules.suggest_rules``)."""
    from modelcycle.services.data.rules import suggest_rules as suggest

    return suggest(frame_of(versions, version))


def save_rules(versions: DatasetVersions, project: str, name: str, rules: RuleSet) -> int:
    """Keep ``rules`` as the expectations of dataset ``name``; returns their revision.

    Raises:
        NotFound: no dataset ``name`` (register a version first).
        InvalidInput: a rule names a column the newest version lacks.
    """
    newest = versions.get(project, name)
    check_rules_against_columns(rules, newest.schema.names)
    project_id = versions.project_id(project, create=False)
    return versions.metadata.datasets.save_rules(project_id, name, rules.to_dict())


def get_rules(versions: DatasetVersions, project: str, name: str) -> tuple[int, RuleSet] | None:
    """The newest saved (revision, rules) of dataset ``name``, or None."""
    project_id = versions.project_id(project, create=False)
    found = versions.metadata.datasets.latest_rules(project_id, name)
    if found is None:
        return None
    revision, data = found
    return revision, RuleSet.from_dict(data)


def validate(
    versions: DatasetVersions, version: DatasetVersion, rules: RuleSet | None = None
) -> ValidationReport:
    """Check ``version`` against ``rules`` (default: the rules saved for its name) and store it.

    Raises:
        InvalidInput: no rules given and none saved for the dataset.
    """
    revision: int | None = None
    if rules is None:
        saved = get_rules(versions, version.project, version.name)
        if saved is None:
            raise InvalidInput(
                f"dataset {version.name!r} has no rules yet: save some with "
                f"mc.data.set_rules (CLI: `modelcycle data rules suggest {version.ref} --save`)"
            )
        revision, rules = saved
    report = validate_frame(frame_of(versions, version), rules)
    result = {**report.to_dict(), "ref": version.ref, "rules_revision": revision}
    versions.metadata.datasets.add_validation(
        version.id, revision, report.passed, len(report.failed), result
    )
    return report


def profile(
    versions: DatasetVersions,
    version: DatasetVersion,
    *,
    target: str | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    recompute: bool = False,
) -> Profile:
    """The profile of ``version`` with these options: stored once, then read back.

    Raises:
        InvalidInput: ``target`` is not a column of the version.
    """
    from modelcycle.services.data.profile import Profile, compute_profile

    if target is not None and target not in version.schema:
        raise InvalidInput(
            f"target {target!r} is not a column of {version.ref} (columns: "
            f"{', '.join(version.schema.names[:20])})"
        )
    options = {"format": _PROFILE_FORMAT, "target": target, "max_rows": max_rows, "seed": seed}
    key = hashlib.sha256(orjson.dumps(options, option=orjson.OPT_SORT_KEYS)).hexdigest()
    repository = versions.metadata.datasets
    stored = None if recompute else repository.get_profile(version.id, key)
    if stored is not None:
        try:
            data = orjson.loads(versions.artifacts.read_bytes(stored.json_digest))  # type: ignore[arg-type]
            return Profile.from_dict(data)
        except NotFound:
            pass  # the blob is gone: compute it again
    computed = compute_profile(
        frame_of(versions, version),
        target=target,
        title=f"{version.project} / {version.ref}",
        max_rows=max_rows,
        seed=seed,
    )
    json_digest, _ = versions.artifacts.put_bytes(computed.to_json())
    html_digest, _ = versions.artifacts.put_bytes(computed.to_html().encode())
    repository.put_profile(
        version.id, key, StoredProfile(json_digest, html_digest, time.time_ns() // 1_000_000)
    )
    return computed


def latest_validation(versions: DatasetVersions, version: DatasetVersion) -> Any | None:
    """The newest stored validation result of ``version`` (its JSON form), or None."""
    return versions.metadata.datasets.latest_validation(version.id)
