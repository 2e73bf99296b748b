"""Set-based assignment (geo.assign) agrees with the single-point answer (geo.locate)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo.assign import assign_events, assign_units
from geo.cameras import covers, geodesic_bearing_distance, is_facing
from geo.errors import NotFound, ValidationFailed
from geo.locate import locate
from tests.geo.test_locate import G1, G2, SCHOOL, build_small_city

NAMED_POINTS = {
    "inside_g1_south": (113.3010, 40.0808),
    "on_shared_edge": (113.3020, 40.0805),
    "on_shared_vertex": (113.3020, 40.0810),
    "inside_g2_north": (113.3030, 40.0815),
    "point_just_outside": (113.2998, 40.0805),
    "point_far_outside": (113.2990, 40.0805),
    "on_camera_spot": (113.3010, 40.0805),
    "near_ptz": (113.3016, 40.0812),
}


def insert_named_events(session: Session) -> None:
    """One reported event at each of :data:`NAMED_POINTS` (its name as the client id), never
    assigned."""
    for name, (lon, lat) in NAMED_POINTS.items():
        session.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', now(),"
            " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0, true)"),
            {"c": name, "x": lon, "y": lat})


@pytest.fixture
def city_with_events(db: Session) -> Session:
    build_small_city(db)
    insert_named_events(db)
    return db


def _stored(db: Session) -> dict[str, dict[str, object]]:
    rows = db.execute(text(
        "SELECT client_id, district_code, street_code, community_code, grid_code,"
        " micro_grid_code, dedicated_grid_codes, assignment, nearest_grid_code,"
        " nearest_distance_m, camera_codes FROM events_with_assignment")).mappings().all()
    return {r["client_id"]: dict(r) for r in rows}


@pytest.mark.parametrize("subdivide", [False, True])
def test_bulk_equals_locate_on_every_named_point(
    city_with_events: Session, subdivide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = city_with_events
    monkeypatch.setattr(assign_mod, "SUBDIVIDE_FROM_EVENTS", 0 if subdivide else 10**9)
    summary = assign_events(db, "all")
    assert (summary.events, summary.covered, summary.snapped, summary.unassigned) == (8, 6, 1, 1)
    stored = _stored(db)
    for name, (lon, lat) in NAMED_POINTS.items():
        r = locate(db, lon, lat)
        row = stored[name]
        assert row["grid_code"] == (r.grid.code if r.grid else None), name
        assert row["micro_grid_code"] == (r.micro_grid.code if r.micro_grid else None), name
        assert row["community_code"] == (r.community.code if r.community else None), name
        assert row["street_code"] == (r.street.code if r.street else None), name
        assert row["district_code"] == (r.district.code if r.district else None), name
        assert (row["dedicated_grid_codes"] or []) == [d.code for d in r.dedicated_grids], name
        assert row["assignment"] == r.assignment, name
        assert row["camera_codes"] == [c.code for c in r.cameras], name
        if r.nearest_distance_m is None:
            assert row["nearest_distance_m"] is None
        else:
            assert row["nearest_distance_m"] == pytest.approx(r.nearest_distance_m, abs=1e-6)


def test_boundary_points_owned_by_smallest_code(city_with_events: Session) -> None:
    assign_events(city_with_events, "all")
    stored = _stored(city_with_events)
    assert stored["on_shared_edge"]["grid_code"] == G1
    assert stored["on_shared_vertex"]["micro_grid_code"] == G1 + "01"
    assert stored["inside_g2_north"]["micro_grid_code"] == G2 + "02"
    assert stored["inside_g1_south"]["dedicated_grid_codes"] == [SCHOOL]


def test_outside_points_keep_nearest_grid(city_with_events: Session) -> None:
    assign_events(city_with_events, "all")
    stored = _stored(city_with_events)
    snapped, far = stored["point_just_outside"], stored["point_far_outside"]
    assert (snapped["assignment"], snapped["grid_code"], snapped["nearest_grid_code"]) == (
        "snapped", G1, G1)
    assert snapped["micro_grid_code"] == G1 + "01"
    assert (far["assignment"], far["grid_code"], far["nearest_grid_code"]) == (
        "unassigned", None, G1)
    assert 84.0 < far["nearest_distance_m"] < 86.0


def test_camera_on_the_spot_and_ptz(city_with_events: Session) -> None:
    assign_events(city_with_events, "all")
    stored = _stored(city_with_events)
    assert stored["on_camera_spot"]["camera_codes"][0] == "14021300081310000001"
    assert stored["near_ptz"]["camera_codes"][0] == "14021300081310000002"


def test_scopes_unassigned_and_area(city_with_events: Session) -> None:
    db = city_with_events
    assert assign_events(db, "unassigned").events == 8
    assert assign_events(db, "unassigned").events == 1  # the far point stays unassigned
    # on_shared_edge, on_shared_vertex (both on G2's west edge) and inside_g2_north
    assert assign_events(db, "area", area_code=G2).events == 3
    with pytest.raises(NotFound):
        assign_events(db, "area", area_code="999")
    with pytest.raises(ValidationFailed):
        assign_events(db, "sometimes")


def test_assign_units_sets_grid_of_cameras_and_sites(city_with_events: Session) -> None:
    db = city_with_events
    db.execute(text(
        "INSERT INTO buildings (code, households, population, geom) VALUES ('B1', 10, 20,"
        " ST_GeomFromText('POLYGON((113.3021 40.0811,113.3025 40.0811,113.3025 40.0814,"
        "113.3021 40.0814,113.3021 40.0811))', 4326))"))
    counts = assign_units(db)
    assert counts == {"buildings": 1, "sites": 2, "cameras": 4}
    got = dict(db.execute(text("SELECT code, grid_code FROM cameras")).all())
    assert set(got.values()) == {G1}
    assert db.execute(text("SELECT grid_code, micro_grid_code FROM buildings")).one() == (
        G2, G2 + "02")
    east_half = ("POLYGON((113.302 40.080,113.304 40.080,113.304 40.082,113.302 40.082,"
                 "113.302 40.080))")
    # the units of the east half already have these codes: nothing is written again
    assert assign_units(db, east_half) == {"buildings": 0, "sites": 0, "cameras": 0}
    db.execute(text("UPDATE sites SET grid_code = NULL"))
    assert assign_units(db, east_half) == {"buildings": 0, "sites": 1, "cameras": 0}


def test_work_tables_are_dropped(city_with_events: Session) -> None:
    db = city_with_events
    assign_events(db, "all")
    left = db.execute(text(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'assign\\_%'")).scalar_one()
    assert left == 0


def test_rerun_writes_only_changed_assignments(city_with_events: Session) -> None:
    db = city_with_events
    assert assign_events(db, "all").changed == 8
    assert assign_events(db, "all").changed == 0
    before = _stored(db)
    seen_by = [name for name, row in before.items()
               if "14021300081310000001" in (row["camera_codes"] or [])]
    db.execute(text("UPDATE cameras SET status = 'offline' WHERE code = '14021300081310000001'"))
    assert assign_events(db, "all").changed == len(seen_by) > 0
    after = _stored(db)
    assert all("14021300081310000001" not in row["camera_codes"] for row in after.values())
    assert {n for n in after if after[n] != before[n]} == set(seen_by)


def _random_cameras_and_events(db: Session, rng: np.random.Generator, lon0: float,
                               lat0: float, prefix: str) -> None:
    """40 cameras of every kind (ranges up to 1.5 km) and, per camera, events just inside
    and just outside the edges of its view, plus 300 random events, around (lon0, lat0)."""
    geod = Geod(ellps="WGS84")
    lons, lats = lon0 + rng.uniform(-0.01, 0.01, 40), lat0 + rng.uniform(-0.008, 0.008, 40)
    events: list[tuple[float, float]] = list(zip(
        lon0 + rng.uniform(-0.02, 0.02, 300), lat0 + rng.uniform(-0.016, 0.016, 300),
        strict=True))
    for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
        kind = ("fixed", "dome", "ptz")[i % 3]
        az, fov = float(rng.uniform(0, 360)), float(rng.choice([10.0, 60.0, 179.0, 360.0]))
        rng_m = float(rng.choice([20.0, 150.0, 600.0, 1500.0]))
        db.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
            " status, geom) VALUES (:c, 'cam', :t, :a, :f, :r, 'online',"
            " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"c": f"{prefix}{i:03d}", "t": kind, "a": az, "f": fov, "r": rng_m,
             "x": float(lon), "y": float(lat)})
        for side in (-1, 1):
            for off, dist in ((fov / 2 - 0.05, rng_m * 0.999), (fov / 2 + 0.05, rng_m * 0.9),
                              (fov / 4, rng_m * 1.001)):
                x, y, _ = geod.fwd(lon, lat, az + side * off, dist)
                events.append((x, y))
    for j, (x, y) in enumerate(events):
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', now(),"
            " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0, true)"),
            {"c": f"{prefix}-e{j}", "x": float(x), "y": float(y)})


@pytest.mark.parametrize("subdivide", [False, True])
def test_camera_picks_match_the_numpy_oracle(
    db: Session, subdivide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL pre-filters (lon/lat box, approximate bearing) drop no covering camera: the
    stored picks equal an all-pairs geodesic computation, near the edges of every view too,
    at 40°N and at 53°N."""
    monkeypatch.setattr(assign_mod, "SUBDIVIDE_FROM_EVENTS", 0 if subdivide else 10**9)
    rng = np.random.default_rng(7)
    _random_cameras_and_events(db, rng, 113.30, 40.08, "9")
    _random_cameras_and_events(db, rng, 122.53, 52.97, "8")
    assign_events(db, "all", k=3)
    cams = db.execute(text(
        "SELECT code, camera_type, azimuth_deg, fov_deg, range_m, status, ST_X(geom) AS x,"
        " ST_Y(geom) AS y FROM cameras")).mappings().all()
    rows = db.execute(text(
        "SELECT client_id, ST_X(geom) AS x, ST_Y(geom) AS y, camera_codes"
        " FROM events_with_assignment")).mappings().all()
    c = {k: np.array([cam[k] for cam in cams]) for k in cams[0]}
    seen_at_view_edges = 0
    for row in rows:
        bearing, dist = geodesic_bearing_distance(c["x"], c["y"], np.full(len(cams), row["x"]),
                                                  np.full(len(cams), row["y"]))
        ok = covers(dist, c["range_m"], is_facing(bearing, c["azimuth_deg"], c["fov_deg"],
                                                  c["camera_type"]), c["status"])
        expected = sorted(zip(dist[ok], c["code"][ok], strict=True))[:3]
        assert row["camera_codes"] == [code for _, code in expected], row["client_id"]
        at_edge = int(row["client_id"].split("-e")[1]) >= 300
        seen_at_view_edges += at_edge and bool(expected)
    assert seen_at_view_edges > 50


def test_area_polygon_and_open_only(city_with_events: Session) -> None:
    db = city_with_events
    db.execute(text("UPDATE events SET status = 'closed' WHERE client_id = 'inside_g2_north'"))
    east_half = ("POLYGON((113.302 40.080,113.304 40.080,113.304 40.082,113.302 40.082,"
                 "113.302 40.080))")
    # on_shared_edge, on_shared_vertex touch the polygon; inside_g2_north is closed
    assert assign_events(db, "area", area_wkt=east_half, open_only=True).events == 2
    assert assign_events(db, "area", area_wkt=east_half).events == 3
    with pytest.raises(ValidationFailed, match="not a valid WKT"):
        assign_events(db, "area", area_wkt="POLYGON((0 0, 1 1")
    with pytest.raises(ValidationFailed, match="not both"):
        assign_events(db, "area", area_code=G2, area_wkt=east_half)
