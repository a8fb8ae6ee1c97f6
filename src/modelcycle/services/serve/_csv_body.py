"""CSV request bodies (``Content-Type: text/csv``), as ``mlflow models serve`` takes them.

The first line names the columns; every further line is a row. Each column the signature
names is read as its type (``integer``, ``float``, ``boolean``; text for the others, which the
signature check then parses or casts), so ``1.5`` reaches a float column as a number, never as
text. An empty field is a missing value. A column the signature does not name is read as text
and then refused by the signature check, naming it, like a JSON body's.

CSV is only read when a body is not JSON and its label says CSV (see ``app``), so the JSON
path never pays for it. pyarrow parses it; pyarrow is already loaded by the prediction log.
"""

from __future__ import annotations

import csv as stdlib_csv
from typing import TYPE_CHECKING

from modelcycle.core.errors import InvalidInput
from modelcycle.services.serve._request_formats import BadRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelcycle.core.entities.model import Signature
    from modelcycle.services.serve._request_formats import Columns

_CONTENT_TYPE = b"content-type"
CSV_TYPES = frozenset({b"text/csv", b"application/csv"})
_ARROW_TYPES = {"integer": "int64", "float": "float64", "boolean": "bool"}


def is_csv(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether the request's ``Content-Type`` says CSV."""
    for name, value in headers:
        if name == _CONTENT_TYPE:
            return value.partition(b";")[0].strip().lower() in CSV_TYPES
    return False


def csv_columns(body: bytes, signature: Signature) -> Columns:
    """The columns of a CSV body, each read as the signature's type for it.

    Raises:
        BadRequest: the body is not CSV with a header line and at least one row.
        InvalidInput: a value cannot be read as its column's type (the column is named).
    """
    import pyarrow as pa
    from pyarrow import csv

    types = {
        column.name: pa.type_for_alias(_ARROW_TYPES.get(column.dtype, "string"))
        for column in signature.inputs
    }
    try:
        table = csv.read_csv(
            pa.py_buffer(body),
            read_options=csv.ReadOptions(use_threads=False),
            convert_options=csv.ConvertOptions(
                column_types=types,
                true_values=["true", "True", "TRUE", "1"],
                false_values=["false", "False", "FALSE", "0"],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _refused(str(exc), body) from exc
    if table.num_rows == 0:
        raise BadRequest("the CSV body has a header line but no rows; send at least one row")
    return {
        name: column.to_pylist()
        for name, column in zip(table.column_names, table.columns, strict=True)
    }


def _refused(message: str, body: bytes) -> Exception:
    """A value of the wrong type is a 422 naming its column; anything else a 400."""
    first = message.splitlines()[0] if message else "unreadable CSV"
    index = _column_index(first)
    if index is None or "conversion error" not in first:
        return BadRequest(f"the body is not readable CSV with a header line: {first}")
    header = next(stdlib_csv.reader([body.split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
    name = header[index].strip() if index < len(header) else f"#{index}"
    problem = first.rpartition("conversion error ")[2]
    return InvalidInput(
        f"CSV column {name!r}: conversion error {problem}; send values of the column's type "
        "(the signature is at /openapi.json)"
    )


def _column_index(message: str) -> int | None:
    digits = message.partition("CSV column #")[2].split(":", 1)[0]
    return int(digits) if digits.isdigit() else None
