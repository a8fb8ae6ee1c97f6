"""The public surface of DESIGN §4 exists with its signatures; nothing private leaks."""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

import pytest

import modelcycle as mc

if TYPE_CHECKING:
    from collections.abc import Callable

# name -> the parameters DESIGN §4 promises, in order (keyword-only ones after "*")
SIGNATURES: dict[str, list[str]] = {
    "configure": ["uri", "artifacts"],
    "set_project": ["name", "*", "task", "target", "metric", "goal"],
    "start_run": ["name", "tags", "parent"],
    "log_param": ["key", "value"],
    "log_params": ["params"],
    "log_metric": ["key", "value", "step"],
    "log_metrics": ["metrics", "step"],
    "set_tag": ["key", "value"],
    "set_tags": ["tags"],
    "log_artifact": ["path", "name"],
    "log_input": ["dataset_version", "role"],
    "flush": [],
    "get_run": ["run_id"],
    "search_runs": ["project", "filter", "order_by", "limit"],
    "get_metric_history": ["run_id", "key"],
    "feedback": ["prediction_id", "label"],
    "monitor.drift": ["reference", "current", "columns", "tests"],
    "monitor.window": ["model_ref", "*", "last", "since", "until"],
    "monitor.run": ["model_ref", "*", "window", "reference"],
    "monitor.reports": ["model_ref"],
    "monitor.series": ["model_ref", "keys"],
}


def _parameters(function: Callable[..., Any]) -> list[str]:
    names: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and "*" not in names:
            names.append("*")
        names.append(parameter.name)
    return names


@pytest.mark.parametrize(("name", "expected"), SIGNATURES.items())
def test_design_names_exist_with_their_parameters(name: str, expected: list[str]) -> None:
    function: Any = functools.reduce(getattr, name.split("."), mc)  # "monitor.run": a namespace
    actual = _parameters(function)
    assert actual[: len(expected)] == expected


def test_every_exported_name_resolves_and_none_is_private() -> None:
    for name in mc.__all__:
        assert not name.startswith("_") or name == "__version__"
        assert getattr(mc, name) is not None
    assert sorted(dir(mc)) == sorted(mc.__all__)


def test_errors_are_one_tree_with_codes_and_statuses() -> None:
    for name in (
        "NotFound",
        "Conflict",
        "InvalidInput",
        "InvalidFilter",
        "StoreError",
        "IntegrityError",
        "SchemaOutdated",
        "MissingDependency",
        "NotImplementedYet",
    ):
        error = getattr(mc, name)
        assert issubclass(error, mc.ModelCycleError)
        assert 400 <= error.http_status < 600
    assert issubclass(mc.NotFound, LookupError)
    assert issubclass(mc.InvalidInput, ValueError)
