"""``modelcycle predict MODEL_REF --input DATA --output FILE``: batch scoring to Parquet."""

from __future__ import annotations

from typing import Annotated

import typer

from modelcycle.cli import _store
from modelcycle.cli._errors import hint_on
from modelcycle.cli._render import console, key_values, print_json
from modelcycle.cli._render_data import progress_bar
from modelcycle.core.errors import NotFound


def predict(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="The model version: churn@3, churn@production or churn.")
    ],
    input_data: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="The rows to score: a dataset ref (churn-data@2), a file, folder, glob or URL "
            "of CSV/JSON-lines/Parquet.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="The Parquet file to write (atomically).", show_default=False
        ),
    ],
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score on this Dask scheduler (tcp://host:8786). Default: MODELCYCLE_DASK.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Score on this many local worker processes.", show_default=False),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk.")] = 100_000,
    project: _store.ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead.")] = False,
) -> None:
    """Score every input row with a registered model and write the predictions to Parquet.

    Each output row holds a prediction id, the prediction, class probabilities for a
    classifier, and the input columns, in input order.
    """
    from modelcycle.sdk.batch import predict_batch
    from modelcycle.sdk.session import configure, get_session
    from modelcycle.services.serve.batch import BatchResult

    opts = _store.options(ctx)
    _store.require_store(configure(opts.uri, opts.artifacts))
    get_session().project = _store.project_name(project)
    with (
        progress_bar(enabled=not as_json, label="scoring") as report,
        hint_on(NotFound, "list the models with `modelcycle models list`"),
    ):
        result = predict_batch(
            ref,
            input_data,
            output,
            dask=dask,
            workers=workers,
            chunk_rows=chunk_rows,
            progress=None if report is None else lambda done, total: report(done, total, "rows"),
        )
    if not isinstance(result, BatchResult):  # pragma: no cover - an output path was given
        raise TypeError("predict_batch returned rows although an output file was given")
    summary = {
        "model": ref,
        "rows": result.rows,
        "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows_per_second),
        "output": str(result.output),
        "first_id": result.first_id,
        "last_id": result.last_id,
    }
    if as_json:
        print_json(summary)
        return
    console().print(
        key_values({k: f"{v:,}" if isinstance(v, int) else v for k, v in summary.items()})
    )
