"""``GET /locate``: the dispatch hot path, served by a plain ASGI endpoint.

Every one-click alarm and every dispatcher click asks /locate, so it skips FastAPI's
per-request machinery (dependency solving, parameter validation, response classes, the
exception and exit-stack middleware, routing), which cost about half of a request's Python
time (bench/RESULTS.md, Dispatch), and reads from a psycopg connection pool in autocommit:
one prepared statement, PostgreSQL builds the JSON. :class:`LocateFirst`, the outermost
middleware of the app, hands ``GET``/``HEAD /locate`` to :class:`LocateEndpoint`; the same
endpoint is also registered as a route (:func:`locate_route`), where other methods get
their 405 and the auth tests find its rule.

It keeps every rule of the other routes: the same API keys, key cache and read rule
(:func:`api.auth.reader_of`), the same error bodies (:func:`api.errors.gridlink_error_response`;
anything unexpected reaches the app's 500 handler), and an OpenAPI entry
(:func:`locate_openapi_route`). Where it reads from is a :class:`LocateSource` on
``app.state.locate_source``: the pool in production, the test's transaction in tests.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qsl

import psycopg
from fastapi import Query
from fastapi.routing import APIRoute
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import READ_ROLES, Reader, reader_of
from api.errors import gridlink_error_response
from geo.db import libpq_url, session_factory
from geo.errors import DatabaseUnavailable, GridlinkError, ValidationFailed
from geo.keys import key_for
from geo.locate import LocateResult, locate, locate_json_async, to_wgs84_point
from geo.models import ApiKey
from geo.settings import Settings, get_settings

PATH = "/locate"
SUMMARY = "Grid chain, workers, covering cameras and sites of a point"


class LocateQuery(BaseModel):
    """The query string of ``GET /locate``."""

    model_config = ConfigDict(extra="ignore")

    lon: float = Field(description="longitude in `crs`")
    lat: float = Field(description="latitude in `crs`")
    crs: str = Field("4326", description="4326, 4490, gcj02 or bd09")
    k: int | None = Field(None, description="cameras wanted (default 3, at most 50)")
    radius: float | None = Field(None, description="site radius in metres (default 200)")


class LocateSource(Protocol):
    """Where /locate reads: API keys (on a key-cache miss) and answers."""

    async def key(self, plain: str) -> ApiKey | None: ...

    async def answer(self, lon: float, lat: float, k: int, radius_m: float,
                     settings: Settings) -> str:
        """The :class:`LocateResult` of a WGS 84 point as JSON text."""
        ...

    async def close(self) -> None: ...


class PooledSource:
    """The production source: a psycopg pool (autocommit) opened on the serving event loop
    at the first request and closed at shutdown. The rare point inside no grid, and key
    lookups, run :mod:`geo` on the sync engine in the thread pool."""

    def __init__(self, database_url: str, max_size: int = 10, timeout_s: float = 10.0) -> None:
        self._conninfo = libpq_url(database_url)
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening = asyncio.Lock()

    async def _open_pool(self) -> AsyncConnectionPool[Any]:
        async with self._opening:
            if self._pool is None:
                pool = AsyncConnectionPool(
                    self._conninfo, min_size=2, max_size=self._max_size, open=False,
                    timeout=self._timeout_s, kwargs={"autocommit": True}, name="locate")
                await pool.open()
                self._pool = pool
            return self._pool

    async def key(self, plain: str) -> ApiKey | None:
        return await run_in_threadpool(_stored_key, plain)

    async def answer(self, lon: float, lat: float, k: int, radius_m: float,
                     settings: Settings) -> str:
        pool = self._pool or await self._open_pool()
        try:
            async with pool.connection() as conn:
                found = await locate_json_async(conn, lon, lat, k=k, radius_m=radius_m,
                                                settings=settings)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseUnavailable(
                f"the database did not answer /locate ({type(exc).__name__})") from None
        if found is not None:
            return found
        return await run_in_threadpool(_locate_outside, lon, lat, k, radius_m, settings)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _stored_key(plain: str) -> ApiKey | None:
    with session_factory()() as session:
        return key_for(session, plain)


def _locate_outside(lon: float, lat: float, k: int, radius_m: float, settings: Settings) -> str:
    with session_factory()() as session:
        return locate(session, lon, lat, k=k, radius_m=radius_m,
                      settings=settings).model_dump_json()


class LocateEndpoint:
    """The ASGI app behind ``GET /locate`` (see the module docstring)."""

    gridlink_roles = READ_ROLES
    """The auth rule, read by the auth tests like a route dependency's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = get_settings()
        source: LocateSource = scope["app"].state.locate_source
        await reader_of(HTTPConnection(scope), source.key, settings)
        query = parse_query(scope["query_string"])
        lon, lat = to_wgs84_point(query.lon, query.lat, query.crs)
        radius_m = settings.locate_radius_m if query.radius is None else query.radius
        body = (await source.answer(lon, lat, query.k or settings.locate_k, radius_m,
                                    settings)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class LocateFirst:
    """Pure ASGI middleware: ``GET``/``HEAD /locate`` straight to :class:`LocateEndpoint`,
    everything else on to the app. Skipping FastAPI's exception and exit-stack middleware
    and the router cut the server's CPU per /locate request from 0.31 to 0.265 ms (medians
    of 12 runs of 8 s under wrk; bench/RESULTS.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.endpoint = LocateEndpoint()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != PATH
                or scope["method"] not in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        try:
            await self.endpoint(scope, receive, send)
        except GridlinkError as exc:
            response = await gridlink_error_response(Request(scope), exc)
            await response(scope, receive, send)


def parse_query(query_string: bytes) -> LocateQuery:
    """The /locate query; 422 naming each bad field (``query.lon``...) as FastAPI would."""
    try:
        return LocateQuery.model_validate(dict(parse_qsl(query_string.decode("latin-1"))))
    except ValidationError as exc:
        details = [{"field": ".".join(("query", *map(str, err["loc"]))), "problem": err["msg"]}
                   for err in exc.errors()]
        raise ValidationFailed("the request is invalid", details) from None


def locate_route() -> Route:
    """/locate in the app's routes: other methods get 405 there, and GET would be served
    there too if :class:`LocateFirst` were left out."""
    return Route(PATH, LocateEndpoint(), methods=["GET"], include_in_schema=False)


def locate_openapi_route() -> APIRoute:
    """``GET /locate`` as OpenAPI describes it; requests never reach this route."""

    async def get_locate(_: Reader, query: Annotated[LocateQuery, Query()]) -> LocateResult:
        """Answered by :class:`LocateEndpoint`; this signature only documents it."""
        raise NotImplementedError("GET /locate is served by api.locate_route.LocateEndpoint")

    return APIRoute(PATH, get_locate, methods=["GET"], response_model=LocateResult,
                    summary=SUMMARY, tags=["dispatch"])
