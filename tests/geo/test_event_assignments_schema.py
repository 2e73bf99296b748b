"""The event_assignments table and the events_with_assignment view (migration 0003).

Events here are bare rows (no grids needed): ``reported_event`` inserts one and returns its
id; ``covered_by`` gives it an assignment row.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.event_assignments import write_one
from geo.events import EventFilter, get_event, list_events
from geo.locate import LocateResult, Ref

ASSIGNMENT_COLUMNS = ("district_code", "street_code", "community_code", "grid_code",
                      "micro_grid_code", "dedicated_grid_codes", "assignment",
                      "nearest_grid_code", "nearest_distance_m", "camera_codes", "assigned_at")
GRID = "140213001001001"
CATEGORY = "schema-test"
"""The category of every event made here, so filters see only this module's events."""


def reported_event(db: Session, client_id: str) -> int:
    """A reported :data:`CATEGORY` event at (113.301, 40.0808), never assigned; its id."""
    return int(db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES (:c, :k, now(),"
        " 'reported', 'normal', ST_SetSRID(ST_MakePoint(113.301, 40.0808), 4326), 'grid',"
        " 0, 0, true) RETURNING id"), {"c": client_id, "k": CATEGORY}).scalar_one())


def covered_by(db: Session, event_id: int, grid: str) -> None:
    db.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                    " VALUES (:e, :g, 'covered')"), {"e": event_id, "g": grid})


def assignment_rows(db: Session, event_id: int) -> list[Any]:
    return list(db.execute(text(
        "SELECT grid_code, assignment, camera_codes FROM event_assignments"
        " WHERE event_id = :e"), {"e": event_id}).all())


def test_deleting_events_deletes_their_assignments(db: Session) -> None:
    kept, deleted, never = (reported_event(db, c) for c in ("kept", "deleted", "never"))
    covered_by(db, kept, GRID)
    covered_by(db, deleted, GRID)
    assert assignment_rows(db, deleted) == [(GRID, "covered", [])]
    db.execute(text("DELETE FROM events WHERE id = ANY(:ids)"), {"ids": [deleted, never]})
    assert assignment_rows(db, deleted) == []
    assert assignment_rows(db, kept) == [(GRID, "covered", [])]


def test_assignment_outside_the_check_is_refused(db: Session) -> None:
    event_id = reported_event(db, "bad-assignment")
    with pytest.raises(IntegrityError, match="ck_event_assignments_assignment"):
        with db.begin_nested():
            db.execute(text("INSERT INTO event_assignments (event_id, assignment)"
                            " VALUES (:e, 'guessed')"), {"e": event_id})
    assert assignment_rows(db, event_id) == []


def test_write_assignment_of_a_missing_event_is_refused(db: Session) -> None:
    missing = reported_event(db, "gone")
    db.execute(text("DELETE FROM events WHERE id = :e"), {"e": missing})
    where = LocateResult(lon=113.301, lat=40.0808, assignment="covered", snapped=False,
                         grid=Ref(code=GRID, name="一网格"))
    with pytest.raises(NotFound, match=f"no event {missing}"):
        write_one(db, missing, where)
    assert assignment_rows(db, missing) == []


def test_view_gives_null_assignment_for_a_never_assigned_event(db: Session) -> None:
    event_id = reported_event(db, "never-assigned")
    row = db.execute(text("SELECT * FROM events_with_assignment WHERE id = :e"),
                     {"e": event_id}).mappings().one()
    assert {c: row[c] for c in ASSIGNMENT_COLUMNS} == dict.fromkeys(ASSIGNMENT_COLUMNS)
    assert (row["client_id"], row["status"]) == ("never-assigned", "reported")
    event = get_event(db, event_id)
    assert (event["grid_code"], event["assignment"], event["camera_codes"]) == (
        None, None, None)


