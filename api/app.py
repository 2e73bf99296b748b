"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import revocations
from api.alarm_hub import AlarmHub
from api.errors import install_error_handlers
from api.locate_pool import PooledSource
from api.openapi import document_bodies, document_errors
from api.request_guard import RequestGuard
from api.routers.admin import admin_router
from api.routers.assessment import assessment_router
from api.routers.changes import changes_router
from api.routers.dashboard import dashboard_router
from api.routers.dispatch import dispatch_router
from api.routers.files import files_router
from api.routers.grids import grids_router
from api.routers.health import health_router
from api.routers.jobs import fail_orphan_jobs, jobs_router, refresh_rollups_in_background
from api.routers.locate import LocateFirst, locate_openapi_route, locate_route
from api.routers.maps import maps_router, static_app
from api.routers.ogc import ogc_router
from api.routers.patrols import patrols_router
from api.routers.planning import planning_router
from api.routers.session import session_router
from api.routers.tiles import tiles_router
from api.routers.video import video_router
from api.settings import ApiSettings
from api.standby import ReadYourWrites, Standby
from geo import tempdir
from geo.db import connect_timeout_s, database_url, libpq_url, service_engine, session_factory

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
    app.state.sessions = session_factory(service_engine(settings))
    app.state.locate_source = PooledSource(database_url(settings), settings)
    app.state.revocation_dsn = libpq_url(database_url(settings))
    app.state.alarm_hub = AlarmHub(libpq_url(database_url(settings)), connect_timeout_s(settings))
    app.state.standby = Standby.configured(settings)  # GRIDLINK_READ_DATABASE_URL (api.standby)
    install_error_handlers(app)
    if app.state.standby is not None:
        app.add_middleware(ReadYourWrites, seconds=settings.read_your_writes_s)
    app.add_middleware(RequestGuard, settings=settings, public_paths=PUBLIC_PATHS)
    app.add_middleware(LocateFirst)  # the last added is the outermost
    # Starlette matches routes in order, one regular expression each: the dispatch routes
    # (/locate, /alarms, /events) come first, ahead of ~100 map, data and planning routes
    # (a route at the end of the list measured half the requests/s of one at the front).
    app.router.routes.append(locate_route())
    app.include_router(dispatch_router())
    app.include_router(video_router())
    app.include_router(assessment_router())
    app.include_router(health_router())
    app.include_router(admin_router())
    app.include_router(session_router())
    app.include_router(files_router())
    app.include_router(jobs_router())
    app.include_router(maps_router())
    app.include_router(tiles_router())
    app.include_router(dashboard_router())
    app.include_router(patrols_router())
    app.include_router(ogc_router())
    app.include_router(changes_router())
    app.mount("/static", static_app(), name="static")
    app.include_router(planning_router())
    app.include_router(grids_router())
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    listener = asyncio.create_task(revocations.listen(app.state.revocation_dsn))
    scratch = tempdir.enter(app.state.settings)
    await fail_orphan_jobs(app.state.sessions)
    refresh_rollups_in_background(app.state.sessions)
    yield
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    await app.state.alarm_hub.close()
    await app.state.locate_source.close()
    if app.state.standby is not None:
        await app.state.standby.close()
    tempdir.leave(scratch)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus ``GET /locate`` (a plain ASGI route), every error status and
    the bodies read by hand."""
    if app.openapi_schema is None:
        routes = [locate_openapi_route(), *app.routes]
        app.openapi_schema = document_bodies(document_errors(get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=routes), routes))
    return app.openapi_schema
