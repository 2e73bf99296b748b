"""GET /health: is the service up, and which PostgreSQL and PostGIS does it talk to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionDep


def health_router() -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/health", summary="Service and database status (public)")
    def health(session: SessionDep) -> dict[str, Any]:
        row = session.execute(
            text("SELECT current_setting('server_version') AS pg, postgis_full_version() AS gis,"
                 " postgis_lib_version() AS gis_version")
        ).one()
        return {"status": "ok", "database": {"postgresql": row.pg, "postgis": row.gis_version,
                                             "postgis_full": row.gis}}

    return router
