"""Video routes over HTTP: "point all cameras here", stored views as GeoJSON, and the map
layers of visibility and blind spots (the small city plus a wall between the north-facing
camera and the incident)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.video.camera_page import camera_page_data
from geo.video.views import refresh_views
from tests.conftest import auth
from tests.e2e.city import (
    CAM_FACING_AWAY,
    CAM_FACING_INCIDENT,
    CAM_OFFLINE,
    INCIDENT,
    seed_small_city,
)
from tests.geo.video.test_coverage import GRID as ROAD_GRID
from tests.geo.video.test_road_coverage import east_edge_slope
from tests.geo.video.test_road_coverage import scene as road_scene

GEOD = Geod(ellps="WGS84")
CITY_CAMERAS = (CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE)


def escaped(name: str) -> str:
    """A layer name as the page's scripts spell it (\\u escapes)."""
    return json.dumps(name)[1:-1]


def wall_south_of_incident() -> Polygon:
    """A 30 m x 6 m footprint, its centre 45 m due south of the incident."""
    lon, lat, _ = GEOD.fwd(*INCIDENT, 180.0, 45.0)
    corners = [GEOD.fwd(*GEOD.fwd(lon, lat, 90.0 * sx, 15.0)[:2], 180.0 if sy < 0 else 0.0,
                        3.0)[:2] for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return Polygon(corners)


@pytest.fixture
def walled_city(db: Session) -> None:
    seed_small_city(db.connection())
    db.execute(text("INSERT INTO buildings (code, name, households, population, floors, geom)"
                    " VALUES ('B_WALL', '围墙楼', 0, 0, 4, ST_GeomFromText(:g, 4326))"),
               {"g": wall_south_of_incident().wkt})
    refresh_views(db, [CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE])
    db.commit()  # a savepoint release: the city survives a rolled-back request


def test_point_all_cameras_here(client: TestClient, keys: dict[str, str],
                                walled_city: None) -> None:
    response = client.get(f"/locate/cameras?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
                          headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    cameras = response.json()["cameras"]
    assert [(c["code"], c["reason"], c["blocked_by"]) for c in cameras] == [
        (CAM_FACING_INCIDENT, "blocked", "B_WALL"),
        (CAM_FACING_AWAY, "not_facing", None)]  # the offline dome is 85 m away, reach 80 m
    assert cameras[0]["offset_deg"] == pytest.approx(0.0, abs=1e-6)
    assert cameras[0]["distance_m"] == pytest.approx(89.0, abs=0.5)


def test_locate_lists_the_blocked_camera_with_its_building(
        client: TestClient, keys: dict[str, str], walled_city: None) -> None:
    body = client.get(f"/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
                      headers=auth(keys, "viewer")).json()
    assert body["cameras"] == []
    assert [(c["code"], c["reason"], c["blocked_by"]) for c in body["other_cameras"]] == [
        (CAM_OFFLINE, "offline", None), (CAM_FACING_INCIDENT, "blocked", "B_WALL"),
        (CAM_FACING_AWAY, "not_facing", None)]


def test_views_as_geojson(client: TestClient, keys: dict[str, str], walled_city: None) -> None:
    response = client.get("/cameras/views?bbox=113.29,40.07,113.33,40.10",
                          headers=auth(keys, "viewer"))
    assert response.status_code == 200
    features = [f for f in response.json()["features"]  # other modules' cameras may be there
                if f["properties"]["camera_code"] in CITY_CAMERAS]
    assert [f["properties"]["camera_code"] for f in features] == [
        CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE]
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    bad = client.get("/cameras/views?bbox=1,2,3", headers=auth(keys, "viewer"))
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "bbox"
    assert client.get("/cameras/views?bbox=113.29,40.07,113.33,40.10").status_code == 401


def test_maps_draw_visibility_and_blind_spots(client: TestClient, keys: dict[str, str],
                                              walled_city: None) -> None:
    coverage = client.get("/maps/coverage?area=140213001001", headers=auth(keys, "viewer")).text
    assert escaped("可视区域（遮挡后）") in coverage and escaped("盲区") in coverage
    incident = client.get(f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
                          headers=auth(keys, "viewer")).text
    assert escaped("可视区域（遮挡后）") in incident and escaped("盲区") not in incident


def test_camera_page_data_and_page(client: TestClient, keys: dict[str, str], db: Session,
                                   walled_city: None) -> None:
    """The north-facing camera: its view, the wall's shadow (4 floors: 12 m, taller than the
    camera's default 4 m, so it hides all behind it), the wall, no presets, its grid."""
    data = camera_page_data(db, CAM_FACING_INCIDENT)
    assert (data.camera["code"], data.camera["camera_type"]) == (CAM_FACING_INCIDENT, "fixed")
    assert len(data.view) == 1 and data.view["area_m2"].iloc[0] > 0
    assert list(data.shadows["building_code"]) == ["B_WALL"]
    assert data.shadows["height_m"].tolist() == [12.0]
    assert data.shadows["near_m"].tolist() == [40.8]  # the wall's near side, 41 m north
    assert data.footprints[["code", "floors"]].values.tolist() == [["B_WALL", 4]]
    assert data.presets.empty
    assert data.grids["code"].tolist() == ["140213001001001"]
    page = client.get(f"/maps/cameras/{CAM_FACING_INCIDENT}", headers=auth(keys, "viewer"))
    assert page.status_code == 200
    assert [escaped(n) in page.text for n in ("可视区域（遮挡后）", "建筑遮挡的阴影", "预置位",
                                               "覆盖的网格")] == [True] * 4
    missing = client.get("/maps/cameras/nope", headers=auth(keys, "viewer"))
    assert missing.status_code == 404
    incident = client.get(f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
                          headers=auth(keys, "viewer")).text
    assert f'href=\\"/maps/cameras/{CAM_FACING_INCIDENT}\\"' in incident


def test_coverage_answer_with_roads_and_entrances(client: TestClient, keys: dict[str, str],
                                                  db: Session) -> None:
    """The named scene of tests/geo/video/test_road_coverage.py over HTTP."""
    road_scene(db)
    db.commit()
    response = client.get(f"/cameras/coverage?area={ROAD_GRID}", headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    half = 50.0 * east_edge_slope()
    assert (body["area"], body["grids_count"], body["sites_count"]) == (ROAD_GRID, 1, 2)
    assert body["road_m"] == pytest.approx(100.0, abs=0.1)
    assert body["road_seen_share"] == pytest.approx(half / 100, abs=1e-3)
    assert (body["entrances"], body["entrances_seen"]) == (2, 1)
    (grid,) = body["grids"]
    assert (grid["code"], grid["entrances"], grid["entrances_seen"]) == (ROAD_GRID, 2, 1)
    assert grid["seen_share"] < grid["seen_share_without_occlusion"]  # B_WALL's shadow
    assert [(s["code"], s["unseen_entrances"], s["seen_share"]) for s in body["sites"]] == [
        ("S_POINT", ["G_HIDDEN"], None),
        ("S_YARD", [], pytest.approx(east_edge_slope() * 1000 / 800 - 0.75, abs=2e-3))]
    page = client.get(f"/maps/coverage?area={ROAD_GRID}", headers=auth(keys, "viewer")).text
    assert escaped("道路覆盖") in page and escaped("出入口覆盖") in page
    missing = client.get("/cameras/coverage?area=999", headers=auth(keys, "viewer"))
    assert missing.status_code == 404 and missing.json()["details"][0]["field"] == "area"
    assert client.get(f"/cameras/coverage?area={ROAD_GRID}").status_code == 401
