"""Cleansing recipes: ordered steps over a polars frame, learned then replayed.

A ``Recipe`` is a list of steps. ``recipe.apply(frame)`` fits every step on the data it reaches
(the median an ``Impute`` uses, the scaler a ``SklearnTransform`` fits...) and returns an
``AppliedRecipe``: the output frame plus ``fitted``, what each step learned and the rows and
columns before and after it. Two ways to replay:

- ``recipe.apply(next_month)`` refits on the new data: the same kind of result, statistics
  of the new data (``fit_transform`` in scikit-learn terms);
- ``recipe.apply(next_month, fitted=applied.fitted)`` reuses the learned statistics exactly,
  transform only (scikit-learn's ``transform``), e.g. to prepare a test set like its training
  set. ``FittedRecipe.to_dict()`` / ``from_dict()`` store and restore them.

The YAML form is a list of one-key mappings, kind to fields (defaults may be left out)::

    - drop_duplicates: {subset: [id], keep: first}
    - drop_columns: {columns: [debug_note]}
    - keep_columns: {columns: [id, age, income, country, churned]}
    - filter_rows: {expression: "age >= 18 AND country <> 'XX'"}
    - impute: {columns: [age, income], strategy: median}
    - impute: {columns: [country], strategy: constant, value: unknown}
    - clip: {column: income, lower: 0, upper: 1000000}
    - cast: {column: age, dtype: int}
    - rename: {mapping: {churned: label}}
    - sklearn:
        transformer: sklearn.preprocessing.StandardScaler
        params: {with_mean: true}
        columns: [age, income]

``filter_rows`` takes a SQL condition evaluated by polars' SQL engine, never Python.
``sklearn`` steps name a class under ``sklearn.`` that subclasses ``TransformerMixin``; any other
name is refused on load, because stored metadata never names arbitrary code. Its ``params`` are
the non-default ``get_params()`` values, JSON-safe only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from modelcycle.core.errors import InvalidInput
from modelcycle.services.data._recipe_steps import (
    Cast,
    Clip,
    DropColumns,
    DropDuplicates,
    FilterRows,
    Impute,
    KeepColumns,
    Rename,
    State,
    Step,
)
from modelcycle.services.data._sklearn_step import SklearnTransform
from modelcycle.services.data._specs import build, dump_dicts, dump_yaml, parse_dicts, parse_yaml

__all__ = [
    "AppliedRecipe",
    "Cast",
    "Clip",
    "DropColumns",
    "DropDuplicates",
    "FilterRows",
    "FittedRecipe",
    "Impute",
    "KeepColumns",
    "Recipe",
    "Rename",
    "SklearnTransform",
    "Step",
    "StepFit",
]

STEP_KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        DropDuplicates,
        DropColumns,
        KeepColumns,
        FilterRows,
        Impute,
        Clip,
        Cast,
        Rename,
        SklearnTransform,
    )
}


@dataclasses.dataclass(frozen=True, slots=True)
class Recipe:
    """An ordered list of cleansing steps."""

    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        for index, step in enumerate(steps):
            if not isinstance(step, Step):
                raise InvalidInput(f"step #{index + 1} is not a recipe step: {step!r}")
        object.__setattr__(self, "steps", steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def apply(
        self, frame: pl.DataFrame, *, fitted: FittedRecipe | AppliedRecipe | None = None
    ) -> AppliedRecipe:
        """Run the steps in order.

        Args:
            frame: the input rows.
            fitted: statistics from an earlier application of this recipe to reuse exactly
                (transform only); without it every step learns from ``frame``.

        Returns:
            The output frame and what each step learned.

        Raises:
            InvalidInput: a step names a column the data lacks, cannot run on it, or
                ``fitted`` comes from another recipe; the message names the step number, the
                step and the problem.
        """
        if not isinstance(frame, pl.DataFrame):
            raise InvalidInput(f"expected a polars DataFrame, got {type(frame).__name__}")
        reused = fitted.fitted if isinstance(fitted, AppliedRecipe) else fitted
        if reused is not None and reused.recipe != self:
            raise InvalidInput(
                "the fitted statistics come from another recipe; apply without 'fitted' to refit"
            )
        fits: list[StepFit] = []
        for index, step in enumerate(self.steps):
            where = f"step #{index + 1} ({step.kind}: {step.describe()})"
            try:
                step.check(frame)
                state = step.fit(frame) if reused is None else reused.steps[index].state
                output = step.transform(frame, state)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc.message}") from None
            except pl.exceptions.PolarsError as exc:
                raise InvalidInput(f"{where}: {str(exc).splitlines()[0]}") from None
            fits.append(StepFit.measure(step, state, frame, output))
            frame = output
        return AppliedRecipe(frame, FittedRecipe(self, tuple(fits)))

    def to_yaml(self) -> str:
        """The YAML form described in this module's docstring."""
        return dump_yaml(self.steps)

    @classmethod
    def from_yaml(cls, text: str) -> Recipe:
        """Read the YAML form (``yaml.safe_load`` only).

        Raises:
            InvalidInput: the text does not parse (line and column), an unknown kind (the valid
                ones are listed), a bad field, or a refused transformer class.
        """
        return cls(tuple(build(parse_yaml(text, "step"), STEP_KINDS, "step")))

    def to_dict(self) -> dict[str, Any]:
        """``{"steps": [{"kind": ..., **fields}, ...]}``, JSON-safe."""
        return {"steps": dump_dicts(self.steps)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Read back what ``to_dict`` wrote (same checks as ``from_yaml``)."""
        given: object = data
        if not isinstance(given, Mapping) or "steps" not in given:
            raise InvalidInput(f"a recipe must be a mapping with a 'steps' list, got {data!r}")
        return cls(tuple(build(parse_dicts(given["steps"], "step"), STEP_KINDS, "step")))


@dataclasses.dataclass(frozen=True, slots=True)
class StepFit:
    """What one step learned and did: its state and the shape of the data around it."""

    kind: str
    state: State
    rows_before: int
    rows_after: int
    columns_before: int
    columns_after: int
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]

    @classmethod
    def measure(
        cls, step: Step, state: State, before: pl.DataFrame, after: pl.DataFrame
    ) -> StepFit:
        """Record a step's state with the frame before and after it."""
        return cls(
            kind=step.kind,
            state=state,
            rows_before=before.height,
            rows_after=after.height,
            columns_before=before.width,
            columns_after=after.width,
            columns_added=tuple(name for name in after.columns if name not in before.columns),
            columns_removed=tuple(name for name in before.columns if name not in after.columns),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class FittedRecipe:
    """The recipe with what each of its steps learned, ready to replay exactly."""

    recipe: Recipe
    steps: tuple[StepFit, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the recipe, and per step its learned state and shape figures."""
        return {
            "recipe": self.recipe.to_dict(),
            "steps": [
                {
                    "kind": fit.kind,
                    "state": step.plain_state(fit.state),
                    "rows_before": fit.rows_before,
                    "rows_after": fit.rows_after,
                    "columns_before": fit.columns_before,
                    "columns_after": fit.columns_after,
                    "columns_added": list(fit.columns_added),
                    "columns_removed": list(fit.columns_removed),
                }
                for step, fit in zip(self.recipe.steps, self.steps, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedRecipe:
        """Read back what ``to_dict`` wrote; fitted transformers are rebuilt from attributes."""
        try:
            recipe = Recipe.from_dict(data["recipe"])
            items = list(data["steps"])
            if len(items) != len(recipe.steps):
                raise InvalidInput(
                    f"{len(items)} fitted steps for a recipe of {len(recipe.steps)} steps"
                )
            fits = tuple(
                StepFit(
                    kind=step.kind,
                    state=step.restore_state(item["state"]),
                    rows_before=int(item["rows_before"]),
                    rows_after=int(item["rows_after"]),
                    columns_before=int(item["columns_before"]),
                    columns_after=int(item["columns_after"]),
                    columns_added=tuple(item["columns_added"]),
                    columns_removed=tuple(item["columns_removed"]),
                )
                for step, item in zip(recipe.steps, items, strict=True)
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"fitted recipe data is malformed: missing or bad {exc}") from None
        return cls(recipe, fits)


@dataclasses.dataclass(frozen=True, slots=True)
class AppliedRecipe:
    """The output of ``Recipe.apply``: the cleaned frame and what the steps learned."""

    frame: pl.DataFrame
    fitted: FittedRecipe
