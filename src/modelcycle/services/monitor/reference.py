"""What a monitor run compares: a window of the prediction log, and the reference it is held to.

The current data is a ``LogWindow`` of a model version's logged predictions: the newest
``last`` rows, a time range (``since_ms``/``until_ms``), or the ``span_ms`` before the run
(``--since 1h``), which a scheduled monitor resolves again at every run.

The reference is, by default, the model's training data: the dataset version that the run which
logged the model recorded with role ``train`` (``mc.log_input(version, role="train")``). It may
instead be a dataset version or its ref, a DataFrame, or a ``WindowReference``: a window of
logged predictions (of the same or another model version), whose logged outputs then serve as
the reference of the prediction drift. Only the model's input features are compared; the
project's target column is never part of a dataset reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Any

from modelcycle.core.entities.dataset import DatasetVersion
from modelcycle.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from modelcycle.core.entities.model import ModelVersion
    from modelcycle.services.data.rules import RuleSet
    from modelcycle.services.data.versions import DatasetVersions
    from modelcycle.services.registry.versions import ModelRegistry

__all__ = [
    "DEFAULT_LAST",
    "TRAIN_ROLE",
    "LogWindow",
    "Reference",
    "WindowReference",
    "dataset_rules",
    "read_log_window",
    "resolve_reference",
    "training_dataset",
    "window_features",
    "window_outputs",
]

DEFAULT_LAST = 1000
"""The window a monitor run reads when none is given: the newest 1,000 predictions."""

TRAIN_ROLE = "train"
"""The role of the run input that is the model's training data."""

FRAME_LABEL = "a DataFrame"
"""How reports name a reference given as a DataFrame."""


@dataclass(frozen=True, slots=True)
class LogWindow:
    """A window of a model version's prediction log.

    Attributes:
        last: Only the newest ``last`` predictions (of those in the time range, if any).
        since_ms: Only predictions made at or after this time (epoch ms).
        until_ms: Only predictions made before this time (epoch ms).
        span_ms: Only predictions of the ``span_ms`` milliseconds before the run; resolved
            when the window is read, so a scheduled monitor moves with the clock. Exclusive
            with ``since_ms``.

    Raises:
        InvalidInput: a bound is not an int, ``last`` or ``span_ms`` is not positive, both
            ``since_ms`` and ``span_ms`` are given, or ``since_ms >= until_ms``.
    """

    last: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    span_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("last", "since_ms", "until_ms", "span_ms"):
            object.__setattr__(self, name, _bound(name, getattr(self, name)))
        if self.span_ms is not None and self.since_ms is not None:
            raise InvalidInput("a window takes a start time or a span before now, not both")
        since, until = self.since_ms, self.until_ms
        if since is not None and until is not None and since >= until:
            raise InvalidInput(f"window since_ms={since} must be before until_ms={until}")

    def bounds(self, now_ms: int) -> tuple[int | None, int | None]:
        """The time range at ``now_ms``: (since_ms, until_ms), each None when open."""
        if self.span_ms is not None:
            end = self.until_ms if self.until_ms is not None else now_ms
            return end - self.span_ms, self.until_ms
        return self.since_ms, self.until_ms

    def describe(self) -> str:
        """The window in words, e.g. ``"last 1,000 predictions, past 1h"``."""
        parts = []
        if self.last is not None:
            parts.append(f"last {self.last:,} predictions")
        if self.span_ms is not None:
            parts.append(f"past {_span_text(self.span_ms)}")
        if self.since_ms is not None:
            parts.append(f"since {_iso(self.since_ms)}")
        if self.until_ms is not None:
            parts.append(f"until {_iso(self.until_ms)}")
        return ", ".join(parts) or "every logged prediction"


