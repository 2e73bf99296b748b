"""The in-memory engine of bulk assignment (geo.assign_memory, geo.assign_arrays) stores
exactly what the SQL steps of geo.assign store, and what /locate answers: on the named points
of the small city, on cameras of every kind with events just inside and outside the edges of
their views (40°N and 53°N), and on a scene with buildings hiding spots from cameras."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo.assign import assign_events
from geo.assign_memory import select_events
from geo.locate import locate
from geo.video.views import refresh_views
from tests.geo.test_assign import _random_cameras_and_events, city_with_events
from tests.geo.test_locate import G1, G2, SCHOOL
from tests.geo.video.test_locate_views import random_scene

__all__ = ["city_with_events"]  # the fixture, used by name

ROW = ("SELECT client_id, district_code, street_code, community_code, grid_code,"
       " micro_grid_code, dedicated_grid_codes, assignment, nearest_grid_code,"
       " nearest_distance_m, camera_codes FROM events_with_assignment ORDER BY client_id")


def _stored(db: Session) -> dict[str, tuple[object, ...]]:
    return {r[0]: tuple(r[1:]) for r in db.execute(text(ROW)).all()}


def _sql_then_memory(db: Session, monkeypatch: pytest.MonkeyPatch,
                     k: int = 3) -> tuple[dict[str, tuple[object, ...]],
                                          dict[str, tuple[object, ...]]]:
    """What the SQL steps store, then what the in-memory engine stores from scratch."""
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 10**9)
    assign_events(db, "all", k=k)
    by_sql = _stored(db)
    db.execute(text("DELETE FROM event_assignments"))
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    summary = assign_events(db, "all", k=k)
    assert summary.changed == summary.events == len(by_sql)
    assert list(summary.steps) == ["select", "inputs", "compute", "snap", "stage", "write"]
    return by_sql, _stored(db)


@pytest.mark.parametrize("k", [0, 1, 5])
def test_any_k_matches_the_sql_steps(
    city_with_events: Session, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    by_sql, in_memory = _sql_then_memory(city_with_events, monkeypatch, k=k)
    assert in_memory == by_sql
    assert max(len(row[9]) for row in in_memory.values()) == min(k, 2)


def test_named_points_match_the_sql_steps_exactly(
    city_with_events: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = city_with_events
    by_sql, in_memory = _sql_then_memory(db, monkeypatch)
    assert in_memory == by_sql
    edge, vertex = in_memory["on_shared_edge"], in_memory["on_shared_vertex"]
    assert edge[3] == G1 and vertex[4] == G1 + "01"
    assert in_memory["inside_g2_north"][4] == G2 + "02"
    assert in_memory["inside_g1_south"][5] == [SCHOOL]
    snapped, far = in_memory["point_just_outside"], in_memory["point_far_outside"]
    assert (snapped[6], snapped[3], snapped[4], snapped[7]) == ("snapped", G1, G1 + "01", G1)
    assert (far[6], far[3], far[2], far[7]) == ("unassigned", None, None, G1)
    assert in_memory["on_camera_spot"][9][0] == "14021300081310000001"
    assert in_memory["near_ptz"][9][0] == "14021300081310000002"


def test_rerun_in_memory_writes_nothing_then_only_what_changed(
    city_with_events: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = city_with_events
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    assert assign_events(db, "all").changed == 8
    assert assign_events(db, "all").changed == 0
    db.execute(text("UPDATE cameras SET status = 'offline' WHERE code = '14021300081310000001'"))
    changed = assign_events(db, "all")
    assert changed.changed == 2 and changed.events == 8
    assert assign_events(db, "area", area_code=G2).events == 3


def test_camera_edges_at_40_and_53_degrees_match_the_sql_steps(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    _random_cameras_and_events(db, rng, 113.30, 40.08, "9")
    _random_cameras_and_events(db, rng, 122.53, 52.97, "8")
    by_sql, in_memory = _sql_then_memory(db, monkeypatch)
    assert in_memory == by_sql
    assert sum(bool(row[9]) for row in in_memory.values()) > 300


def test_buildings_hide_the_same_spots_as_locate(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    spots = random_scene(db, np.random.default_rng(16))
    refresh_views(db)
    for j, spot in enumerate(spots):
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', now(),"
            " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0,"
            " true)"), {"c": f"e{j:03d}", "x": spot.x, "y": spot.y})
    by_sql, in_memory = _sql_then_memory(db, monkeypatch)
    assert in_memory == by_sql
    for j in range(0, len(spots), 7):
        r = locate(db, spots[j].x, spots[j].y, k=3)
        assert in_memory[f"e{j:03d}"][9] == [c.code for c in r.cameras], j


def test_selected_events_span_several_packed_values(db: Session) -> None:
    """Ids 2^24 apart come back in separate packed values (one per 2^24 ids, so no value
    reaches a bytea's 1 GB): every selected event is read, with its coordinates."""
    points = {7: (113.30, 40.08), 2**24 + 3: (113.31, 40.09), 3 * 2**24: (113.32, 40.10)}
    for event_id, (x, y) in points.items():
        db.execute(text(
            "INSERT INTO events (id, client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES (:id, :c, 'garbage',"
            " now(), 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0,"
            " 0, true)"), {"id": event_id, "c": f"packed-{event_id}", "x": x, "y": y})
    chosen = select_events(db, "e.client_id LIKE :p", {"p": "packed-%"})
    got = {int(i): (float(x), float(y)) for i, x, y in zip(chosen.ids, chosen.x, chosen.y,
                                                           strict=True)}
    assert got == points
    parts = db.execute(text("SELECT count(DISTINCT id >> 24) FROM events"
                            " WHERE client_id LIKE 'packed-%'")).scalar_one()
    assert parts == 3
