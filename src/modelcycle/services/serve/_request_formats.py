"""Request bodies of the scoring routes, turned into column lists.

``POST /predict`` takes one record (``{"a": 1, "b": "x"}``), a list of records, or
``{"records": [...]}`` / ``{"columns": {"a": [...], "b": [...]}}``. ``POST /invocations``
takes MLflow's scoring formats, so clients written for ``mlflow models serve`` work unchanged:
``dataframe_split`` (``{"columns": [...], "data": [[...], ...]}``), ``dataframe_records``,
``instances`` and ``inputs`` (records, or rows of values in signature order).

Every function returns ``{column: [values...]}`` with one entry per row, or raises
``BadRequest`` (answered with 400) naming what is wrong with the body.

The body is read as JSON whatever ``Content-Type`` says, so quick calls work (``curl -d`` sends
``application/x-www-form-urlencoded``, a browser's ``fetch`` of a string ``text/plain``). Only
a body that is not a JSON request has its label read: ``text/csv`` is then read as CSV
(``_csv_body``, as ``mlflow models serve`` takes it), and another format (a form upload, bytes)
is answered 415 saying which formats are taken (``content_type_problem``), rather than 400.
Reading the label only then keeps it off a valid JSON request's path.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from modelcycle.core.errors import ModelCycleError

if TYPE_CHECKING:
    from collections.abc import Sequence

Columns = dict[str, list[Any]]
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_CONTENT_TYPE = b"content-type"
_TAKEN = frozenset(
    {
        b"application/json",
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"",
        b"text/csv",
        b"application/csv",
    }
)


class BadRequest(ModelCycleError):
    """The body is not a scoring request (not JSON, or not one of the accepted shapes)."""

    code = "bad_request"
    http_status = 400


def content_type_problem(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """Why a body that is not a scoring request is a 415: its label names another format.

    ``None`` when ``Content-Type`` is absent, JSON (``application/json``, any ``+json``), CSV
    or what quick clients send by default; the body is then answered 400 for what is wrong
    with it.
    """
    for name, value in headers:
        if name == _CONTENT_TYPE:
            media = value.partition(b";")[0].strip().lower()
            if media in _TAKEN or media.endswith(b"+json"):
                return None
            shown = media.decode("latin-1")[:100]
            return (
                f"the body must be JSON (Content-Type: application/json) or CSV with a header "
                f"line (text/csv), not {shown}"
            )
    return None


def predict_body(body: Any, names: Sequence[str]) -> Columns:
    """The columns of a ``/predict`` body."""
    if isinstance(body, dict) and set(body) == {"records"}:
        return _records(body["records"], names)
    if isinstance(body, dict) and set(body) == {"columns"}:
        return _columns(body["columns"])
    if isinstance(body, dict):
        return _records([body], names)
    if isinstance(body, list):
        return _records(body, names)
    raise BadRequest(
        "the body must be a record, a list of records, {'records': [...]} or "
        "{'columns': {name: [values]}}"
    )


def invocations_body(body: Any, names: Sequence[str]) -> Columns:
    """The columns of an ``/invocations`` body in one of MLflow's scoring formats."""
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object with one of {', '.join(MLFLOW_KEYS)}")
    keys = [k for k in MLFLOW_KEYS if k in body]
    if len(keys) != 1:
        raise BadRequest(
            f"the body must hold exactly one of {', '.join(MLFLOW_KEYS)}, "
            f"got {', '.join(map(str, body)) or 'nothing'}"
        )
    key = keys[0]
    payload = body[key]
    if key == "dataframe_split":
        if not isinstance(payload, dict) or "data" not in payload:
            raise BadRequest("dataframe_split needs {'columns': [...], 'data': [[...], ...]}")
        columns = payload.get("columns") or list(names)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadRequest("dataframe_split 'columns' must be a list of column names")
        return _rows(payload["data"], columns)
    if key == "dataframe_records":
        return _records(payload, names)
    if isinstance(payload, dict):  # "inputs" may be columns
        return _columns(payload)
    return _records(payload, names)


def _records(rows: Any, names: Sequence[str]) -> Columns:
    if not isinstance(rows, list) or not rows:
        raise BadRequest("expected a non-empty list of records")
    first = rows[0]
    if isinstance(first, dict) and len(rows) == 1:  # the common case: one record
        return {key: [value] for key, value in first.items()}
    types = set(map(type, rows))
    if types == {list}:
        return _rows(rows, list(names))
    if types != {dict}:
        raise BadRequest("every record must be a JSON object of column: value")
    keys = list(first)
    if not keys:
        raise BadRequest("record 0 has no columns")
    if set(map(len, rows)) == {len(keys)}:
        try:
            if len(keys) == 1:
                return {keys[0]: list(map(itemgetter(keys[0]), rows))}
            # Transposed in C: one tuple of values per column, whatever the number of rows.
            values = zip(*map(itemgetter(*keys), rows), strict=True)
            return dict(zip(keys, map(list, values), strict=True))
        except KeyError:
            pass
    index = next(i for i, row in enumerate(rows) if row.keys() != first.keys())
    raise BadRequest(
        f"record {index} has columns {sorted(rows[index])[:10]}, unlike record 0 "
        f"({sorted(keys)[:10]}); send the same columns in every record"
    )


def _rows(rows: Any, names: Sequence[str]) -> Columns:
    if not isinstance(rows, list) or not rows or set(map(type, rows)) != {list}:
        raise BadRequest("expected a non-empty list of rows (lists of values)")
    width = len(names)
    if set(map(len, rows)) != {width}:
        index, row = next((i, r) for i, r in enumerate(rows) if len(r) != width)
        raise BadRequest(
            f"row {index} has {len(row)} values for {width} columns ({', '.join(names[:10])})"
        )
    if width == 0:
        raise BadRequest("the model takes no columns")
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))


def _columns(columns: Any) -> Columns:
    if not isinstance(columns, dict) or not columns:
        raise BadRequest("'columns' must be a non-empty object of name: [values]")
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if -1 in lengths or len(lengths) != 1 or 0 in lengths:
        raise BadRequest("every column must be a non-empty list, all of the same length")
    return {str(k): list(v) for k, v in columns.items()}
