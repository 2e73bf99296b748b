"""``GET /maps/events/{id}`` shows the stored assignment, what ``GET /events/{id}`` returns:
the grid chain, cameras and workers as assigned, with the time of assignment, and "now"
beside them only where the spot's answer has changed since."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from tests.conftest import auth, client_in_transaction
from tests.e2e.city import CAM_FACING_INCIDENT, INCIDENT, _box, seed_small_city

WEST, EAST = "140213001001001", "140213001001002"
EXTRA_CAMERAS = [f"1402130008131000001{i}" for i in range(5)]
"""Five more cameras facing north at the incident from 22-67 m south, nearest first: with
the one 89 m south, six see the spot."""


def _city(db: Session) -> None:
    seed_small_city(db.connection())
    db.commit()  # a savepoint release: the city survives a rolled-back request


def _add_cameras_facing_incident(db: Session) -> None:
    lon, lat = INCIDENT
    for i, code in enumerate(EXTRA_CAMERAS):
        db.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
            " status, grid_code, geom) VALUES (:c, :c, 'fixed', 0, 60, 100, 'online', :g,"
            " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
            {"c": code, "g": WEST, "lon": lon, "lat": lat - 0.0002 - 0.0001 * i})
    db.commit()


def _redraw(db: Session, code: str, wkt: str) -> None:
    """A new version of grid ``code`` with shape ``wkt`` (lon/lat); events are not
    re-assigned."""
    db.execute(text("UPDATE grids SET valid_to = now() WHERE code = :c AND valid_to IS NULL"),
               {"c": code})
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, geom) SELECT code, name, kind, level, parent_code,"
        " community_code, households, population, version + 1, ST_GeomFromText(:g, 4326)"
        " FROM grids WHERE code = :c ORDER BY version DESC LIMIT 1"), {"c": code, "g": wkt})
    db.commit()


def _popup(page: str) -> dict[str, str]:
    """The incident marker's popup rows (label → value): the table that starts with 事件."""
    tables = re.findall(r"<table style='font-size:12px'>(.*?)</table>", page)
    rows = [re.findall(r"<th style='padding-right:8px'>(.*?)</th><td>(.*?)</td>", t)
            for t in tables]
    incident = [r for r in rows if r and r[0][0] == "事件"]
    assert len(incident) == 1, "one incident popup on the page"
    return {html.unescape(k): html.unescape(v) for k, v in incident[0]}


def _cameras_seeing(page: str) -> list[str]:
    """Codes of the camera wedges drawn as seeing the spot, by code."""
    features: list[dict[str, Any]] = []
    for collection in re.findall(r'_add\((\{"features": .*?\})\);\n', page):
        features += json.loads(collection)["features"]
    return sorted(f["properties"]["code"] for f in features
                  if f.get("properties", {}).get("sees") == "能")


def test_page_shows_the_stored_grid_after_a_redraw(db: Session, keys: dict[str, str]) -> None:
    _city(db)
    lon, lat = INCIDENT
    with client_in_transaction(db, ApiSettings()) as client:
        made = client.post("/events", json={"category": "占道经营", "lon": lon, "lat": lat},
                           headers=auth(keys, "worker")).json()
        _redraw(db, WEST, _box(113.300, 40.085, 113.302, 40.090))
        _redraw(db, EAST, _box(113.302, 40.085, 113.310, 40.090))
        record = client.get(f"/events/{made['id']}", headers=auth(keys, "viewer")).json()
        page = client.get(f"/maps/events/{made['id']}", headers=auth(keys, "viewer")).text
    assert (record["grid_code"], record["camera_codes"]) == (WEST, [CAM_FACING_INCIDENT])
    popup = _popup(page)
    assert popup["网格"] == f"向阳一网格（{WEST}）"
    assert popup["现在的网格"] == f"向阳二网格（{EAST}）"
    assert (datetime.fromisoformat(popup["分配时间"])
            == datetime.fromisoformat(record["assigned_at"]))
    assert popup["网格长"].startswith("张网格长") and "现在的摄像机" not in popup
    assert _cameras_seeing(page) == [CAM_FACING_INCIDENT]


def test_page_shows_the_cameras_stored_with_locate_k_5(
        db: Session, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _city(db)
    _add_cameras_facing_incident(db)
    lon, lat = INCIDENT
    monkeypatch.setenv("GRIDLINK_LOCATE_K", "5")
    with client_in_transaction(db, ApiSettings()) as client:
        made = client.post("/events", json={"category": "占道经营", "lon": lon, "lat": lat},
                           headers=auth(keys, "worker")).json()
        record = client.get(f"/events/{made['id']}", headers=auth(keys, "viewer")).json()
        page = client.get(f"/maps/events/{made['id']}", headers=auth(keys, "viewer")).text
    assert record["camera_codes"] == EXTRA_CAMERAS  # nearest first; a 6th sees it too
    assert _cameras_seeing(page) == sorted(record["camera_codes"])
    popup = _popup(page)
    assert popup["网格"] == f"向阳一网格（{WEST}）"
    assert "现在的网格" not in popup and "现在的摄像机" not in popup