def test_list_filters_read_the_assignment_table(db: Session) -> None:
    assigned, never = reported_event(db, "assigned"), reported_event(db, "never")
    covered_by(db, assigned, GRID)
    rows, total = list_events(db, EventFilter(category=CATEGORY, area=GRID))
    assert ([r["id"] for r in rows], total) == ([assigned], 1)
    rows, total = list_events(db, EventFilter(category=CATEGORY, assignment="covered"))
    assert ([r["id"] for r in rows], total) == ([assigned], 1)
    rows, total = list_events(db, EventFilter(category=CATEGORY))
    assert (sorted(r["id"] for r in rows), total) == (sorted([assigned, never]), 2)


def test_write_assignment_inserts_then_replaces_one_row(db: Session) -> None:
    event_id = reported_event(db, "re-assigned")
    unassigned = LocateResult(lon=113.301, lat=40.0808, assignment="unassigned", snapped=False,
                              nearest_grid=Ref(code=GRID, name="一网格"),
                              nearest_distance_m=42.5)
    write_one(db, event_id, unassigned)
    assert assignment_rows(db, event_id) == [(None, "unassigned", [])]
    covered = LocateResult(lon=113.301, lat=40.0808, assignment="covered", snapped=False,
                           community=Ref(code=GRID[:12], name="振华南街社区"),
                           grid=Ref(code=GRID, name="一网格"),
                           micro_grid=Ref(code=GRID + "01", name="一网格南"))
    write_one(db, event_id, covered)
    event = get_event(db, event_id)
    assert (event["community_code"], event["grid_code"], event["micro_grid_code"],
            event["assignment"], event["nearest_grid_code"], event["nearest_distance_m"],
            event["camera_codes"]) == (GRID[:12], GRID, GRID + "01", "covered", None, None, [])
    assert event["assigned_at"] is not None
    assert len(assignment_rows(db, event_id)) == 1


def _chain(db: Session, event_id: int, grid: str, micro: str | None) -> None:
    db.execute(text(
        "INSERT INTO event_assignments (event_id, district_code, street_code, community_code,"
        " grid_code, micro_grid_code, assignment) VALUES (:e, left(:g, 6), left(:g, 9),"
        " left(:g, 12), :g, :m, 'covered')"), {"e": event_id, "g": grid, "m": micro})


def test_area_filter_is_exact_at_every_level(db: Session) -> None:
    """Grid codes of 14 and 15 digits in one community: the 14-digit one is a prefix of the
    other, yet filtering by it must not return the other grid's events; micro-grid codes
    (grid + suffix) find their events through the grid-code index too."""
    short, long_ = "14021300100101", "140213001001012"
    _chain(db, reported_event(db, "in-short"), short, short + "01")
    _chain(db, reported_event(db, "in-long"), long_, long_ + "01")
    _chain(db, reported_event(db, "elsewhere"), "140213002001001", None)

    def ids(area: str) -> list[str]:
        rows, _ = list_events(db, EventFilter(area=area, category=CATEGORY))
        return sorted(r["client_id"] for r in rows)

    assert ids(short) == ["in-short"]
    assert ids(long_) == ["in-long"]
    assert ids(short + "01") == ["in-short"]
    assert ids(long_ + "01") == ["in-long"]
    assert ids("140213001001") == ["in-long", "in-short"]
    assert ids("140213001") == ["in-long", "in-short"]
    assert ids("140213") == ["elsewhere", "in-long", "in-short"]
    assert ids("1402130010010") == []  # not a code of any level: no prefix match
    assert ids("14021300100%") == []  # LIKE wildcards are escaped


def test_area_filter_uses_the_grid_code_index(db: Session) -> None:
    from geo.events import AREA_FILTER
    db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(r[0] for r in db.execute(text(
        "EXPLAIN SELECT event_id FROM event_assignments WHERE " + AREA_FILTER),
        {"area": GRID, "area_prefix": GRID + "%", "area_grids": [GRID[:14]]}))
    assert "ix_event_assignments_grid_code" in plan
