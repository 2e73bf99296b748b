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
``app.state.locate_source`` (:mod:`api.locate_pool`): the pool in production, the test's
transaction in tests.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

import psycopg
from fastapi import Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import READ_ROLES, Reader, reader_of
from api.deps import app_settings
from api.errors import gridlink_error_response, validated
from api.locate_pool import LocateSource
from api.standby import reads_from_standby
from geo.crs import is_quick
from geo.db import database_error
from geo.errors import GridlinkError
from geo.fields import Coordinate, Text
from geo.locate import LocateResult, to_wgs84_point

PATH = "/locate"
SUMMARY = "Grid chain, workers, covering cameras and sites of a point"


class LocateQuery(BaseModel):
    """The query string of ``GET /locate``."""

    model_config = ConfigDict(extra="ignore")

    lon: Coordinate = Field(description="longitude in `crs`")
    lat: Coordinate = Field(description="latitude in `crs`")
    crs: Text = Field("4326", max_length=100, description="4326, 4490, gcj02 or bd09")
    k: int | None = Field(None, ge=1, le=50, description="cameras wanted (default "
                          "GRIDLINK_LOCATE_K, 3; at most 50)")
    radius: float | None = Field(None, ge=0, le=5000, allow_inf_nan=False,
                                 description="site radius in metres (default "
                                 "GRIDLINK_LOCATE_RADIUS_M, 200)")


class LocateEndpoint:
    """The ASGI app behind ``GET /locate`` (see the module docstring)."""

    gridlink_roles = READ_ROLES
    """The auth rule, read by the auth tests like a route dependency's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = app_settings(scope["app"])
        source: LocateSource = scope["app"].state.locate_source
        await reader_of(HTTPConnection(scope), source.key, settings)
        query = parse_query(scope["query_string"])
        if is_quick(query.crs):
            lon, lat = to_wgs84_point(query.lon, query.lat, query.crs)
        else:  # a CRS name not seen lately: pyproj's database takes ~0.1-0.5 s
            lon, lat = await run_in_threadpool(to_wgs84_point, query.lon, query.lat, query.crs)
        standby = reads_from_standby(scope)  # the read replica, if any (api.standby)
        if standby is None:
            answer = await source.answer(lon, lat, query.k or None, query.radius, settings)
        else:
            answer = await standby.locate_answer(source, lon, lat, query.k or None,
                                                 query.radius, settings)
        body = answer.encode()
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
        except (GridlinkError, SQLAlchemyError, psycopg.Error) as exc:
            mapped = exc if isinstance(exc, GridlinkError) else database_error(exc)
            if mapped is None:
                raise
            response = await gridlink_error_response(Request(scope), mapped)
            await response(scope, receive, send)


def parse_query(query_string: bytes) -> LocateQuery:
    """The /locate query; 422 naming each bad field (``query.lon``...) as FastAPI would."""
    return validated(LocateQuery, dict(parse_qsl(query_string.decode("latin-1"))),
                     "the request", ("query",))


def locate_route() -> Route:
    """/locate in the app's routes: other methods get 405 there, and GET would be served
    there too if :class:`LocateFirst` were left out."""
    return Route(PATH, LocateEndpoint(), methods=["GET"], include_in_schema=False)


def locate_openapi_route() -> APIRoute:
    """``GET /locate`` as OpenAPI describes it; requests never reach this route."""

    async def get_locate(_: Reader, query: Annotated[LocateQuery, Query()]) -> LocateResult:
        """Answered by :class:`LocateEndpoint`; this signature only documents it."""
        raise NotImplementedError("GET /locate is served by api.routers.locate.LocateEndpoint")

    return APIRoute(PATH, get_locate, methods=["GET"], response_model=LocateResult,
                    summary=SUMMARY, tags=["dispatch"], responses={200: {"content": {
                        "application/json": {"example": LOCATE_EXAMPLE}}}})


LOCATE_EXAMPLE = {
    "lon": 113.3025, "lat": 40.0868, "assignment": "covered", "snapped": False,
    "district": {"code": "140213", "name": "示范区 (demo district)"},
    "street": {"code": "140213001", "name": "向阳街道 (Xiangyang street)"},
    "community": {"code": "140213001001", "name": "向阳社区 (Xiangyang community)"},
    "grid": {"code": "140213001001001", "name": "向阳一网格 (Xiangyang grid 1)"},
    "workers": [{"code": "W001", "name": "张伟 (Zhang Wei)", "role": "grid_worker",
                 "phone": "13800000001", "grid_code": "140213001001001"}],
    "cameras": [{"code": "CAM-0001", "name": "向阳路北口 (north end of Xiangyang Road)",
                 "lon": 113.3025, "lat": 40.0860, "distance_m": 89.0, "bearing_deg": 0.0,
                 "azimuth_deg": 0.0, "fov_deg": 60.0, "range_m": 100.0,
                 "camera_type": "fixed", "status": "online",
                 "stream_url": "rtsp://10.0.0.1/CAM-0001", "pan_deg": None, "facing": True,
                 "reason": None}]}
"""The documented example of a /locate answer (WGS 84 lon/lat; distances in metres)."""
