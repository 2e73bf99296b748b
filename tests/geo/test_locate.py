"""The single-point answer (geo.locate) on a small hand-made city near Datong.

The city (lon/lat, EPSG:4326; 0.001° ≈ 85 m east-west, 111 m north-south here):

* ``two_grids_sharing_an_edge``: grid G1 = [113.300, 113.302] × [40.080, 40.082] and
  G2 = [113.302, 113.304] × same, sharing the edge x = 113.302; each split in a south (01)
  and a north (02) micro-grid at y = 40.081.
* ``school_campus``: a dedicated grid inside G1.
* ``camera_facing_north`` at (113.3010, 40.0805), 60° FOV, 100 m; ``ptz_camera``;
  ``offline_camera``; ``camera_facing_east``.
"""

from __future__ import annotations

import math

import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import OutOfArea, ValidationFailed
from geo.locate import CameraHit, LocateResult, check_point, locate

DISTRICT, STREET, COMMUNITY = "140213", "140213001", "140213001001"
G1, G2 = COMMUNITY + "001", COMMUNITY + "002"
SCHOOL = COMMUNITY + "901"
GEOD = Geod(ellps="WGS84")


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def build_small_city(session: Session) -> None:
    """Insert the named geometries above (no commit)."""
    areas = [(DISTRICT, "平城区", "district", None), (STREET, "新建南路街道", "street", DISTRICT),
             (COMMUNITY, "振华南街社区", "community", STREET)]
    for code, name, level, parent in areas:
        session.execute(text(
            "INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES"
            " (:c, :n, :l, :p, ST_GeomFromText(:g, 4326))"),
            {"c": code, "n": name, "l": level, "p": parent,
             "g": box(113.300, 40.080, 113.304, 40.082)})
    grids = [(G1, "一网格", "urban", "grid", COMMUNITY, box(113.300, 40.080, 113.302, 40.082)),
             (G2, "二网格", "urban", "grid", COMMUNITY, box(113.302, 40.080, 113.304, 40.082)),
             (G1 + "01", "一网格南", "urban", "micro", G1, box(113.300, 40.080, 113.302, 40.081)),
             (G1 + "02", "一网格北", "urban", "micro", G1, box(113.300, 40.081, 113.302, 40.082)),
             (G2 + "01", "二网格南", "urban", "micro", G2, box(113.302, 40.080, 113.304, 40.081)),
             (G2 + "02", "二网格北", "urban", "micro", G2, box(113.302, 40.081, 113.304, 40.082)),
             (SCHOOL, "实验小学", "dedicated", "grid", COMMUNITY,
              box(113.3005, 40.0805, 113.3015, 40.0815))]
    for code, name, kind, level, parent, wkt in grids:
        session.execute(text(
            "INSERT INTO grids (code, name, kind, level, parent_code, community_code,"
            " households, population, version, geom) VALUES"
            " (:c, :n, :k, :l, :p, :cc, 0, 0, 1, ST_GeomFromText(:g, 4326))"),
            {"c": code, "n": name, "k": kind, "l": level, "p": parent, "cc": COMMUNITY,
             "g": wkt})
    workers = [("W-H1", "王助", "helper", G1 + "01"), ("W-L1", "李长", "grid_leader", G1),
               ("W-W1", "张员", "grid_worker", G1), ("W-H2", "赵助", "helper", G1 + "02"),
               ("W-L2", "刘长", "grid_leader", G2)]
    for code, name, role, grid in workers:
        session.execute(text("INSERT INTO workers (code, name, role, grid_code)"
                             " VALUES (:c, :n, :r, :g)"),
                        {"c": code, "n": name, "r": role, "g": grid})
    cameras = [  # code, type, azimuth, fov, range, status, lon, lat
        ("14021300081310000001", "fixed", 0.0, 60.0, 100.0, "online", 113.3010, 40.0805),
        ("14021300081310000002", "ptz", 90.0, 60.0, 80.0, "online", 113.3014, 40.0810),
        ("14021300081310000003", "fixed", 0.0, 90.0, 150.0, "offline", 113.3010, 40.0806),
        ("14021300081310000004", "fixed", 90.0, 60.0, 100.0, "online", 113.3011, 40.0808),
    ]
    names = ["camera_facing_north", "ptz_camera", "offline_camera", "camera_facing_east"]
    for (code, kind, az, fov, rng, status, lon, lat), name in zip(cameras, names, strict=True):
        session.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
            " status, stream_url, geom) VALUES (:c, :n, :t, :a, :f, :r, :s, :u,"
            " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"c": code, "n": name, "t": kind, "a": az, "f": fov, "r": rng, "s": status,
             "u": f"rtsp://video.local/{code}", "x": lon, "y": lat})
    sites = [("S-school", "实验小学", "school", 113.3010, 40.0810),
             ("S-market", "农贸市场", "market", 113.3035, 40.0815)]
    for code, name, cat, lon, lat in sites:
        session.execute(text(
            "INSERT INTO sites (code, name, category, geom) VALUES"
            " (:c, :n, :k, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"c": code, "n": name, "k": cat, "x": lon, "y": lat})


@pytest.fixture
def city(db: Session) -> Session:
    build_small_city(db)
    return db


def test_point_inside_grid_gets_whole_chain(city: Session) -> None:
    r = locate(city, 113.3010, 40.0808)
    assert r.assignment == "covered" and not r.snapped
    assert (r.district.code, r.street.code, r.community.code) == (DISTRICT, STREET, COMMUNITY)
    assert r.community.name == "振华南街社区"
    assert (r.grid.code, r.micro_grid.code) == (G1, G1 + "01")
    assert [d.code for d in r.dedicated_grids] == [SCHOOL]
    assert [w.code for w in r.workers] == ["W-L1", "W-W1", "W-H1"]


def test_point_on_shared_edge_goes_to_smallest_code(city: Session) -> None:
    r = locate(city, 113.302, 40.0805)
    assert (r.grid.code, r.micro_grid.code) == (G1, G1 + "01")
    assert r.dedicated_grids == []


def test_point_on_shared_vertex_of_four_micro_grids(city: Session) -> None:
    r = locate(city, 113.302, 40.081)
    assert (r.grid.code, r.micro_grid.code) == (G1, G1 + "01")


def test_point_just_outside_is_snapped_with_distance(city: Session) -> None:
    r = locate(city, 113.2998, 40.0805)
    expected = GEOD.inv(113.2998, 40.0805, 113.300, 40.0805)[2]
    assert r.assignment == "snapped" and r.snapped
    assert r.grid.code == G1 and r.micro_grid.code == G1 + "01"
    assert r.nearest_grid.code == G1
    assert r.nearest_distance_m == pytest.approx(expected, abs=1e-6)
    assert 16.0 < r.nearest_distance_m < 18.0


def test_point_far_outside_is_unassigned_with_nearest(city: Session) -> None:
    r = locate(city, 113.2990, 40.0805)
    assert r.assignment == "unassigned" and r.grid is None and r.workers == []
    assert r.nearest_grid.code == G1
    assert r.nearest_distance_m == pytest.approx(GEOD.inv(113.299, 40.0805, 113.3, 40.0805)[2])


def test_cameras_facing_and_ptz_with_pan(city: Session) -> None:
    r = locate(city, 113.3010, 40.0808, k=3)
    codes = [c.code for c in r.cameras]
    # north camera 33 m south, ptz 47 m; the east-facing camera 8.5 m east looks away
    assert codes == ["14021300081310000001", "14021300081310000002"]
    north, ptz = r.cameras
    fwd, _, dist = GEOD.inv(113.3010, 40.0805, 113.3010, 40.0808)
    assert north.distance_m == pytest.approx(dist, abs=1e-6)
    assert north.bearing_deg == pytest.approx(0.0, abs=1e-9) and north.pan_deg is None
    pan = GEOD.inv(113.3014, 40.0810, 113.3010, 40.0808)[0] % 360
    assert ptz.pan_deg == pytest.approx(pan, abs=1e-9) and ptz.facing
    assert north.stream_url == "rtsp://video.local/14021300081310000001"
    assert not r.enough_cameras
    assert [(c.code, c.reason) for c in r.other_cameras] == [
        ("14021300081310000004", "not_facing"), ("14021300081310000003", "offline")]


def test_enough_cameras_hides_others(city: Session) -> None:
    r = locate(city, 113.3010, 40.0808, k=1)
    assert [c.code for c in r.cameras] == ["14021300081310000001"]
    assert r.enough_cameras and r.other_cameras == []


def test_sites_within_radius_nearest_first(city: Session) -> None:
    r = locate(city, 113.3010, 40.0808, radius_m=40)
    assert [s.code for s in r.sites] == ["S-school"]
    assert r.sites[0].distance_m == pytest.approx(GEOD.inv(113.301, 40.0808, 113.301, 40.081)[2])
    r = locate(city, 113.3010, 40.0808, radius_m=500)
    assert [s.code for s in r.sites] == ["S-school", "S-market"]


@pytest.mark.parametrize(("lon", "lat", "swapped"), [
    (40.08, 113.30, True), (190.0, 40.0, False), (-74.0, 40.7, False)])
def test_bad_points_are_rejected(lon: float, lat: float, swapped: bool) -> None:
    with pytest.raises(OutOfArea) as info:
        check_point(lon, lat)
    detail = info.value.details[0]
    assert detail.get("likely_swapped", False) is swapped
    assert ("swapped" in info.value.message) is swapped


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_is_rejected(value: float) -> None:
    with pytest.raises(OutOfArea, match="finite"):
        check_point(value, 40.0)


def test_bad_k_is_rejected(city: Session) -> None:
    with pytest.raises(ValidationFailed):
        locate(city, 113.301, 40.0808, k=0)


def test_locate_statement_uses_spatial_indexes(city: Session) -> None:
    for setting in ("enable_seqscan", "enable_bitmapscan"):
        city.execute(text(f"SET LOCAL {setting} = off"))
    from geo.locate import LOCATE_SQL
    plan = "\n".join(r[0] for r in city.execute(
        text("EXPLAIN " + LOCATE_SQL), {"lon": 113.301, "lat": 40.0808, "radius": 200.0,
                                        "k": 3, "tol": 15.0}))
    assert "ix_cameras_geog" in plan and "ix_sites_geog" in plan


def test_nearest_grid_uses_knn_on_geography_index(city: Session) -> None:
    # a 7-row table: make the planner show whether an ordered KNN index path exists at all
    for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
        city.execute(text(f"SET LOCAL {setting} = off"))
    plan = "\n".join(r[0] for r in city.execute(text(
        "EXPLAIN SELECT code FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid'"
        " AND g.kind <> 'dedicated'"
        " ORDER BY geography(g.geom) <-> geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        " LIMIT 8"), {"lon": 113.299, "lat": 40.0805}))
    assert "ix_grids_current_ordinary_geog" in plan


def test_inside_and_snapped_answers_agree_on_the_chain(city: Session) -> None:
    """Inside a grid the answer is built by PostgreSQL as JSON; a snapped point takes the
    Python path. Both must name the same chain, workers and camera fields."""
    inside = locate(city, 113.3010, 40.0808)
    snapped = locate(city, 113.29990, 40.0805)
    assert (inside.assignment, snapped.assignment) == ("covered", "snapped")
    for field in ("district", "street", "community", "grid", "micro_grid", "workers"):
        assert getattr(inside, field) == getattr(snapped, field), field
    assert set(CameraHit.model_fields) == set(inside.cameras[0].model_dump())
    assert inside.model_dump_json() == LocateResult.model_validate_json(
        inside.model_dump_json()).model_dump_json()


def test_community_missing_from_admin_areas_keeps_code(city: Session) -> None:
    city.execute(text("DELETE FROM admin_areas WHERE code = :c"), {"c": COMMUNITY})
    r = locate(city, 113.3005, 40.0805)
    assert r.community is not None and (r.community.code, r.community.name) == (COMMUNITY, "")
    assert r.street is None and r.district is None
