"""The server's log lines: one JSON object per line (or plain text for a terminal) on stderr.

Every line holds ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message`` and
``pid``; lines written while a request is answered also hold its ``request_id`` (see
``request_log``); a logged exception adds ``error`` (its type and message) and ``traceback``.
Callers add fields of their own with ``extra={"fields": {...}}``::

    log.info("worker ready", extra={"fields": {"model": "churn@3"}})

The JSON formatter is built for the request path: one dict, one ``orjson.dumps``, and the
seconds part of the time stamp computed once per second.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import IO, Any, Literal

import orjson

from modelcycle.core.errors import InvalidInput

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[str, ...] = ("json", "text", "auto")

current_request_id: ContextVar[str | None] = ContextVar("modelcycle_request_id", default=None)
"""The id of the request being answered (set by ``RequestLog``), added to every log line."""

_HANDLER_NAME = "modelcycle-serve"
_LOUD_LOGGERS = ("modelcycle", "uvicorn.error")


class _Stamp:
    """UTC time stamps with milliseconds; the seconds part is formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (no newline inside, whatever the message holds)."""

    def __init__(self) -> None:
        super().__init__()
        self._stamp = _Stamp()

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        return orjson.dumps(self.fields(record), default=str).decode()

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as a dict: the standard fields, the request id, the caller's fields."""
        line: dict[str, Any] = {
            "time": self._stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = current_request_id.get()
        if request_id is not None:
            line["request_id"] = request_id
        extra = record.__dict__.get("fields")
        if extra:
            line.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
            line["traceback"] = self.formatException(record.exc_info)
        return line


class TextFormatter(JsonFormatter):
    """Formats a record as ``time level logger message key=value ...`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one human-readable line (plus the traceback of an exception)."""
        line = self.fields(record)
        head = f"{line.pop('time')} {line.pop('level').upper():7} {line.pop('logger')}"
        message = line.pop("message")
        trace = line.pop("traceback", None)
        line.pop("pid")
        tail = " ".join(f"{key}={value}" for key, value in line.items())
        text = f"{head} {message}" + (f" {tail}" if tail else "")
        return f"{text}\n{trace}" if trace else text


def resolve_log_format(name: str, stream: IO[str] | None = None) -> LogFormat:
    """``json`` or ``text``; ``auto`` is text on a terminal and JSON otherwise.

    Raises:
        InvalidInput: ``name`` is not json, text or auto.
    """
    if name == "auto":
        target = stream if stream is not None else sys.stderr
        return "text" if target.isatty() else "json"
    if name == "json":
        return "json"
    if name == "text":
        return "text"
    raise InvalidInput(f"log format {name!r} is not one of {', '.join(LOG_FORMATS)}")


def logging_config(log_format: LogFormat) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a serving process (also handed to uvicorn workers).

    One stderr handler on the root logger in ``log_format``; ModelCycle's and uvicorn's
    loggers speak at INFO, everything else at WARNING; uvicorn's access log is off (the
    request log replaces it).
    """
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"serve": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            _HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "formatter": "serve",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": [_HANDLER_NAME], "level": "WARNING"},
        "loggers": {
            **{name: {"level": "INFO"} for name in _LOUD_LOGGERS},
            "uvicorn.access": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: LogFormat) -> None:
    """Send this process's log lines to stderr in ``log_format`` (see ``logging_config``).

    Meant for a serving process: it replaces the root logger's handlers.
    """
    import logging.config

    logging.config.dictConfig(logging_config(log_format))
    lean_records()


def lean_records() -> None:
    """Stop log records looking up their thread and multiprocessing names (a serving process).

    The lines written here name neither, and the request line is built on every request.
    """
    logging.logThreads = False
    logging.logMultiprocessing = False
