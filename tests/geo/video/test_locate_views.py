"""/locate and bulk assignment with occlusion: ``blocked_by``, pan/tilt/zoom and the fixed
camera's offset against hand-computed values, and the same camera answer from
geo.locate and geo.assign on random scenes with buildings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import assign_events
from geo.cameras import geodesic_bearing_distance
from geo.events import AlarmIn, alarm_payload, raise_alarm
from geo.locate import locate
from geo.video.views import refresh_views
from tests.geo.video.scene import add_building, add_camera, at, footprint

NORTH = "14021300081310000001"
PTZ = "14021300081320000002"
SIDE = "14021300081310000003"


def scene(db: Session) -> None:
    """``NORTH``: fixed, at the origin, facing north, 90°, 100 m, 6 m high; ``B_FRONT``
    (no height) 20-30 m north of it; ``PTZ``: 30 m east, 10 m high, 150 m reach."""
    add_camera(db, NORTH, at(0, 0))
    add_camera(db, PTZ, at(30, 0), kind="ptz", fov=360.0, range_m=150.0, height_m=10.0)
    add_building(db, "B_FRONT", footprint(-5, 20, 5, 30))
    refresh_views(db)


def hits(db: Session, spot: Point) -> dict[str, object]:
    r = locate(db, spot.x, spot.y, k=3)
    return {c.code: c for c in r.cameras + r.other_cameras}


def test_blocked_camera_names_the_building(db: Session) -> None:
    scene(db)
    behind = at(0, 50)
    r = locate(db, behind.x, behind.y, k=3)
    assert [c.code for c in r.cameras] == [PTZ]
    (north,) = [c for c in r.other_cameras if c.code == NORTH]
    assert (north.reason, north.blocked_by, north.facing) == ("blocked", "B_FRONT", True)
    in_front = hits(db, at(0, 10))[NORTH]
    assert (in_front.reason, in_front.blocked_by) == (None, None)  # type: ignore[attr-defined]


def test_ptz_pan_tilt_zoom_against_hand_computed_values(db: Session) -> None:
    scene(db)
    spot = at(0, 50)
    ptz = hits(db, spot)[PTZ]
    cam = at(30, 0)
    bearing, distance = geodesic_bearing_distance(cam.x, cam.y, spot.x, spot.y)
    assert float(distance) == pytest.approx(math.hypot(30, 50), rel=1e-3)  # 58.31 m
    assert ptz.pan_deg == pytest.approx(float(bearing), abs=1e-9)  # type: ignore[attr-defined]
    # grid bearing 329.04° (atan2(-30, 50)), true bearing ~0.45° less near 113.3°E
    assert float(bearing) == pytest.approx(329.04 - 0.45, abs=0.2)
    assert ptz.tilt_deg == pytest.approx(-math.degrees(math.atan2(10, float(distance))),  # type: ignore[attr-defined]
                                         abs=1e-9)
    assert ptz.tilt_deg == pytest.approx(-9.73, abs=0.02)  # type: ignore[attr-defined]
    # 60° lens, 20x: frame 10 m at 58.3 m needs 9.80°, zoom tan 30° / tan 4.90° = 6.73
    assert ptz.zoom == pytest.approx(6.73, abs=0.01)  # type: ignore[attr-defined]
    assert ptz.offset_deg is None  # type: ignore[attr-defined]
    assert ptz.scene_width_m == pytest.approx(2 * float(distance) * math.tan(  # type: ignore[attr-defined]
        math.radians(1.5)), rel=1e-9)


def test_fixed_camera_offset_from_the_image_centre(db: Session) -> None:
    scene(db)
    spot = at(20, 40)  # right of the north camera's axis
    north = hits(db, spot)[NORTH]
    cam = at(0, 0)
    bearing, _ = geodesic_bearing_distance(cam.x, cam.y, spot.x, spot.y)
    assert north.offset_deg == pytest.approx(float(bearing), abs=1e-9)  # type: ignore[attr-defined]
    assert north.offset_deg == pytest.approx(26.57 - 0.45, abs=0.2)  # type: ignore[attr-defined]
    assert (north.pan_deg, north.tilt_deg, north.zoom) == (None, None, None)  # type: ignore[attr-defined]
    left = hits(db, at(-20, 40))[NORTH]
    assert left.offset_deg == pytest.approx(-26.57 - 0.45, abs=0.2)  # type: ignore[attr-defined]


def test_very_close_ptz_zooms_out_and_looks_down(db: Session) -> None:
    scene(db)
    ptz = hits(db, at(31, 0))[PTZ]
    assert ptz.zoom == pytest.approx(1.0)  # type: ignore[attr-defined]
    assert ptz.tilt_deg == pytest.approx(-84.3, abs=0.1)  # type: ignore[attr-defined]


def random_scene(db: Session, rng: np.random.Generator) -> list[Point]:
    """30 cameras of every kind and 60 buildings (some with floors) in a 400 m square, and
    400 spots there."""
    for i in range(60):
        x, y = rng.uniform(-200, 200, 2)
        w, h = rng.uniform(5, 30, 2)
        floors = None if i % 3 == 0 else int(rng.integers(1, 8))
        add_building(db, f"B{i:02d}", footprint(x, y, x + w, y + h), floors=floors)
    for i in range(30):
        kind = ("fixed", "dome", "ptz")[i % 3]
        add_camera(db, f"1402130008131{i:07d}", at(*rng.uniform(-200, 200, 2)), kind=kind,
                   azimuth=float(rng.uniform(0, 360)),
                   fov=360.0 if kind == "ptz" else float(rng.uniform(40, 120)),
                   range_m=float(rng.uniform(50, 150)), height_m=float(rng.uniform(2, 12)),
                   status="offline" if i % 10 == 9 else "online")
    return [at(*rng.uniform(-200, 200, 2)) for _ in range(400)]


def test_bulk_assignment_and_locate_agree_with_buildings(db: Session) -> None:
    spots = random_scene(db, np.random.default_rng(16))
    refresh_views(db)
    for j, spot in enumerate(spots):
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', now(),"
            " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0,"
            " true)"), {"c": f"e{j}", "x": spot.x, "y": spot.y})
    assign_events(db, "all", k=3)
    stored = {r.client_id: list(r.camera_codes) for r in db.execute(text(
        "SELECT client_id, camera_codes FROM events_with_assignment"))}
    blocked = 0
    for j, spot in enumerate(spots):
        r = locate(db, spot.x, spot.y, k=3)
        assert stored[f"e{j}"] == [c.code for c in r.cameras], j
        blocked += sum(c.reason == "blocked" for c in r.other_cameras)
    assert blocked > 20


def test_alarm_sends_only_the_cameras_that_see_with_their_commands(db: Session) -> None:
    scene(db)
    behind = at(0, 50)
    event, where = raise_alarm(db, "W-1", AlarmIn(lon=behind.x, lat=behind.y))
    payload = json.loads(alarm_payload(event, where))
    assert [c["code"] for c in payload["cameras"]] == [PTZ]
    ptz = payload["cameras"][0]
    assert ptz["tilt_deg"] == pytest.approx(-9.73, abs=0.02)
    assert ptz["zoom"] == pytest.approx(6.73, abs=0.01) and ptz["offset_deg"] is None
