"""Batch scoring speed: 1,000,000 rows x 30 features through a gradient-boosted classifier.

Fits ``GradientBoostingClassifier(n_estimators=100)`` on scikit-learn's breast-cancer data and
resamples 1,000,000 rows from it with 2 % multiplicative noise (seeded). The anchor is the raw
model: ``model.predict(numpy array)`` on all rows at once, the array already in memory. Against
it, ``score_batch`` starts from the rows as a dataset version stores them: a Parquet file
(zstd, no dictionary for float columns, row groups of 131,072 rows, as
``services.data.snapshots`` writes), written before any timing. Reading that file is part of
the timed work (the anchor reads nothing), and so is writing and syncing the output Parquet
file (ids, predictions and the 30 input columns), which the anchor does not write either. The
previous run's output is deleted before each timed run, so no run pays for freeing it:

- ``score_batch`` in one process, predictions only, target >= 0.95x the raw throughput;
- the same on a two-worker ``distributed.LocalCluster`` (one thread per worker process; the
  cluster start is not timed), target >= 1.7x the raw throughput;
- for information: two workers fed from an Arrow table in the driver's memory (the rows travel
  to the workers), and one process with class probabilities too, against raw ``predict`` +
  ``predict_proba``.

Each figure is the median of ``--repeats`` runs. Run by hand::

    .venv/bin/python benchmarks/batch.py [--rows 1000000] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_LOCAL = 0.95
TARGET_DASK = 1.7


SNAPSHOT_ROW_GROUP = 131_072


def _setup(rows: int, seed: int) -> tuple[Any, Any, Any]:
    import numpy as np
    import pyarrow as pa
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from modelcycle.services.packaging.package import load_packaged, package_model

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    fitted = GradientBoostingClassifier(n_estimators=100, random_state=seed).fit(x, y)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(x), rows)
    frame = x.iloc[picks].reset_index(drop=True) * rng.normal(1.0, 0.02, (rows, x.shape[1]))
    packaged = package_model(fitted, input_example=x.head(20))
    model = load_packaged(
        packaged.data, flavor=packaged.flavor, digest=packaged.digest, signature=packaged.signature
    )
    return model, frame, pa.Table.from_pandas(frame, preserve_index=False)


def _median(repeats: int, run: Any, before: Any = None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    """Run the benchmark and print each figure with its ratio to the raw model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import pyarrow.parquet as pq

    from modelcycle.services.serve.batch import score_batch
    from modelcycle.services.serve.executors import open_executor

    model, frame, table = _setup(args.rows, seed=0)
    matrix = frame.to_numpy()
    raw = model.raw
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "rows.parquet"
        pq.write_table(
            table,
            source,
            compression="zstd",
            use_dictionary=False,
            row_group_size=SNAPSHOT_ROW_GROUP,
        )
        out = Path(folder) / "scores.parquet"

        def clear() -> None:
            out.unlink(missing_ok=True)

        raw_s = _median(args.repeats, lambda: raw.predict(matrix))
        raw_both_s = _median(args.repeats, lambda: (raw.predict(matrix), raw.predict_proba(matrix)))
        local_s = _median(
            args.repeats, lambda: score_batch(model, source, out, with_proba=False), clear
        )
        both_s = _median(args.repeats, lambda: score_batch(model, source, out), clear)
        started = time.perf_counter()
        with open_executor(workers=args.workers) as executor:
            startup_s = time.perf_counter() - started
            score_batch(model, table.slice(0, 1_000), executor=executor, with_proba=False)
            dask_s = _median(
                args.repeats,
                lambda: score_batch(model, source, out, executor=executor, with_proba=False),
                clear,
            )
            shipped_s = _median(
                args.repeats,
                lambda: score_batch(model, table, out, executor=executor, with_proba=False),
                clear,
            )

    rows = args.rows
    print(f"{rows:,} rows x {table.num_columns} features, GradientBoostingClassifier(100)")
    print(f"  raw model.predict(numpy)          {raw_s:7.3f} s  {rows / raw_s:12,.0f} rows/s")
    for label, seconds, anchor, target in [
        ("score_batch, 1 process -> Parquet", local_s, raw_s, TARGET_LOCAL),
        (f"score_batch, {args.workers} Dask workers", dask_s, raw_s, TARGET_DASK),
        (f"  from a table in memory, {args.workers} wk", shipped_s, raw_s, None),
        ("score_batch + proba, 1 process", both_s, raw_both_s, None),
    ]:
        ratio = anchor / seconds
        goal = f"(target >= {target}x)" if target else "(for information)"
        if anchor is raw_both_s:
            goal = f"(vs raw predict+proba {anchor:.3f} s)"
        print(
            f"  {label:33s} {seconds:7.3f} s  {rows / seconds:12,.0f} rows/s  {ratio:5.2f}x {goal}"
        )
    print(f"  Dask cluster start (not timed above) {startup_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
