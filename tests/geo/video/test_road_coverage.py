"""Coverage of roads and entrances with occlusion, on named geometries.

The 200 m square grid of tests/geo/video/test_coverage.py (origin at its centre), one fixed
camera at the middle of its south edge (0, -100) facing north (90°, 100 m, 6 m high) and
``B_WALL`` (no height: hides everything behind it) 20-30 m north of the camera, 5-15 m west:

* ``R_HALF``, a road from (0, -50) to (100, -50): 50 m north of the camera the sector spans
  x ∈ [-50, 50], so its western half is seen: 50 of its 100 m (the sector's edge is at 45°
  from *true* north, 45.45° from the grid north of EPSG:4547 here: 50.79 m);
* ``G_HIDDEN`` at (-20, -40): 18.4° west of north, the ray crosses B_WALL (x ∈ [-10, -6.7]
  at 20-30 m): hidden; ``G_SEEN`` at (20, -40), the mirror image: seen;
* the school ``S_POINT`` (a point site) owns both gates; ``S_YARD`` is a polygon site
  x ∈ [30, 70], y ∈ [-60, -40] whose part with x ≤ y + 100 is in view: 400 of its 800 m²
  (415.8 m² with the 0.45° of meridian convergence).
"""

from __future__ import annotations

import math

import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat, to_metric
from geo.errors import ValidationFailed
from geo.locate import locate
from geo.video.coverage import grid_coverage
from geo.video.road_coverage import (
    area_coverage,
    entrance_states,
    road_pieces,
    site_coverage,
)
from tests.geo.video.scene import ORIGIN, add_building, at, footprint
from tests.geo.video.test_coverage import CAM, GRID, grid_with_one_camera


def east_edge_slope() -> float:
    """x / y (grid metres from the camera) along the sector's east edge: bearing 45° from
    true north (1.0158 here, 1 for a grid bearing of 45°)."""
    camera = at(0, -100)
    lon, lat, _ = Geod(ellps="WGS84").fwd(camera.x, camera.y, 45.0, 1000.0)
    far = to_metric(Point(lon, lat), 4547)
    slope = (far.x - ORIGIN.x) / (far.y - (ORIGIN.y - 100))
    return slope


def add_road(db: Session, code: str, start: tuple[float, float],
             end: tuple[float, float]) -> None:
    line = to_lonlat(LineString([(ORIGIN.x + start[0], ORIGIN.y + start[1]),
                                 (ORIGIN.x + end[0], ORIGIN.y + end[1])]), 4547)
    db.execute(text("INSERT INTO roads (code, name, kind, geom) VALUES (:c, :c, '支路',"
                    " ST_Multi(ST_GeomFromText(:g, 4326)))"), {"c": code, "g": line.wkt})


def add_site(db: Session, code: str, wkt: str) -> None:
    db.execute(text("INSERT INTO sites (code, name, category, grid_code, geom) VALUES"
                    " (:c, :c, 'primary_school', :grid, ST_GeomFromText(:g, 4326))"),
               {"c": code, "grid": GRID, "g": wkt})


def add_gate(db: Session, code: str, dx: float, dy: float) -> None:
    db.execute(text("INSERT INTO entrances (code, name, site_code, kind, geom) VALUES"
                    " (:c, :c, 'S_POINT', '校门', ST_GeomFromText(:g, 4326))"),
               {"c": code, "g": at(dx, dy).wkt})


def scene(db: Session, status: str = "online") -> None:
    add_building(db, "B_WALL", footprint(-15, -80, -5, -70))
    add_road(db, "R_HALF", (0, -50), (100, -50))
    add_site(db, "S_POINT", at(0, -30).wkt)
    add_site(db, "S_YARD", footprint(30, -60, 70, -40).wkt)
    add_gate(db, "G_HIDDEN", -20, -40)
    add_gate(db, "G_SEEN", 20, -40)
    grid_with_one_camera(db, status=status)  # computes the views last