@dataclass(frozen=True, slots=True)
class WindowReference:
    """A window of logged predictions used as the reference (e.g. the first week in production).

    Attributes:
        model_version_id: The model version whose log is read.
        window: Which of its predictions.
        label: How reports name this reference, e.g. ``"churn@2 (last 1,000 predictions)"``.
    """

    model_version_id: str
    window: LogWindow
    label: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A resolved reference: the frame to compare with, and where it came from.

    Attributes:
        label: What the report records (a dataset ref, ``"a DataFrame"``, a window).
        frame: The reference's feature columns (the model's inputs; never the target).
        outputs: The logged ``output.*`` columns when the reference is a window, else None.
        dataset: The dataset version, when the reference is one.
    """

    label: str
    frame: pl.DataFrame
    outputs: pl.DataFrame | None = None
    dataset: DatasetVersion | None = None


def training_dataset(registry: ModelRegistry, version: ModelVersion) -> DatasetVersion:
    """The dataset version the model was trained on, from its lineage.

    Of the run's inputs with role ``train``, the one recorded last is taken.

    Raises:
        NotFound: the run recorded no training input, or its dataset version is gone.
    """
    lineage = registry.lineage(version)
    trained = [item for item in lineage.run.inputs if item.role == TRAIN_ROLE]
    if not trained:
        roles = sorted({item.role for item in lineage.run.inputs})
        recorded = f"only inputs with roles {roles}" if roles else "no input"
        raise NotFound(
            f"model {version.ref} has no training data in its lineage: run "
            f"{version.model.run_id} recorded {recorded}. Pass a reference (a dataset ref such "
            "as 'churn@3', or --reference), or record the data in the run that logs the model "
            "with mc.log_input(dataset_version, role='train')"
        )
    return registry.metadata.datasets.get_version_by_id(trained[-1].dataset_version_id)


def read_log_window(
    registry: ModelRegistry,
    model_version_ids: str | Sequence[str],
    window: LogWindow,
    now_ms: int,
) -> pl.DataFrame:
    """The window's rows as ``read_window`` gives them.

    Raises:
        InvalidInput: the window holds no predictions ("the window holds no predictions: ...").
    """
    from modelcycle.store.predictions.window import read_window

    since_ms, until_ms = window.bounds(now_ms)
    return read_window(
        registry.metadata,
        registry.artifacts,
        model_version_ids=model_version_ids,
        last=window.last,
        since_ms=since_ms,
        until_ms=until_ms,
    )


def window_features(rows: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """The input features of a window's rows, under their own names.

    A feature the window holds as ``input.<name>`` (because its name is taken by a base
    column or starts with ``output.``) is given its name back.

    Args:
        rows: A frame from ``read_window``.
        names: The features to keep (the model's inputs), in order; those the window lacks
            are left out (the quality checks report them). Default: every logged feature.
    """
    from modelcycle.store.predictions.window import BASE_COLUMNS, INPUT_PREFIX, OUTPUT_PREFIX

    logged: dict[str, str] = {}
    for column in rows.columns:
        if column in BASE_COLUMNS or column.startswith(OUTPUT_PREFIX):
            continue
        logged[column.removeprefix(INPUT_PREFIX)] = column
    wanted = list(logged) if names is None else [n for n in names if n in logged]
    return rows.select([rows.get_column(logged[name]).alias(name) for name in wanted])


def window_outputs(rows: pl.DataFrame) -> pl.DataFrame:
    """The ``output.*`` columns of a window's rows."""
    from modelcycle.store.predictions.window import OUTPUT_PREFIX

    return rows.select([c for c in rows.columns if c.startswith(OUTPUT_PREFIX)])


def resolve_reference(
    registry: ModelRegistry,
    data: DatasetVersions,
    project: str,
    version: ModelVersion,
    reference: object,
    *,
    target: str | None,
    now_ms: int,
) -> Reference:
    """The reference ``reference`` names, holding the model's input features.

    Args:
        registry: The model registry (and its stores).
        data: The dataset versions.
        project: The project dataset refs are looked up in.
        version: The monitored model version.
        reference: None (the training data from lineage), a dataset ref or version, a
            DataFrame (polars, pandas or pyarrow) or a ``WindowReference``.
        target: The project's target column, dropped from a dataset or frame.
        now_ms: The time a window's span is measured back from.

    Raises:
        NotFound: no training data in the lineage, or no such dataset version.
        InvalidInput: the reference lacks a feature the model takes, or is of another type.
    """
    names = list(version.model.signature.input_names)
    if isinstance(reference, WindowReference):
        rows = read_log_window(registry, reference.model_version_id, reference.window, now_ms)
        frame = window_features(rows, names)
        _require_features(frame.columns, names, reference.label, version)
        return Reference(reference.label, frame, outputs=window_outputs(rows))
    if reference is None:
        reference = training_dataset(registry, version)
    if isinstance(reference, str | DatasetVersion):
        dataset = data.get(project, reference)
        _require_features(dataset.schema.names, names, dataset.ref, version)
        frame = _polars(data.read_table(dataset, tuple(names)))
        return Reference(dataset.ref, frame, dataset=dataset)
    frame = _as_frame(reference)
    if target is not None and target in frame.columns and target not in names:
        frame = frame.drop(target)
    _require_features(frame.columns, names, FRAME_LABEL, version)
    return Reference(FRAME_LABEL, frame.select(names))


def dataset_rules(data: DatasetVersions, dataset: DatasetVersion | None) -> RuleSet | None:
    """The newest validation rules saved for the reference's dataset, or None."""
    if dataset is None:
        return None
    from modelcycle.services.data.quality import get_rules

    found = get_rules(data, dataset.project, dataset.name)
    return None if found is None else found[1]


def _require_features(
    columns: Sequence[str], names: Sequence[str], label: str, version: ModelVersion
) -> None:
    present = set(columns)
    missing = [name for name in names if name not in present]
    if missing:
        shown = ", ".join(repr(c) for c in list(columns)[:20])
        raise InvalidInput(
            f"the reference ({label}) has no column {', '.join(map(repr, missing))} that model "
            f"{version.ref} takes (the reference has {shown}); pass a reference holding the "
            "model's input features"
        )


def _as_frame(data: Any) -> pl.DataFrame:
    import polars as pl

    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        converted: pl.DataFrame = pl.from_pandas(data)
        return converted
    if module == "pyarrow" and hasattr(data, "schema"):
        return _polars(data)
    raise InvalidInput(
        "a reference is a dataset ref ('churn@3'), a DatasetVersion, a DataFrame (polars, "
        f"pandas or pyarrow) or a window of logged predictions, got {type(data).__name__}"
    )


def _polars(table: Any) -> pl.DataFrame:
    import polars as pl

    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a table gives a DataFrame
        raise InvalidInput("expected a table, got a single column")
    return frame


def _bound(name: str, value: object) -> int | None:
    """A window bound as an int (numpy integers accepted), checked."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidInput(f"window {name}={value!r} must be an int or None")
    number = int(value)
    if name in ("last", "span_ms") and number <= 0:
        raise InvalidInput(f"window {name}={number} must be positive")
    return number


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _span_text(ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"
