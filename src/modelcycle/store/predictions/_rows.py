"""Prediction records to log rows, checked and JSON-encoded in the caller's thread.

``PredictionLogWriter.submit`` turns each record into a ``Row`` at once, so the queue holds
flat tuples of strings, numbers and bytes: no per-record dicts for the garbage collector to
walk, and nothing left to encode record by record when a segment is written (that work, done in
one burst on the writer's thread, held the GIL for tens of milliseconds per segment and
stalled the requests that arrived meanwhile). Only orjson is imported here: pyarrow stays off
the request path until the first segment is written.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from modelcycle.core.entities.prediction import PredictionRecord
from modelcycle.core.errors import InvalidInput

Row = tuple[str, int, str, float, str, bytes, bytes]
"""id, at (epoch ms), model_version_id, latency_ms, source, inputs JSON, outputs JSON."""

SOURCES = frozenset({"http", "batch"})
ENCODE_ERRORS = (InvalidInput, TypeError, orjson.JSONEncodeError)
"""What ``encode_row`` raises for a malformed record."""

_ID_RE = re.compile(r"[0-9a-f]{32}")
_INT64 = range(-(2**63), 2**63)
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def encode_row(record: object) -> Row:
    """``record`` as a log row; inputs and outputs become JSON (NaN and infinities ``null``).

    Raises:
        InvalidInput: a field is malformed (the message names it).
        TypeError: inputs or outputs hold something JSON cannot encode.
    """
    # Fields are checked as plain objects: records come from callers' code, not a type checker.
    if not isinstance(record, PredictionRecord):
        raise InvalidInput(f"{type(record).__name__} is not a PredictionRecord")
    record_id: object = record.id
    at: object = record.at
    version: object = record.model_version_id
    latency: object = record.latency_ms
    if not isinstance(record_id, str) or not _ID_RE.fullmatch(record_id):
        raise InvalidInput("the id is not a 32-character hex id (use core.ids.new_id())")
    if not isinstance(at, int) or isinstance(at, bool) or at not in _INT64:
        raise InvalidInput(f"at={at!r} is not epoch milliseconds (an int)")
    if not isinstance(version, str) or not version:
        raise InvalidInput(f"model_version_id={version!r} is not a non-empty str")
    if not isinstance(latency, int | float) or isinstance(latency, bool) or math.isnan(latency):
        raise InvalidInput(f"latency_ms={latency!r} is not a number")
    if record.source not in SOURCES:
        raise InvalidInput(f"source={record.source!r} is not one of {sorted(SOURCES)}")
    return (
        record_id,
        at,
        version,
        float(latency),
        record.source,
        _json(record.inputs),
        _json(record.outputs),
    )


def _json(value: Any) -> bytes:
    # A copy: the bytes orjson returns keep its whole growth buffer (about 8 KiB for a row of
    # 30 numbers), and a queue of thousands of them would hold ten times the memory it needs.
    return bytes(memoryview(orjson.dumps(value, option=_JSON_OPTIONS)))
