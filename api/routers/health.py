"""GET /health: is the service up, which PostgreSQL and PostGIS does it talk to, and how far
behind is its read replica (when ``GRIDLINK_READ_DATABASE_URL`` is set)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from api.deps import SessionDep
from api.schemas.admin import Health


def health_router() -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/health", summary="Service, database and standby status (public)",
                response_model=Health)
    def health(request: Request, session: SessionDep) -> dict[str, Any]:
        """``standby`` is null without a read replica; else its status (``ok``,
        ``unreachable`` or ``not_a_standby``), where reads go now, whether replay is paused,
        and its replay lag in bytes of WAL and seconds (0 when caught up)."""
        row = session.execute(
            text("SELECT current_setting('server_version') AS pg, postgis_full_version() AS gis,"
                 " postgis_lib_version() AS gis_version,"
                 " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
                 " ELSE pg_current_wal_lsn() END::text AS lsn")
        ).one()
        standby = request.app.state.standby
        return {"status": "ok", "database": {"postgresql": row.pg, "postgis": row.gis_version,
                                             "postgis_full": row.gis},
                "standby": None if standby is None else standby.status(row.lsn)}

    return router