def test_a_road_half_in_view_and_a_gate_behind_a_building(db: Session) -> None:
    scene(db)
    (row,) = grid_coverage(db, GRID).itertuples()
    assert row.road_m == pytest.approx(100.0, rel=1e-3)
    half = 50.0 * east_edge_slope()
    assert half == pytest.approx(50.79, abs=0.01)
    assert row.road_seen_m == pytest.approx(half, rel=1e-3)
    assert row.road_seen_share == pytest.approx(half / 100, rel=1e-3)
    assert (row.entrances, row.entrances_seen) == (2, 1)
    pieces = road_pieces(db, GRID)
    assert list(zip(pieces["code"], pieces["seen"], strict=True)) == [
        ("R_HALF", True), ("R_HALF", False)]
    assert list(pieces["length_m"]) == pytest.approx([half, 100 - half], rel=1e-3)
    gates = entrance_states(db, GRID)
    assert dict(zip(gates["code"], gates["seen"], strict=True)) == {
        "G_HIDDEN": False, "G_SEEN": True}


def test_locate_agrees_the_hidden_gate_is_blocked(db: Session) -> None:
    scene(db)
    hidden, seen = at(-20, -40), at(20, -40)
    r = locate(db, hidden.x, hidden.y, k=3)
    assert r.cameras == []
    (camera,) = r.other_cameras
    assert (camera.code, camera.reason, camera.blocked_by) == (CAM, "blocked", "B_WALL")
    assert [c.code for c in locate(db, seen.x, seen.y, k=3).cameras] == [CAM]


def test_sites_ranked_by_unseen_entrances(db: Session) -> None:
    scene(db)
    sites = site_coverage(db, GRID)
    assert list(sites["code"]) == ["S_POINT", "S_YARD"]
    point, yard = sites.itertuples()
    assert (point.entrances, point.entrances_seen, list(point.unseen_codes)) == (
        2, 1, ["G_HIDDEN"])
    assert math.isnan(point.seen_share)  # a point site has no area
    assert (yard.entrances, yard.entrances_seen) == (0, 0)
    seen = east_edge_slope() * (60**2 - 40**2) / 2 - 30 * 20  # ∫ x ≤ slope·y, y 40..60 m
    assert seen == pytest.approx(415.8, abs=0.1)
    assert yard.seen_share == pytest.approx(seen / 800, rel=2e-3)


def test_an_offline_camera_sees_no_road_and_no_gate(db: Session) -> None:
    scene(db, status="offline")
    (row,) = grid_coverage(db, GRID).itertuples()
    assert (row.road_m, row.road_seen_m, row.entrances_seen) == (
        pytest.approx(100.0, rel=1e-3), 0.0, 0)
    assert list(road_pieces(db, GRID)["seen"]) == [False]
    assert not entrance_states(db, GRID)["seen"].any()


def test_a_boundary_road_counts_in_both_grids_once_in_the_area(db: Session) -> None:
    """``R_EDGE`` runs 200 m along the shared edge (x = 100) of GRID and its eastern
    neighbour: each grid's road length holds it, the community's total only once."""
    scene(db)
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, geom) VALUES ('140213001001002', '二网格', 'urban', 'grid',"
        " '140213001001', '140213001001', 100, 300, 1, ST_Multi(ST_GeomFromText(:g, 4326)))"),
        {"g": footprint(100, -100, 300, 100).wkt})
    db.execute(text(
        "INSERT INTO admin_areas (code, name, level, geom) VALUES ('140213001001', '一社区',"
        " 'community', ST_Multi(ST_GeomFromText(:g, 4326)))"),
        {"g": footprint(-100, -100, 300, 100).wkt})
    add_road(db, "R_EDGE", (100, -100), (100, 100))
    grids = grid_coverage(db, "140213001001").set_index("code")
    assert grids.loc[GRID, "road_m"] == pytest.approx(300.0, rel=1e-3)  # R_HALF + R_EDGE
    assert grids.loc["140213001001002", "road_m"] == pytest.approx(200.0, rel=1e-3)
    answer = area_coverage(db, "140213001001", top=10)
    assert answer["road_m"] == pytest.approx(300.0, rel=1e-3)
    assert answer["road_seen_share"] == pytest.approx(50.0 * east_edge_slope() / 300, rel=2e-3)
    assert [g["code"] for g in answer["grids"]] == [GRID, "140213001001002"]


def test_the_coverage_answer_refuses_a_too_large_area(db: Session) -> None:
    scene(db)
    with pytest.raises(ValidationFailed) as caught:
        area_coverage(db, GRID, top=10, max_grids=0)
    assert caught.value.details == [{"field": "area", "value": GRID, "grids": 1,
                                     "max_grids": 0}]
