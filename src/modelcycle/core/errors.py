"""The one exception tree of ModelCycle.

Every error a caller can act on is a ``ModelCycleError``; each class carries a stable ``code``
(used in JSON bodies and CLI output) and the HTTP status a server answers with::

    ModelCycleError
    ├── NotFound            (also LookupError)   404  a named thing does not exist
    ├── AlreadyExists                            409  a create would overwrite
    ├── Conflict                                 409  a write contradicts what is stored
    ├── InvalidInput        (also ValueError)    400  the caller's value is malformed
    │   └── InvalidFilter                        400  a search filter, with the position
    ├── PermissionDenied    (also PermissionError) 403
    ├── IntegrityError                           500  stored bytes do not match their digest
    ├── StoreError                               503  the database or object store failed
    │   └── SchemaOutdated                       503  the store needs ``modelcycle db upgrade``
    ├── NotImplementedYet                        501  a feature that is not built yet
    └── MissingDependency   (also ImportError)   500  an optional extra is not installed

Messages name the offending value and, where there is one, the fix.
"""

from __future__ import annotations

from typing import ClassVar


class ModelCycleError(Exception):
    """Base of every error ModelCycle raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON body a server answers with."""
        return {"code": self.code, "detail": self.message}


class NotFound(ModelCycleError, LookupError):
    """A project, run, dataset or model version that does not exist."""

    code = "not_found"
    http_status = 404


class AlreadyExists(ModelCycleError):
    """A create that would overwrite an existing record."""

    code = "already_exists"
    http_status = 409


class Conflict(ModelCycleError):
    """A write that contradicts stored state (a param re-logged with another value)."""

    code = "conflict"
    http_status = 409


class InvalidInput(ModelCycleError, ValueError):
    """A malformed argument: a bad name, an oversize value, a bad reference."""

    code = "invalid_input"
    http_status = 400


class InvalidFilter(InvalidInput):
    """A search filter that does not parse; ``position`` is the 0-based offset of the mistake."""

    code = "invalid_filter"

    def __init__(self, message: str, *, text: str, position: int) -> None:
        caret = " " * position + "^"
        super().__init__(f"{message} at position {position}:\n  {text}\n  {caret}")
        self.text = text
        self.position = position


class PermissionDenied(ModelCycleError, PermissionError):
    """The caller's role does not allow the action."""

    code = "permission_denied"
    http_status = 403


class IntegrityError(ModelCycleError):
    """Stored bytes whose sha256 differs from the recorded digest: never returned."""

    code = "integrity_error"
    http_status = 500


class StoreError(ModelCycleError):
    """The metadata database or the artifact store failed."""

    code = "store_error"
    http_status = 503


class SchemaOutdated(StoreError):
    """The metadata store was written by an older schema revision."""

    code = "schema_outdated"


class NotImplementedYet(ModelCycleError):
    """A part of the platform that is not built yet; the message says which."""

    code = "not_implemented"
    http_status = 501


class MissingDependency(ModelCycleError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    code = "missing_dependency"
    http_status = 500

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with: pip install 'modelcycle[{extra}]'"
        )
        self.package = package
        self.extra = extra
