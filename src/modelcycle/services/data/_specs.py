"""Declarative specs (validation rules, recipe steps) to and from plain data and YAML.

A spec is a frozen dataclass with a ``kind``. Its plain form is a mapping of its fields, without
the ones left at their defaults. Lists of specs are written two ways:

- the dict form (stored as JSON): ``[{"kind": "not_null", "column": "age"}, ...]``;
- the YAML form (edited by people): a list of one-key mappings, ``- not_null: {column: age}``;
  the dict form is accepted in YAML too.

Every error names the entry (1-based, as a person counts them), its line in the YAML text when
there is one, and the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar, cast

import yaml

from modelcycle.core.errors import InvalidInput


class Spec:
    """Base of rules and steps: a frozen dataclass with a stable ``kind``."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_fields(self) -> dict[str, Any]:
        """The JSON-safe fields of this spec, leaving out those equal to their default."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(cast("Any", self)):
            value = getattr(self, field.name)
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            out[field.name] = to_plain(value)
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        """Build a spec from its plain fields, naming any unknown or missing field."""
        declared = dataclasses.fields(cast("Any", cls))
        names = [field.name for field in declared]
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise InvalidInput(
                f"unknown field {unknown[0]!r}; valid fields: {', '.join(names) or '(none)'}"
            )
        required = [
            field.name
            for field in declared
            if field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
            and field.name not in fields
        ]
        if required:
            raise InvalidInput(f"missing field {required[0]!r}; fields: {', '.join(names)}")
        return cast("Self", cast("Any", cls)(**fields))


def to_plain(value: object) -> Any:
    """A JSON-safe copy: tuples become lists, dates ISO strings; other values pass through."""
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


_S = TypeVar("_S", bound=Spec)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One parsed entry: its 1-based position, its YAML line (if any), kind and fields."""

    position: int
    line: int | None
    kind: object
    fields: object

    def where(self, what: str) -> str:
        """``rule #3 (line 7, not_null)``: how errors name this entry."""
        parts = [f"line {self.line}"] if self.line is not None else []
        if isinstance(self.kind, str):
            parts.append(self.kind)
        suffix = f" ({', '.join(parts)})" if parts else ""
        return f"{what} #{self.position}{suffix}"


def _yaml_lines(text: str) -> list[int]:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line + 1 for item in node.value]
    return []


def parse_yaml(text: str, what: str) -> list[Entry]:
    """Parse the YAML form (``yaml.safe_load`` only) into entries with their lines."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what}s YAML must be text, got {type(text).__name__}")
    try:
        data = yaml.safe_load(text)
        lines = _yaml_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidInput(f"{what}s YAML does not parse{at}: {problem}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInput(
            f"{what}s YAML must be a list of one-key mappings such as "
            f"'- <kind>: {{field: value}}', got a {type(data).__name__}"
        )
    entries = []
    for index, item in enumerate(data):
        line = lines[index] if index < len(lines) else None
        entries.append(_yaml_entry(index + 1, line, item, what))
    return entries


def _yaml_entry(position: int, line: int | None, item: object, what: str) -> Entry:
    if isinstance(item, Mapping) and "kind" in item:
        fields = {key: value for key, value in item.items() if key != "kind"}
        return Entry(position, line, item["kind"], fields)
    if not isinstance(item, Mapping) or len(item) != 1:
        where = Entry(position, line, None, None).where(what)
        raise InvalidInput(
            f"{where}: expected a one-key mapping '- <kind>: {{field: value}}', got {item!r}"
        )
    ((kind, fields),) = item.items()
    return Entry(position, line, kind, {} if fields is None else fields)


def parse_dicts(items: object, what: str) -> list[Entry]:
    """Parse the dict form: a list of mappings each with a ``kind`` key."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidInput(f"{what}s must be a list of mappings, got {type(items).__name__}")
    entries = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or "kind" not in item:
            raise InvalidInput(
                f"{what} #{index + 1}: expected a mapping with a 'kind' key, got {item!r}"
            )
        fields = {key: value for key, value in item.items() if key != "kind"}
        entries.append(Entry(index + 1, None, item["kind"], fields))
    return entries


def build(entries: Sequence[Entry], kinds: Mapping[str, type[_S]], what: str) -> list[_S]:
    """Turn entries into specs; errors name the entry, its line, the field and valid kinds."""
    built: list[_S] = []
    for entry in entries:
        where = entry.where(what)
        cls = kinds.get(entry.kind) if isinstance(entry.kind, str) else None
        if cls is None:
            raise InvalidInput(
                f"{where}: unknown kind {entry.kind!r}; valid kinds: {', '.join(sorted(kinds))}"
            )
        if not isinstance(entry.fields, Mapping) or not all(
            isinstance(key, str) for key in entry.fields
        ):
            raise InvalidInput(
                f"{where}: fields must be a mapping of names to values, got {entry.fields!r}"
            )
        try:
            built.append(cls.from_fields(entry.fields))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
    return built


def dump_yaml(specs: Sequence[Spec]) -> str:
    """The YAML form: one ``- kind: {fields}`` entry per spec, in order."""
    document = [{spec.kind: spec.to_fields()} for spec in specs]
    if not document:
        return "[]\n"
    return yaml.safe_dump(
        document, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
    )


def dump_dicts(specs: Sequence[Spec]) -> list[dict[str, Any]]:
    """The dict form: ``{"kind": ..., **fields}`` per spec, in order."""
    return [{"kind": spec.kind, **spec.to_fields()} for spec in specs]


def require_str(value: object, field: str) -> str:
    """A non-empty string field."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"field {field!r} must be a non-empty string, got {value!r}")
    return value


def require_names(value: object, field: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of distinct column names (a single string counts as one name)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise InvalidInput(f"field {field!r} must be a list of column names, got {value!r}")
    names = tuple(require_str(item, field) for item in value)
    if not names and not allow_empty:
        raise InvalidInput(f"field {field!r} must name at least one column")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidInput(f"field {field!r} names {duplicated[0]!r} more than once")
    return names


def require_number(value: object, field: str, *, optional: bool = True) -> float | int | None:
    """A finite int or float (not a bool), or None when optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"field {field!r} must be a finite number, got {value!r}")
    return value


def require_bool(value: object, field: str) -> bool:
    """A true/false field."""
    if not isinstance(value, bool):
        raise InvalidInput(f"field {field!r} must be true or false, got {value!r}")
    return value
