"""``mc.predict_batch``: a registered model scored over a dataset, a file, a URL or a frame.

The data is a dataset version or its ref (``"churn@3"``), a path, glob or URL of CSV/JSON-lines/
Parquet files, or a pandas/polars DataFrame or Arrow table. A string that names an existing
file, ends like a data file (``.csv``, ``.parquet``...), or holds ``://`` or a glob
character, is read as a source; any other string is a dataset
reference. One local Parquet file is scored where it lies: a worker that sees it reads its own
row groups. Scale-out: ``dask="tcp://host:8786"`` (default: ``MODELCYCLE_DASK``) or
``workers=N`` for N local worker processes; the output is the same either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelcycle.core.entities.dataset import DatasetVersion
from modelcycle.sdk.session import Session, get_session

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator

    import pandas as pd
    import pyarrow as pa

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.serve.batch import BatchResult

__all__ = ["predict_batch"]

_GLOB = frozenset("*?[")
_FILE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".json", ".parquet", ".gz", ".bz2", ".zst"})


def predict_batch(
    model_ref: str | ModelVersion,
    data: object,
    output: str | os.PathLike[str] | None = None,
    *,
    dask: str | None = None,
    workers: int | None = None,
    chunk_rows: int = 100_000,
    with_proba: bool = True,
    on_chunk: Callable[[pa.StringArray, pa.Table, pa.Table], None] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    log: bool = True,
) -> pd.DataFrame | BatchResult:
    """Score every row of ``data`` with a registered model version.

    Args:
        model_ref: The version: ``"churn@3"``, ``"churn@production"``, ``"churn"`` (newest).
        data: A dataset version or its ref, a path/glob/URL, or a DataFrame or Arrow table.
        output: A Parquet file to write (atomically); None returns a DataFrame instead.
        dask: A Dask scheduler address to score on (default: ``MODELCYCLE_DASK``).
        workers: Score on this many local worker processes instead.
        chunk_rows: Rows per chunk.
        with_proba: Add ``proba_<class>`` columns for a classifier.
        on_chunk: Called per chunk with its prediction ids, input rows and predictions.
        progress: Called per chunk with the rows done and the total when known.
        log: Log every prediction (with its id) to the store's prediction log, like the
            endpoint does; durable when the call returns.

    Returns:
        Without ``output``, a DataFrame of ``prediction_id``, ``prediction``, ``proba_<class>``
        and the input columns, in input order; with it, the job's ``BatchResult`` (``rows``,
        ``seconds``, ``output``, ``first_id``, ``last_id``).

    Raises:
        NotFound: no such model version or dataset, or no file at the path.
        InvalidInput: the data does not fit the model's signature (each column named).
    """
    from modelcycle.services.registry.logged import load_logged_model
    from modelcycle.services.serve.batch import score_batch
    from modelcycle.services.serve.executors import open_executor

    session = get_session()
    version = session.registry.get(session.project, model_ref)
    model = load_logged_model(session.artifacts, version.model)
    if dask is None and workers is None:
        dask = session.settings.dask
    batches, total, close = _open_data(session, data)
    writer = None
    if log:
        import time

        from modelcycle.services.serve.prediction_log import batch_logger
        from modelcycle.store.predictions import PredictionLogWriter

        writer = PredictionLogWriter(session.metadata, session.artifacts)
        logger = batch_logger(writer, version.id, lambda: time.time_ns() // 1_000_000)
        user_chunk = on_chunk

        def on_chunk(ids: pa.StringArray, inputs: pa.Table, predictions: pa.Table) -> None:
            logger(ids, inputs, predictions)
            if user_chunk is not None:
                user_chunk(ids, inputs, predictions)

    try:
        with open_executor(dask=dask, workers=workers) as executor:
            result = score_batch(
                model,
                batches,
                output,
                executor=executor,
                chunk_rows=chunk_rows,
                with_proba=with_proba,
                on_chunk=on_chunk,
                progress=progress,
                total_rows=total,
            )
    finally:
        close()
        if writer is not None:
            writer.close()  # flushes: every logged prediction is durable on return
    if output is None and result.table is not None:
        frame: pd.DataFrame = result.table.to_pandas()
        return frame
    return result


def _open_data(
    session: Session, data: object
) -> tuple[Iterator[pa.RecordBatch] | str, int | None, Callable[[], None]]:
    from modelcycle.services.data.sources import open_source

    local = _local_parquet(data)
    if local is not None:  # scored where it lies: workers that see the file read their parts
        return local, None, lambda: None
    if isinstance(data, str) and not _is_source_text(data):
        data = session.data.get(session.project, data)
    if isinstance(data, DatasetVersion):
        table = session.data.read_table(session.data.get(session.project, data))
        return iter(table.to_batches()), table.num_rows, lambda: None
    stream = open_source(data)
    total = stream.total if stream.unit == "rows" else None
    return stream.batches, total, stream.close


def _local_parquet(data: object) -> str | None:
    """The path of ``data`` when it names one local Parquet file, else None."""
    if not isinstance(data, str | Path) or "://" in str(data) or _GLOB.intersection(str(data)):
        return None
    path = Path(data).expanduser()
    return str(path) if path.suffix.lower() == ".parquet" and _is_file(path) else None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _is_source_text(text: str) -> bool:
    if "://" in text or _GLOB.intersection(text):
        return True
    return Path(text).suffix.lower() in _FILE_SUFFIXES or _exists(text)


def _exists(text: str) -> bool:
    try:
        return Path(text).expanduser().exists()
    except OSError:
        return False
