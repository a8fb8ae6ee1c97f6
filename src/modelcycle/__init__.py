"""ModelCycle: the machine-learning lifecycle in one package.

``import modelcycle as mc`` is cheap: every name below is loaded on first use (PEP 562), so
no pandas, scikit-learn, SQLAlchemy or web framework is imported until a call needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelcycle._version import __version__

if TYPE_CHECKING:
    from modelcycle.core.entities.dataset import Dataset, DatasetVersion
    from modelcycle.core.entities.model import LoggedModel, ModelVersion, Signature
    from modelcycle.core.entities.project import Direction, ProblemCard, Project, Task
    from modelcycle.core.entities.run import MetricHistory, MetricPoint, Run, RunStatus
    from modelcycle.core.errors import (
        AlreadyExists,
        Conflict,
        IntegrityError,
        InvalidFilter,
        InvalidInput,
        MissingDependency,
        ModelCycleError,
        NotFound,
        NotImplementedYet,
        PermissionDenied,
        SchemaOutdated,
        StoreError,
    )
    from modelcycle.sdk import data, models, monitor
    from modelcycle.sdk.batch import predict_batch
    from modelcycle.sdk.evaluation import evaluate
    from modelcycle.sdk.feedback import feedback
    from modelcycle.sdk.fluent import (
        ActiveRun,
        RunList,
        active_run,
        download_artifacts,
        end_run,
        flush,
        get_metric_history,
        get_project,
        get_run,
        log_artifact,
        log_batch,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_project,
        set_tag,
        set_tags,
        start_run,
    )
    from modelcycle.sdk.models import log_model
    from modelcycle.sdk.predictions import predictions
    from modelcycle.sdk.session import configure

_LAZY: dict[str, str] = {
    "configure": "modelcycle.sdk.session",
    **dict.fromkeys(
        (
            "ActiveRun",
            "RunList",
            "active_run",
            "download_artifacts",
            "end_run",
            "flush",
            "get_metric_history",
            "get_project",
            "get_run",
            "log_artifact",
            "log_batch",
            "log_input",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "search_runs",
            "set_project",
            "set_tag",
            "set_tags",
            "start_run",
        ),
        "modelcycle.sdk.fluent",
    ),
    **dict.fromkeys(
        ("Direction", "ProblemCard", "Project", "Task"), "modelcycle.core.entities.project"
    ),
    **dict.fromkeys(("Dataset", "DatasetVersion"), "modelcycle.core.entities.dataset"),
    **dict.fromkeys(("LoggedModel", "ModelVersion", "Signature"), "modelcycle.core.entities.model"),
    "log_model": "modelcycle.sdk.models",
    "evaluate": "modelcycle.sdk.evaluation",
    "feedback": "modelcycle.sdk.feedback",
    "predict_batch": "modelcycle.sdk.batch",
    "predictions": "modelcycle.sdk.predictions",
    **dict.fromkeys(
        ("MetricHistory", "MetricPoint", "Run", "RunStatus"), "modelcycle.core.entities.run"
    ),
    **dict.fromkeys(
        (
            "AlreadyExists",
            "Conflict",
            "IntegrityError",
            "InvalidFilter",
            "InvalidInput",
            "MissingDependency",
            "ModelCycleError",
            "NotFound",
            "NotImplementedYet",
            "PermissionDenied",
            "SchemaOutdated",
            "StoreError",
        ),
        "modelcycle.core.errors",
    ),
}

_SUBMODULES: dict[str, str] = {
    "data": "modelcycle.sdk.data",
    "models": "modelcycle.sdk.models",
    "monitor": "modelcycle.sdk.monitor",
}

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Conflict",
    "Dataset",
    "DatasetVersion",
    "Direction",
    "IntegrityError",
    "InvalidFilter",
    "InvalidInput",
    "LoggedModel",
    "MetricHistory",
    "MetricPoint",
    "MissingDependency",
    "ModelCycleError",
    "ModelVersion",
    "NotFound",
    "NotImplementedYet",
    "PermissionDenied",
    "ProblemCard",
    "Project",
    "Run",
    "RunList",
    "RunStatus",
    "SchemaOutdated",
    "Signature",
    "StoreError",
    "Task",
    "__version__",
    "active_run",
    "configure",
    "data",
    "download_artifacts",
    "end_run",
    "evaluate",
    "feedback",
    "flush",
    "get_metric_history",
    "get_project",
    "get_run",
    "log_artifact",
    "log_batch",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "models",
    "monitor",
    "predict_batch",
    "predictions",
    "search_runs",
    "set_project",
    "set_tag",
    "set_tags",
    "start_run",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        submodule = importlib.import_module(_SUBMODULES[name])
        globals()[name] = submodule
        return submodule
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelcycle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
