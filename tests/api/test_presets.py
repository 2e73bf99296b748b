"""PTZ presets over HTTP: GET/PUT /cameras/{code}/presets and POST /cameras/presets (file
import): roles, exact errors, the camera's views recomputed, /locate naming the preset."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import auth
from tests.e2e.city import INCIDENT, seed_small_city

PTZ = "14021300081320000077"
GEOD = Geod(ellps="WGS84")


@pytest.fixture
def ptz_west_of_incident(db: Session) -> str:
    """The small city and a PTZ camera (360°, 120 m) 40 m due west of the incident."""
    seed_small_city(db.connection())
    lon, lat, _ = GEOD.fwd(*INCIDENT, 270.0, 40.0)
    db.execute(text("INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg,"
                    " range_m, status, geom) VALUES (:c, '路口球机', 'ptz', 0, 360, 120,"
                    " 'online', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
               {"c": PTZ, "x": lon, "y": lat})
    db.commit()  # a savepoint release: the city survives a rolled-back request
    return PTZ


def test_put_then_get_and_locate_names_the_preset(client: TestClient, keys: dict[str, str],
                                                  ptz_west_of_incident: str,
                                                  db: Session) -> None:
    body = [{"name": "东口", "pan_deg": 90, "tilt_deg": -5, "zoom": 4},
            {"name": "北口", "pan_deg": 0, "fov_deg": 30, "range_m": 60}]
    put = client.put(f"/cameras/{PTZ}/presets", json=body, headers=auth(keys, "dispatcher"))
    assert put.status_code == 200, put.text
    expected = {"camera_code": PTZ, "presets": [
        {"name": "东口", "pan_deg": 90.0, "tilt_deg": -5.0, "fov_deg": 15.0, "zoom": 4.0,
         "range_m": None},
        {"name": "北口", "pan_deg": 0.0, "tilt_deg": None, "fov_deg": 30.0, "zoom": None,
         "range_m": 60.0}]}
    assert put.json() == expected
    got = client.get(f"/cameras/{PTZ}/presets", headers=auth(keys, "viewer"))
    assert got.json() == expected
    assert db.scalar(text("SELECT count(*) FROM camera_views WHERE camera_code = :c"
                          " AND valid_to IS NULL AND preset IS NOT NULL"), {"c": PTZ}) == 2
    located = client.get(f"/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}&k=10",
                         headers=auth(keys, "viewer")).json()
    (ptz,) = [c for c in located["cameras"] if c["code"] == PTZ]
    assert ptz["preset"] == "东口"


def test_put_refuses_bad_presets_naming_row_and_field(client: TestClient,
                                                      keys: dict[str, str],
                                                      ptz_west_of_incident: str) -> None:
    response = client.put(f"/cameras/{PTZ}/presets", headers=auth(keys, "planner"),
                          json=[{"name": "甲", "pan_deg": 10}])
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"row": 1, "field": "fov_deg", "problem": "give fov_deg or zoom"}]
    unknown = client.put("/cameras/nope/presets", headers=auth(keys, "planner"), json=[])
    assert unknown.status_code == 404
    assert client.put(f"/cameras/{PTZ}/presets", headers=auth(keys, "viewer"),
                      json=[]).status_code == 403


def test_import_file_replaces_presets_all_or_nothing(client: TestClient,
                                                     keys: dict[str, str],
                                                     ptz_west_of_incident: str) -> None:
    good = f"camera_code,name,pan_deg,fov_deg\n{PTZ},东口,90,20\n".encode()
    response = client.post("/cameras/presets", headers=auth(keys, "planner"),
                           files={"file": ("presets.csv", io.BytesIO(good))})
    assert response.status_code == 200, response.text
    assert response.json() == {"cameras": 1, "presets": 1, "notes": []}
    bad = f"camera_code,name,pan_deg,fov_deg\n{PTZ},西口,270,20\n{PTZ},南口,180,400\n".encode()
    refused = client.post("/cameras/presets", headers=auth(keys, "planner"),
                          files={"file": ("presets.csv", io.BytesIO(bad))})
    assert refused.status_code == 422
    assert refused.json()["details"] == [
        {"row": 2, "id": PTZ, "field": "fov_deg", "line": 3,
         "problem": "Input should be less than or equal to 360 (got '400')"}]
    names = [p["name"] for p in client.get(f"/cameras/{PTZ}/presets",
                                           headers=auth(keys, "viewer")).json()["presets"]]
    assert names == ["东口"]
