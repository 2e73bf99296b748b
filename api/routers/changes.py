"""The change feed over HTTP: ``GET /changes?layer=grids&since=<cursor>`` (docs/ogc.md).

Another system keeps a copy of a layer by asking from the ``next`` cursor of its last
answer; ``since=0`` gives every feature once (a full copy). ``layer=events`` is for callers
with a key only (as the OGC events collection); its cursor is text (geo/changes.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query

from api.auth import Reader
from api.deps import ReadSessionDep
from api.schemas.feeds import ChangePage
from geo.changes import MAX_CHANGES, changes_since


def changes_router() -> APIRouter:
    router = APIRouter(tags=["OGC API Features"])

    @router.get("/changes", summary="Features of a layer created, updated or retired since a "
                "cursor, each once with its current state (upsert) or delete",
                response_model=ChangePage)
    def changes(
        session: ReadSessionDep, caller: Reader,
        layer: str = Query(description="areas, grids, micro_grids, buildings, sites, cameras, "
                           "workers, roads, entrances or events (events: callers with a key "
                           "only)"),
        since: str = Query("0", pattern=r"^(\d{1,20}|[0-9:;,-]{1,4000})$",
                           description="the `next` cursor of the last answer (0: every "
                           "feature); an integer, for events a text"),
        limit: int = Query(1000, ge=1, le=MAX_CHANGES, description="entries per answer"),
    ) -> dict[str, Any]:
        return asdict(changes_since(session, layer, since, limit, caller.role))

    return router
