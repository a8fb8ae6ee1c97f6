"""Dataset versions over the stores: register from any source, resolve refs, load verified.

Registering streams the source into a Parquet snapshot in a temporary folder while hashing its
content, stores the file content-addressed in the artifact store, and only then writes the
version row in one transaction. A failure at any step leaves no version behind; content that
a name already holds is not stored again, and its existing version is returned.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.core.entities.dataset import DatasetVersion, Lineage, Operation
from modelcycle.core.errors import IntegrityError, InvalidInput, NotFound
from modelcycle.core.refs import LATEST, Ref, check_name, parse_ref
from modelcycle.services.data.snapshots import read_snapshot, write_snapshot
from modelcycle.services.data.sources import SourceOptions, open_source
from modelcycle.store.metadata import NewVersion

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from modelcycle.core.entities.dataset import Dataset
    from modelcycle.store.artifacts import ArtifactStore
    from modelcycle.store.metadata import SqlMetadataStore

OUTPUTS = ("pandas", "polars", "arrow")
_PROGRESS_SECONDS = 0.1


class DatasetVersions:
    """Register, find and load dataset versions of the projects of one store."""

    def __init__(self, metadata: SqlMetadataStore, artifacts: ArtifactStore) -> None:
        self.metadata = metadata
        self.artifacts = artifacts

    # -- writes ---------------------------------------------------------------------------

    def register(
        self,
        project: str,
        name: str,
        source: object,
        *,
        options: SourceOptions | None = None,
        description: str | None = None,
        run_id: str | None = None,
        progress: Callable[[int, int | None, str], None] | None = None,
    ) -> DatasetVersion:
        """Snapshot ``source`` as the next version of ``name`` (see ``sources`` for sources).

        Returns:
            The new version, or the existing one when ``name`` already holds this content.

        Raises:
            InvalidInput: the source cannot be read (the message names the file, line,
                column or query at fault); nothing is registered.
            NotFound: no file matches the path, glob or URL.
        """
        check_name(name, "dataset name")
        stream = open_source(source, options)
        lineage = Lineage(Operation.REGISTER, source=stream.description, run_id=run_id)
        last = [0.0]

        def on_rows(_rows: int) -> None:
            if progress is not None and time.monotonic() - last[0] >= _PROGRESS_SECONDS:
                last[0] = time.monotonic()
                progress(stream.progress(), stream.total, stream.unit)

        try:
            version = self._store(project, name, stream.batches, lineage, (), description, on_rows)
        finally:
            stream.close()
        if progress is not None:
            done = stream.progress()
            progress(done, stream.total or done, stream.unit)
        return version

    def add_table(
        self,
        project: str,
        name: str,
        table: pa.Table,
        lineage: Lineage,
        parents: Sequence[DatasetVersion] = (),
        description: str | None = None,
    ) -> DatasetVersion:
        """Store a table made from other versions (cleaned, split, labelled) as a new version."""
        check_name(name, "dataset name")
        lineage = dataclasses.replace(lineage, parents=tuple(p.ref for p in parents))
        if table.num_rows == 0:
            batches = iter([pa.RecordBatch.from_pylist([], schema=table.schema)])
        else:
            batches = iter(table.to_batches())
        parent_ids = tuple(p.id for p in parents)
        return self._store(project, name, batches, lineage, parent_ids, description, None)

    def _store(
        self,
        project: str,
        name: str,
        batches: Any,
        lineage: Lineage,
        parent_ids: tuple[str, ...],
        description: str | None,
        on_rows: Callable[[int], None] | None,
    ) -> DatasetVersion:
        folder = Path(tempfile.mkdtemp(prefix="modelcycle-snapshot-"))
        try:
            path = folder / "snapshot.parquet"
            snapshot = write_snapshot(batches, path, on_rows=on_rows)
            snapshot_digest, size = self.artifacts.put_file(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        new = NewVersion(
            digest=snapshot.digest,
            snapshot_digest=snapshot_digest,
            schema=snapshot.schema,
            num_rows=snapshot.num_rows,
            size_bytes=size,
            lineage=lineage,
            parent_ids=parent_ids,
            description=description,
        )
        # The project row is created only once the data has been read and stored, so a source
        # that fails leaves nothing behind (a blob without a version is harmless and shared).
        project_id = self.project_id(project, create=True)
        version, _created = self.metadata.datasets.add_version(project_id, name, new)
        return self._bound(version)

    # -- reads ----------------------------------------------------------------------------

    def get(self, project: str, ref: object) -> DatasetVersion:
        """The version ``ref`` names.

        ``ref`` is ``"name@3"``, ``"name@latest"``, ``"name"``, a ``Ref`` or a
        ``DatasetVersion`` (re-read from the store).

        Raises:
            NotFound: no such dataset or version; the message lists what there is.
            InvalidInput: ``ref`` is not a reference, or uses an alias (datasets have none).
        """
        if isinstance(ref, DatasetVersion):
            return self.get_by_id(ref.id)
        if isinstance(ref, str):
            ref = parse_ref(ref)
        if not isinstance(ref, Ref):
            raise InvalidInput(
                f"a dataset is named by a reference such as 'churn@3', got {type(ref).__name__}"
            )
        if ref.alias is not None and ref.alias != LATEST:
            raise InvalidInput(
                f"datasets have version numbers and 'latest', not aliases: use "
                f"'{ref.name}@<number>' or '{ref.name}@latest' instead of '{ref}'"
            )
        project_id = self.project_id(project, create=False)
        return self._bound(self.metadata.datasets.get_version(project_id, ref.name, ref.version))

    def get_by_id(self, version_id: str) -> DatasetVersion:
        """The version with this id, in any project."""
        return self._bound(self.metadata.datasets.get_version_by_id(version_id))

    def list_datasets(self, project: str) -> list[Dataset]:
        """The datasets of ``project``, by name."""
        try:
            project_id = self.project_id(project, create=False)
        except NotFound:
            return []
        return self.metadata.datasets.list_datasets(project_id)

    def list_versions(self, project: str, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, newest first."""
        project_id = self.project_id(project, create=False)
        return [self._bound(v) for v in self.metadata.datasets.list_versions(project_id, name)]

    def children(self, version: DatasetVersion) -> list[DatasetVersion]:
        """The versions made from ``version``."""
        return [self._bound(v) for v in self.metadata.datasets.children(version.id)]

    def read_table(
        self, version: DatasetVersion, columns: tuple[str, ...] | None = None
    ) -> pa.Table:
        """The version's rows as an Arrow table, verified against the snapshot digest.

        Raises:
            IntegrityError: the stored snapshot is damaged; it is never returned.
        """
        try:
            data = self.artifacts.read_bytes(version.snapshot_digest)  # type: ignore[arg-type]
        except IntegrityError:
            raise IntegrityError(
                f"the snapshot of {version.project}/{version.ref} is damaged (its sha256 no "
                f"longer matches {version.snapshot_digest}); restore the artifact store from a "
                "backup or register the data again"
            ) from None
        except NotFound:
            raise NotFound(
                f"the snapshot of {version.project}/{version.ref} ({version.snapshot_digest}) "
                "is missing from the artifact store; is MODELCYCLE_ARTIFACTS set to the right "
                "place?"
            ) from None
        return read_snapshot(data, columns)

    def load(
        self,
        version: DatasetVersion,
        output: str = "pandas",
        columns: tuple[str, ...] | None = None,
    ) -> Any:
        """The version's rows as a pandas DataFrame, a polars DataFrame or an Arrow table."""
        if output not in OUTPUTS:
            raise InvalidInput(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        table = self.read_table(version, columns)
        if output == "arrow":
            return table
        if output == "polars":
            import polars as pl

            return pl.from_arrow(table)
        return table.to_pandas()

    # -- internals ------------------------------------------------------------------------

    def _bound(self, version: DatasetVersion) -> DatasetVersion:
        return dataclasses.replace(version, _loader=self._load_for_entity)

    def _load_for_entity(
        self, version: DatasetVersion, output: str, columns: tuple[str, ...] | None
    ) -> Any:
        return self.load(version, output, columns)

    def project_id(self, project: str, *, create: bool) -> int:
        """The id of ``project`` (created on first write when ``create``)."""
        return self.metadata.projects.id_of(project, create=create)
