"""The coverage view with what cameras really see, in headless Chromium over the small city
plus a building in front of the north-facing camera: the visibility polygons are drawn (not
behind the building), and the blind-spot layer (off by default) turns the uncovered ground
purple. ``GRIDLINK_DOCS_SCREENSHOT=1`` also writes docs/screenshots/coverage_blind_spots.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.video.views import refresh_views
from tests.e2e.city import CAM_FACING_AWAY, CAM_FACING_INCIDENT, CAM_OFFLINE, INCIDENT
from tests.e2e.conftest import OUTPUT, Server, assert_clean, visit

pytestmark = pytest.mark.e2e

CITY_CAMERAS = [CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE]
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / \
    "coverage_blind_spots.png"
BLOCK = ("POLYGON((113.3021 40.0864, 113.3029 40.0864, 113.3029 40.0865, 113.3021 40.0865,"
         " 113.3021 40.0864))")
"""A 68 m x 11 m block between the north-facing camera (40.0860) and the incident."""


@pytest.fixture
def views(server: Server, engine: Engine) -> Iterator[None]:
    with Session(engine) as session, session.begin():
        session.execute(text("INSERT INTO buildings (code, name, households, population,"
                             " geom) VALUES ('B_E2E', '遮挡楼', 0, 0,"
                             " ST_GeomFromText(:g, 4326))"), {"g": BLOCK})
        refresh_views(session, CITY_CAMERAS)
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code = 'B_E2E'"))
        conn.execute(text("DELETE FROM camera_views WHERE camera_code = ANY(:c)"),
                     {"c": CITY_CAMERAS})
        conn.execute(text("DELETE FROM camera_shadows WHERE camera_code = ANY(:c)"),
                     {"c": CITY_CAMERAS})


def greenish(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return g > r + 15 and g > b


def test_coverage_view_draws_what_cameras_see_and_the_blind_spots(
        browser: Browser, server: Server, views: None) -> None:
    v = visit(browser, server, "/maps/coverage?area=140213001001", "coverage_views")
    assert_clean(v)
    layers = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    assert "可视区域（遮挡后）" in layers and "盲区" in layers
    in_view = v.pixel_at(INCIDENT[0], 40.08625)  # between the camera and the block
    behind = v.pixel_at(INCIDENT[0], 40.0868)  # the incident, behind the block
    assert greenish(in_view) and not greenish(behind)
    v.page.get_by_text("盲区").first.click()
    v.page.wait_for_timeout(300)
    v.screenshot = v.shot("coverage_blind_spots")
    r, g, b = v.pixel_at(113.3045, 40.0895)  # ground nobody sees: purple
    assert r > g + 30 and b > g + 30
    if os.environ.get("GRIDLINK_DOCS_SCREENSHOT") == "1":
        DOCS_SHOT.write_bytes((OUTPUT / "coverage_blind_spots.png").read_bytes())


def road(lat: float) -> str:
    """A lon/lat WKT road of ±25 m east–west through the incident's longitude at ``lat``."""
    return f"MULTILINESTRING(({INCIDENT[0] - 0.0003} {lat}, {INCIDENT[0] + 0.0003} {lat}))"


@pytest.fixture
def roads_and_gates(views: None, engine: Engine) -> Iterator[None]:
    """R_FRONT between the north-facing camera and the block (seen), R_BEHIND through the
    incident behind it (unseen); a gate on each."""
    with engine.begin() as conn:
        for code, lat in (("R_FRONT", 40.08625), ("R_BEHIND", 40.0868)):
            conn.execute(text("INSERT INTO roads (code, kind, geom) VALUES (:c, '支路',"
                              " ST_GeomFromText(:g, 4326))"), {"c": code, "g": road(lat)})
            conn.execute(text("INSERT INTO entrances (code, site_code, kind, geom) VALUES"
                              " (:c, 'S_E2E', '校门', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                         {"c": "G" + code, "x": INCIDENT[0] + 0.0002, "y": lat})
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM roads WHERE code IN ('R_FRONT', 'R_BEHIND')"))
        conn.execute(text("DELETE FROM entrances WHERE site_code = 'S_E2E'"))


def test_coverage_view_colours_roads_seen_and_unseen(
        browser: Browser, server: Server, roads_and_gates: None) -> None:
    v = visit(browser, server, "/maps/coverage?area=140213001001", "coverage_roads")
    assert_clean(v)
    layers = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    assert "道路覆盖" in layers and "出入口覆盖" in layers
    r, g, b = v.pixel_at(INCIDENT[0], 40.08625)  # R_FRONT, in view: green
    assert g > r + 40 and g > b, (r, g, b)
    r, g, b = v.pixel_at(INCIDENT[0], 40.0868)  # R_BEHIND, behind the block: red
    assert r > g + 60 and r > b + 60, (r, g, b)
