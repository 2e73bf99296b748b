"""Path and query parameter types shared by the routes: ids and offsets within the range of
their PostgreSQL columns, so an id like 2147483648 is a 422 naming the parameter, never a
database error."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from geo.fields import INT4_MAX, INT8_MAX

ChangesetId = Annotated[int, Path(ge=1, le=INT4_MAX, description="changeset id")]
DraftId = Annotated[int | None, Query(ge=1, le=INT4_MAX, description="a draft changeset "
                                      "id: validate as this draft would publish")]
EventId = Annotated[int, Path(ge=1, le=INT8_MAX, description="event id")]
AfterEventId = Annotated[int, Query(ge=0, le=INT8_MAX, description="last event id seen")]
Offset = Annotated[int, Query(ge=0, le=INT8_MAX, description="rows to skip")]
