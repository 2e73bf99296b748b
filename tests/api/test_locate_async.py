"""The async /locate path: geo.locate.locate_async and the route on the async engine.

Uses the small city of tests/geo/test_locate.py, built inside an async connection's
transaction that is rolled back at the end (nothing is committed to the test database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.orm import Session

from api.app import create_app
from geo.db import get_async_engine
from geo.errors import OutOfArea
from geo.locate import LocateResult, locate, locate_async
from geo.settings import get_settings
from tests.geo.test_locate import G1, build_small_city

POINTS = {"inside_g1": (113.3010, 40.0808), "shared_edge": (113.302, 40.0805),
          "just_outside_snapped": (113.29990, 40.0805), "far_outside": (113.3100, 40.0900)}


def _build(conn: Connection) -> None:
    build_small_city(Session(bind=conn))


async def _both(database_url: str, lon: float, lat: float) -> tuple[LocateResult, LocateResult]:
    """(async answer, sync answer) for one point, on one rolled-back async connection."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_build)
            fast = await locate_async(conn, lon, lat, k=2, radius_m=300)
            slow = await conn.run_sync(lambda c: locate(Session(bind=c), lon, lat, k=2,
                                                        radius_m=300))
            await conn.rollback()
        return fast, slow
    finally:
        await engine.dispose()


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
            await locate_async(conn, 40.08, 113.3)
    finally:
        await engine.dispose()


def test_async_rejects_swapped_point(database_url: str) -> None:
    with pytest.raises(OutOfArea, match="swapped"):
        asyncio.run(_bad_point(database_url))


async def _dispose_async_engine() -> None:
    """Close the pooled connections of the client's loop (the engine is per loop)."""
    await get_async_engine().dispose()


@pytest.fixture
def public_client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with its real (async, autocommit) /locate path and public reads."""
    monkeypatch.setenv("GRIDLINK_PUBLIC_READ", "1")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(get_settings())) as client:
            yield client
            client.portal.call(_dispose_async_engine)  # type: ignore[union-attr]
    finally:
        monkeypatch.delenv("GRIDLINK_PUBLIC_READ")
        get_settings.cache_clear()


def test_route_on_async_engine_answers_empty_database(public_client: TestClient) -> None:
    r = public_client.get("/locate", params={"lon": 113.301, "lat": 40.0808, "k": 2})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == LocateResult(lon=113.301, lat=40.0808, assignment="unassigned",
                                    snapped=False, cameras_wanted=2,
                                    enough_cameras=False).model_dump(mode="json")


def test_route_on_async_engine_rejects_bad_point(public_client: TestClient) -> None:
    r = public_client.get("/locate", params={"lon": 40.08, "lat": 113.3})
    assert r.status_code == 422 and r.json()["error"] == "out_of_area"
