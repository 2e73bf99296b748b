"""Pydantic field types shared by every input of the service (API queries and bodies, CLI).

Each type turns input PostgreSQL or Python could not store into a validation error naming
the field (HTTP 422), instead of a failure deep in a query:

* :data:`Timestamp` — an ISO 8601 time. **A time without an offset is China Standard Time**
  (UTC+8, ``Asia/Shanghai``), as in imported files (docs/import-export.md); years
  1900–2999 only, so that adding a due time can never overflow.
* :data:`Text` — a string without NUL characters (PostgreSQL text cannot hold them).
* :data:`Coordinate` — a finite number (no NaN, no infinity, no ``1e400``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
"""The zone of a time given without an offset."""
EARLIEST = datetime(1900, 1, 1, tzinfo=LOCAL_ZONE)
LATEST = datetime(2999, 12, 31, tzinfo=LOCAL_ZONE)

INT4_MAX = 2**31 - 1
"""Largest ``integer`` (int4) id, e.g. a changeset's."""
INT8_MAX = 2**63 - 1
"""Largest ``bigint`` (int8): event ids, offsets."""


def zoned(value: datetime) -> datetime:
    """``value`` with ``LOCAL_ZONE`` when it has no offset; ValueError outside 1900–2999."""
    stamp = value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_ZONE)
    if not EARLIEST <= stamp <= LATEST:
        raise ValueError("the time must lie between 1900-01-01 and 2999-12-31")
    return stamp


def without_nul(value: str) -> str:
    """``value`` unchanged; ValueError when it holds a NUL character."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    return value


Timestamp = Annotated[datetime, AfterValidator(zoned)]
Text = Annotated[str, AfterValidator(without_nul)]
Coordinate = Annotated[float, Field(allow_inf_nan=False)]
