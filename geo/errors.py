"""One error type per failure kind. api/errors.py maps each to an HTTP status.

Every error carries a machine-readable ``code``, a human message and ``details``:
a list of dicts naming where the problem is (row, feature id, field) and what it is.
"""

from __future__ import annotations

from typing import Any

Detail = dict[str, Any]


class GridlinkError(Exception):
    """Base class: a problem the caller can fix, with a safe message."""

    code = "error"

    def __init__(self, message: str, details: list[Detail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(GridlinkError):
    """Input data broke one or more rules; ``details`` lists every problem found."""

    code = "validation_failed"


class UnreadableFile(GridlinkError):
    """A file that is empty, truncated, of an unknown type or not parseable."""

    code = "unreadable_file"


class InvalidQuery(GridlinkError):
    """A query parameter that is unknown or malformed where a standard asks for 400 (OGC API
    Features: /req/core/query-param-invalid, -unknown); ``details`` names the parameter."""

    code = "invalid_query"


class UnknownLayer(GridlinkError):
    code = "unknown_layer"


class UnknownCRS(GridlinkError):
    code = "unknown_crs"


class OutOfArea(GridlinkError):
    """Coordinates outside the valid range or the service area."""

    code = "out_of_area"


class NotFound(GridlinkError):
    code = "not_found"


class Conflict(GridlinkError):
    """The request clashes with the current state (concurrent edit, illegal transition)."""

    code = "conflict"


class TooLarge(GridlinkError):
    code = "too_large"


class AuthRequired(GridlinkError):
    code = "auth_required"


class Forbidden(GridlinkError):
    code = "forbidden"


class DatabaseUnavailable(GridlinkError):
    code = "database_unavailable"
