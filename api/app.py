"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body, install_error_handlers
from api.locate_pool import PooledSource
from api.routers.admin import admin_router
from api.routers.dashboard import dashboard_router
from api.routers.dispatch import dispatch_router
from api.routers.files import files_router
from api.routers.health import health_router
from api.routers.locate import LocateFirst, locate_openapi_route, locate_route
from api.routers.maps import maps_router, static_app
from api.routers.planning import planning_router
from api.routers.session import session_router
from api.settings import ApiSettings
from geo.db import database_url, engine_for, session_factory

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                          "/", "/login", "/logout"})
"""Routes that need no key. Every other route must declare an auth rule (tested)."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The app, configured by ``settings`` (default: read from ``GRIDLINK_*`` now) for every
    route: they read them from ``app.state.settings``."""
    settings = settings or ApiSettings()
    app = FastAPI(
        title="gridlink",
        version="0.1.0",
        description="Spatial service for urban grid management (网格化服务管理): "
        "grids, micro-grids, admin areas, cameras, sites and events on PostGIS.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.sessions = session_factory(engine_for(database_url(settings)))
    app.state.locate_source = PooledSource(database_url(settings))
    install_error_handlers(app)
    app.add_middleware(UploadLimit, settings=settings)
    app.add_middleware(LocateFirst)  # the last added is the outermost
    # Starlette matches routes in order, one regular expression each: the dispatch routes
    # (/locate, /alarms, /events) come first, ahead of ~100 map, data and planning routes
    # (a route at the end of the list measured half the requests/s of one at the front).
    app.router.routes.append(locate_route())
    app.include_router(dispatch_router())
    app.include_router(health_router())
    app.include_router(admin_router())
    app.include_router(session_router())
    app.include_router(files_router())
    app.include_router(maps_router())
    app.include_router(dashboard_router())
    app.mount("/static", static_app(), name="static")
    app.include_router(planning_router())
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.locate_source.close()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus ``GET /locate``, which is a plain ASGI route."""
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=[locate_openapi_route(), *app.routes])
    return app.openapi_schema


class UploadLimit:
    """Pure ASGI middleware: 413 for a declared body over ``GRIDLINK_MAX_UPLOAD_MB``.

    Bodies without a Content-Length (chunked) are counted while read by the upload routes.
    Pure ASGI rather than ``@app.middleware``: that wrapper costs a task switch per request.
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.limit = int(settings.max_upload_mb * 1024 * 1024)
        self.limit_mb = settings.max_upload_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                response = JSONResponse(
                    error_body("too_large",
                               f"request body of {int(length)} bytes exceeds the limit of "
                               f"{self.limit} bytes (GRIDLINK_MAX_UPLOAD_MB={self.limit_mb:g})",
                               [{"limit_bytes": self.limit, "size_bytes": int(length)}]),
                    status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
