"""The production /locate path: geo.locate.locate_json_async (the async path, falling back to
the sync geo.locate.locate outside every grid, as the pool does), and the ASGI route on its pool.

Uses the small city of tests/geo/test_locate.py, built inside an async connection's
transaction that is rolled back at the end (nothing is committed to the test database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.locate_pool import PooledSource
from api.settings import ApiSettings
from geo.errors import OutOfArea
from geo.locate import BoundaryDoubt, LocateResult, locate, locate_json_async
from tests.geo.test_locate import G1, build_small_city

POINTS = {"inside_g1": (113.3010, 40.0808), "shared_edge": (113.302, 40.0805),
          "five_metres_from_edge": (113.30194131, 40.0808),
          "just_outside_snapped": (113.29990, 40.0805), "far_outside": (113.3100, 40.0900)}


def _build(conn: Connection) -> None:
    build_small_city(Session(bind=conn))


async def _both(database_url: str, lon: float, lat: float) -> tuple[LocateResult, LocateResult]:
    """(async answer, sync answer) for one point, on one rolled-back async connection."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_build)
            fast = await _async_answer(conn, lon, lat)
            slow = await conn.run_sync(lambda c: locate(Session(bind=c), lon, lat, k=2,
                                                        radius_m=300))
            await conn.rollback()
        return fast, slow
    finally:
        await engine.dispose()


async def _async_answer(conn: AsyncConnection, lon: float, lat: float) -> LocateResult:
    """The async path on the connection's psycopg connection, then (outside every grid)
    the sync one, as :class:`api.locate_pool.PooledSource` does."""
    raw = await conn.get_raw_connection()
    answer = await locate_json_async(raw.driver_connection, lon, lat,  # type: ignore[arg-type]
                                     k=2, radius_m=300)
    if answer is not None:
        return LocateResult.model_validate_json(answer)
    return await conn.run_sync(lambda c: locate(Session(bind=c), lon, lat, k=2, radius_m=300))


@pytest.mark.parametrize("name", sorted(POINTS))
def test_async_answer_equals_sync_answer(database_url: str, name: str) -> None:
    fast, slow = asyncio.run(_both(database_url, *POINTS[name]))
    assert fast.model_dump() == slow.model_dump()


def test_async_answer_inside_grid(database_url: str) -> None:
    fast, _ = asyncio.run(_both(database_url, *POINTS["inside_g1"]))
    assert (fast.assignment, fast.grid.code if fast.grid else None) == ("covered", G1)
    assert [w.code for w in fast.workers] == ["W-L1", "W-W1", "W-H1"]


async def _bad_point(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        conn: AsyncConnection
        async with engine.connect() as conn:
            await _async_answer(conn, 40.08, 113.3)
    finally:
        await engine.dispose()


def test_async_rejects_swapped_point(database_url: str) -> None:
    with pytest.raises(OutOfArea, match="swapped"):
        asyncio.run(_bad_point(database_url))


@pytest.fixture
def public_client(database_url: str) -> Iterator[TestClient]:
    """The app with its real /locate source (a psycopg pool, autocommit) and public reads;
    leaving the client shuts the app down, which closes the pool."""
    with TestClient(create_app(ApiSettings(public_read=True))) as client:
        yield client


def test_route_on_pool_answers_empty_database(public_client: TestClient) -> None:
    r = public_client.get("/locate", params={"lon": 113.301, "lat": 40.0808, "k": 2})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == LocateResult(lon=113.301, lat=40.0808, assignment="unassigned",
                                    snapped=False, cameras_wanted=2, enough_cameras=False,
                                    boundary=BoundaryDoubt(tolerance_m=15.0),
                                    ).model_dump(mode="json")


def test_route_on_pool_rejects_bad_point(public_client: TestClient) -> None:
    r = public_client.get("/locate", params={"lon": 40.08, "lat": 113.3})
    assert r.status_code == 422 and r.json()["error"] == "out_of_area"


def test_route_on_pool_answers_a_point_inside_a_grid(database_url: str,
                                                    public_client: TestClient) -> None:
    """A committed small city, read through the pool (the JSON built by PostgreSQL), then
    removed again; the answer equals the sync one."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            _build(conn)
        r = public_client.get("/locate", params={"lon": 113.3010, "lat": 40.0808, "k": 2,
                                                 "radius": 300})
        with engine.connect() as conn:
            slow = locate(Session(bind=conn), 113.3010, 40.0808, k=2, radius_m=300)
    finally:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE workers, cameras, sites, grids, admin_areas CASCADE"))
        engine.dispose()
    assert r.status_code == 200, r.text
    assert LocateResult.model_validate_json(r.text) == slow
    assert slow.grid is not None and slow.grid.code == G1


def test_openapi_describes_locate(public_client: TestClient) -> None:
    schema = public_client.get("/openapi.json").json()
    get = schema["paths"]["/locate"]["get"]
    assert {p["name"] for p in get["parameters"]} == {"lon", "lat", "crs", "k", "radius"}
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/LocateResult")


def test_route_on_pool_names_bad_query_fields(public_client: TestClient) -> None:
    r = public_client.get("/locate", params={"lon": "east", "k": "many"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"query.lon", "query.lat", "query.k"}


def test_route_answers_503_when_the_database_is_down(public_client: TestClient) -> None:
    """A pool that cannot connect gives up after its timeout with a clear 503, not a hang."""
    app = public_client.app
    app.state.locate_source = PooledSource(  # type: ignore[attr-defined]
        "postgresql+psycopg://postgres@127.0.0.1:9/none",
        ApiSettings(db_pool_timeout_s=0.5))
    r = public_client.get("/locate", params={"lon": 113.301, "lat": 40.0808})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert r.headers["retry-after"] == "5"
    assert "did not answer" in r.json()["message"]


def test_other_methods_on_locate_are_405(public_client: TestClient) -> None:
    r = public_client.post("/locate", params={"lon": 113.301, "lat": 40.0808})
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert "GET" in r.headers["allow"]


def test_head_locate_answers_without_body(public_client: TestClient) -> None:
    r = public_client.head("/locate", params={"lon": 113.301, "lat": 40.0808})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == "application/json"


def test_pool_connections_keep_the_generic_plan(database_url: str) -> None:
    """The pool's connections force the prepared statement's generic plan (from ~10^4 grids
    PostgreSQL would otherwise re-plan /locate on every call: bench/RESULTS.md)."""
    async def setting() -> str:
        source = PooledSource(database_url, ApiSettings())
        try:
            pool = await source._open_pool()
            async with pool.connection() as conn:
                row = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
                assert row is not None
                return str(row[0])
        finally:
            await source.close()
    assert asyncio.run(setting()) == "force_generic_plan"
