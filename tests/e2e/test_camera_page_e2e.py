"""The camera page in headless Chromium (external requests blocked) over the small city plus a
building (4 floors, 12 m) in front of the north-facing camera and a PTZ camera with a preset:
the view is drawn up to the building, the building's shadow behind it, the preset as its
sector; the incident page's camera popup links to the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.audit import Actor
from geo.video.presets import Preset, replace_presets
from geo.video.views import refresh_views
from tests.e2e.city import CAM_FACING_AWAY, CAM_FACING_INCIDENT, CAM_OFFLINE, INCIDENT
from tests.e2e.conftest import Server, assert_clean, visit

pytestmark = pytest.mark.e2e

PTZ = "14021300081320000099"
CAMERAS = [CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE, PTZ]
BLOCK = ("POLYGON((113.3021 40.0864, 113.3029 40.0864, 113.3029 40.0865, 113.3021 40.0865,"
         " 113.3021 40.0864))")
"""A 68 m x 11 m block between the north-facing camera (40.0860) and the incident."""
LAYERS = ("覆盖的网格", "可视区域（遮挡后）", "建筑遮挡的阴影", "遮挡的建筑", "预置位", "摄像机")


@pytest.fixture
def camera_scene(server: Server, engine: Engine) -> Iterator[None]:
    with Session(engine) as session, session.begin():
        session.execute(text("INSERT INTO buildings (code, name, households, population,"
                             " floors, geom) VALUES ('B_CAM', '遮挡楼', 0, 0, 4,"
                             " ST_GeomFromText(:g, 4326))"), {"g": BLOCK})
        session.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
            " status, height_m, grid_code, geom) VALUES (:c, '东路口球机', 'ptz', 0, 360, 80,"
            " 'online', 8, '140213001001002', ST_SetSRID(ST_MakePoint(113.3060, 40.0870),"
            " 4326))"), {"c": PTZ})
        refresh_views(session, CAMERAS[:3])
        replace_presets(session, PTZ, [Preset(name="西口", pan_deg=270, fov_deg=40)],
                        Actor("e2e"))
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cameras WHERE code = :c"), {"c": PTZ})
        conn.execute(text("DELETE FROM buildings WHERE code = 'B_CAM'"))
        conn.execute(text("DELETE FROM camera_views WHERE camera_code = ANY(:c)"),
                     {"c": CAMERAS})
        conn.execute(text("DELETE FROM camera_shadows WHERE camera_code = ANY(:c)"),
                     {"c": CAMERAS})


def test_camera_page_draws_view_shadow_and_building(browser: Browser, server: Server,
                                                   camera_scene: None) -> None:
    v = visit(browser, server, f"/maps/cameras/{CAM_FACING_INCIDENT}", "camera_page")
    assert_clean(v)
    overlays = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    assert [name in overlays for name in LAYERS] == [True] * len(LAYERS)
    r, g, b = v.pixel_at(INCIDENT[0], 40.0863)  # between the camera and the block: green
    assert g > r + 15 and g > b
    r, g, b = v.pixel_at(INCIDENT[0], 40.0867)  # behind the block: grey shadow
    assert max(r, g, b) - min(r, g, b) < 20 and max(r, g, b) < 215


def test_camera_page_draws_a_preset_as_its_sector(browser: Browser, server: Server,
                                                  camera_scene: None) -> None:
    v = visit(browser, server, f"/maps/cameras/{PTZ}", "camera_page_ptz")
    assert_clean(v)
    r, g, b = v.pixel_at(113.3053, 40.0870)  # 60 m due west: inside the preset 西口
    assert b > r + 30
    r, g, b = v.pixel_at(113.3067, 40.0870)  # 60 m due east: seen, but no preset there
    assert not b > r + 30


def test_incident_page_links_each_camera_to_its_page(browser: Browser, server: Server,
                                                     camera_scene: None) -> None:
    v = visit(browser, server, f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
              "incident_camera_link")
    assert_clean(v)
    v.page.mouse.click(*v.page.evaluate(
        "([lon, lat]) => { const m = window.glMap(), p = m.latLngToContainerPoint([lat, lon]);"
        " const box = m.getContainer().getBoundingClientRect();"
        " return [box.left + p.x, box.top + p.y]; }", [113.3023, 40.08665]))  # in its shadow
    link = v.page.locator("a.gl-camera-page").first
    link.wait_for(timeout=5000)
    assert link.get_attribute("href") == f"/maps/cameras/{CAM_FACING_INCIDENT}"
