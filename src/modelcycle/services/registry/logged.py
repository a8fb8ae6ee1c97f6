"""Models logged by runs: packaged, stored content-addressed, listed among the run's artifacts.

A logged model's bytes live in the artifact store under their sha256; the ``logged_models``
row records the flavor, signature, requirements and that digest, and the run lists the bytes
as ``models/<name>/model`` (plus ``models/<name>/input_example``) among its artifacts. Loading
reads the bytes back verified, and the flavor deserialises them only after the digest matched.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.model import LoggedModel
from modelcycle.core.entities.run import ArtifactEntry
from modelcycle.core.errors import IntegrityError, InvalidInput, NotFound
from modelcycle.core.ids import check_id
from modelcycle.core.paths import normalize_artifact_name

if TYPE_CHECKING:
    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

_RUN_URI = re.compile(r"^runs:/([0-9a-f]{32})(?:/(.+))?$")
DEFAULT_NAME = "model"


def log_model(
    metadata: SqlMetadataStore,
    artifacts: ArtifactStore,
    run_id: str,
    model: object,
    *,
    name: str = DEFAULT_NAME,
    input_example: object = None,
    flavor: str | None = None,
) -> LoggedModel:
    """Package ``model`` and store it as a model of run ``run_id``.

    Raises:
        InvalidInput: the model type is unsupported or the example does not fit it.
        Conflict: the run already logged a model named ``name``.
        NotFound: no such run.
    """
    from modelcycle.services.packaging.package import package_model

    check_id(run_id)
    base = normalize_artifact_name(f"models/{name}")
    packaged = package_model(model, input_example=input_example, flavor=flavor)
    digest, size = artifacts.put_bytes(packaged.data)
    entries = [ArtifactEntry(f"{base}/model", digest, size)]
    example_digest = None
    extra: dict[str, Any] = {}
    if packaged.input_example is not None:
        example_digest, example_size = artifacts.put_bytes(packaged.input_example)
        entries.append(ArtifactEntry(f"{base}/input_example", example_digest, example_size))
        extra["input_example_format"] = packaged.input_example_format
    logged = metadata.logged_models.add(
        LoggedModel(
            id="",
            run_id=run_id,
            name=name,
            flavor=packaged.flavor,
            digest=digest,
            size_bytes=size,
            signature=packaged.signature,
            requirements=packaged.requirements,
            task=packaged.task,
            classes=packaged.classes,
            input_example_digest=example_digest,
            metadata=extra,
        )
    )
    metadata.runs.add_artifacts(run_id, entries, time.time_ns() // 1_000_000)
    return logged


def resolve_logged_model(metadata: SqlMetadataStore, source: object) -> LoggedModel:
    """The logged model ``source`` names.

    ``source`` is a ``LoggedModel``, a run (anything with an ``id``) or its id, whose model
    named ``model`` (or only model) is taken, or ``runs:/<run id>/<name>``.
    """
    if isinstance(source, LoggedModel):
        return metadata.logged_models.get(source.id)
    run_id: object = getattr(source, "id", source)
    name = None
    if isinstance(run_id, str) and (match := _RUN_URI.match(run_id)):
        run_id, name = match.group(1), match.group(2)
    if not isinstance(run_id, str):
        raise InvalidInput(
            f"register takes a logged model, a run, a run id or 'runs:/<run id>/<name>', "
            f"got {type(source).__name__}"
        )
    check_id(run_id)
    if name is not None:
        found = metadata.logged_models.find(run_id, name)
        if found is None:
            raise NotFound(f"run {run_id} logged no model named {name!r}")
        return found
    logged = metadata.logged_models.of_run(run_id)
    if not logged:
        raise NotFound(f"run {run_id} logged no model; log one with mc.log_model(model)")
    named = [m for m in logged if m.name == DEFAULT_NAME]
    if named or len(logged) == 1:
        return (named or logged)[0]
    names = ", ".join(m.name for m in logged)
    raise InvalidInput(
        f"run {run_id} logged several models ({names}); name one: 'runs:/{run_id}/<name>'"
    )


def load_logged_model(artifacts: ArtifactStore, logged: LoggedModel) -> LoadedModel:
    """The model, deserialised only after its bytes matched the recorded digest.

    Raises:
        IntegrityError: the stored bytes differ from what was logged (never deserialised).
        NotFound: the bytes are missing from the artifact store.
    """
    from modelcycle.services.packaging.package import load_packaged

    try:
        data = artifacts.read_bytes(logged.digest)  # type: ignore[arg-type]
    except IntegrityError:
        raise IntegrityError(
            f"the stored bytes of model {logged.name!r} of run {logged.run_id} do not match "
            f"their recorded sha256 {logged.digest}; they were changed after logging and are "
            "not loaded"
        ) from None
    return load_packaged(
        data, flavor=logged.flavor, digest=logged.digest, signature=logged.signature
    )


def input_example(artifacts: ArtifactStore, logged: LoggedModel) -> Any | None:
    """The stored input example of a logged model (a DataFrame or an array), or None."""
    from modelcycle.services.packaging.example import decode_input_example

    if logged.input_example_digest is None:
        return None
    data = artifacts.read_bytes(logged.input_example_digest)  # type: ignore[arg-type]
    return decode_input_example(data, str(logged.metadata.get("input_example_format", "json")))
