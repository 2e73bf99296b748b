"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.errors import error_body, install_error_handlers
from api.routers.admin import admin_router
from api.routers.data import data_router
from api.routers.dispatch import dispatch_router
from api.routers.health import health_router
from api.routers.maps import maps_router, static_app
from api.routers.planning import planning_router
from api.routers.session import session_router
from geo.settings import Settings, get_settings

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                          "/login", "/logout"})
"""Routes that need no key. Every other route must declare an auth rule (tested)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="gridlink",
        version="0.1.0",
        description="Spatial service for urban grid management (网格化服务管理): "
        "grids, micro-grids, admin areas, cameras, sites and events on PostGIS.",
    )
    install_error_handlers(app)
    _limit_upload_size(app, settings)
    app.include_router(health_router())
    app.include_router(admin_router())
    app.include_router(session_router())
    app.include_router(data_router())
    app.include_router(maps_router())
    app.mount("/static", static_app(), name="static")
    app.include_router(dispatch_router())
    app.include_router(planning_router())
    return app


def _limit_upload_size(app: FastAPI, settings: Settings) -> None:
    limit = int(settings.max_upload_mb * 1024 * 1024)

    @app.middleware("http")
    async def reject_huge_bodies(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse(
                error_body("too_large",
                           f"request body of {int(length)} bytes exceeds the limit of "
                           f"{limit} bytes (GRIDLINK_MAX_UPLOAD_MB={settings.max_upload_mb:g})",
                           [{"limit_bytes": limit, "size_bytes": int(length)}]),
                status_code=413)
        return await call_next(request)
