"""Changesets: draft operations, preview, publish (versions, re-assignment, 409), history, undo."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import shapely
from shapely import wkb
from shapely.geometry import LineString, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, Forbidden, NotFound, ValidationFailed
from geo.planning import operations as ops
from geo.planning.changesets import draft_rows, list_changesets, open_changeset, publish
from geo.planning.history import changeset_diff, grid_history, grids_as_of, undo
from geo.planning.kernel import working_grid
from geo.planning.preview import preview
from geo.planning.validate import validate_area
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST, NEW = code(1), code(2), code(3)


def add_worker(db: Session, worker: str, grid: str) -> None:
    db.execute(text("INSERT INTO workers (code, name, role, grid_code) "
                    "VALUES (:w, :w, 'grid_worker', :g)"), {"w": worker, "g": grid})


def add_event(db: Session, client_id: str, x: float, y: float, status: str, grid: str) -> None:
    """An event at (x, y) (case metres) assigned (covered) to ``grid``."""
    event_id = db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, handling_level,"
        " postponements, reworks, valid, geom) VALUES (:c, 'garbage', now(), :s,"
        " 'normal', 'grid', 0, 0, true, ST_GeomFromText(:w, 4326)) RETURNING id"),
        {"c": client_id, "s": status, "w": cases.lonlat(shapely.Point(x, y)).wkt}).scalar_one()
    db.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                    " VALUES (:e, :g, 'covered')"), {"e": event_id, "g": grid})


@pytest.fixture
def town(db: Session) -> dict[str, Any]:
    """Two grids sharing an edge at x=100; buildings at x=50 (120 hh), 110 (80 hh),
    150 (200 hh); a worker per grid; an open and a closed event at x=110."""
    case = cases.two_grids_sharing_an_edge(db)
    for name, x, hh in (("B-west", 50, 120), ("B-edge", 110, 80), ("B-east", 150, 200)):
        cases.add_building(db, name, x, 50, hh)
    db.execute(text("UPDATE buildings SET grid_code = CASE WHEN code = 'B-west' THEN :w "
                    "ELSE :e END"), {"w": WEST, "e": EAST})
    add_worker(db, "W-west", WEST)
    add_worker(db, "W-east", EAST)
    add_event(db, "open-1", 110, 60, "reported", EAST)
    add_event(db, "closed-1", 110, 40, "closed", EAST)
    return case


def current(db: Session) -> dict[str, tuple[int, float]]:
    """Current grid code -> (version, area m²)."""
    rows = db.execute(text("SELECT code, version, ST_AsBinary(geom) FROM grids "
                           "WHERE valid_to IS NULL ORDER BY code")).all()
    return {c: (v, round(cases.metres(wkb.loads(bytes(g))).area, 1)) for c, v, g in rows}


def unit_grids(db: Session) -> dict[str, str]:
    rows = db.execute(text("SELECT code, grid_code FROM buildings UNION ALL "
                           "SELECT client_id, grid_code FROM events_with_assignment UNION ALL "
                           "SELECT code, grid_code FROM workers ORDER BY 1")).all()
    return dict(rows)  # type: ignore[arg-type]


def test_reshape_preview_publish_history_and_undo(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "new compound east of the edge", "planner-li").id
    changed = ops.reshape(db, cs, "planner-li", WEST, cases.geojson(box(0, 0, 120, 100)))
    assert changed == [WEST, EAST]
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
    assert current(db) == {WEST: (1, 10000.0), EAST: (1, 10000.0)}  # nothing published yet

    view = preview(db, cs)
    assert {g["code"]: (g["before"]["households"], g["after"]["households"])
            for g in view.grids} == {WEST: (120, 200), EAST: (280, 200)}
    assert [(t["kind"], t["from"], t["to"], t["count"]) for t in view.transfers] == [
        ("buildings", EAST, WEST, 1), ("open_events", EAST, WEST, 1)]
    assert view.balance["after"][COMMUNITY]["max_abs_deviation"] == pytest.approx(1 / 3, abs=1e-3)

    result = publish(db, cs, "planner-li")
    assert (result.closed, result.opened) == (2, 2)
    assert current(db) == {WEST: (2, 12000.0), EAST: (2, 8000.0)}
    assert unit_grids(db) == {"B-east": EAST, "B-edge": WEST, "B-west": WEST,
                              "W-east": EAST, "W-west": WEST,
                              "closed-1": EAST, "open-1": WEST}
    history = grid_history(db, WEST)
    assert [(h["version"], h["changeset_id"], h["area_m2"] > 11000) for h in history] == [
        (1, None, False), (2, cs, True)]
    assert history[0]["valid_to"] == history[1]["valid_from"]
    before = grids_as_of(db, COMMUNITY, result.published_at - timedelta(microseconds=1))
    assert [f["properties"]["version"] for f in before["features"]] == [1, 1]
    diff = changeset_diff(db, cs)
    assert [(f["properties"]["code"], f["properties"]["change"],
             f["properties"]["changed_m2"]) for f in diff["features"]] == [
        (WEST, "changed", pytest.approx(2000, rel=0.01)),
        (EAST, "changed", pytest.approx(2000, rel=0.01))]

    inverse = undo(db, cs, "planner-li")
    assert inverse.inverse_of == cs
    publish(db, inverse.id, "planner-li")
    assert current(db) == {WEST: (3, 10000.0), EAST: (3, 10000.0)}
    assert unit_grids(db)["B-edge"] == EAST
    assert unit_grids(db)["open-1"] == EAST


def test_split_by_line_creates_a_new_grid(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "split the east grid", "planner-li").id
    line = cases.geojson(LineString([(160, -10), (160, 110)]))
    assert ops.split_by_line(db, cs, "planner-li", EAST, line, NEW, "East 2") == [EAST, NEW]
    rows = {r["code"]: r for r in draft_rows(db, cs)}
    assert rows[NEW]["previous_code"] is None and rows[EAST]["previous_code"] == EAST
    publish(db, cs, "planner-li")
    assert current(db) == {WEST: (1, 10000.0), EAST: (2, 6000.0), NEW: (1, 4000.0)}
    assert unit_grids(db)["B-east"] == EAST  # x=150 stays in the larger part


def test_split_needs_a_line_crossing_the_grid(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "bad split", "planner-li").id
    short = cases.geojson(LineString([(160, 10), (160, 50)]))
    with pytest.raises(ValidationFailed, match="exactly two parts, not 1"):
        ops.split_by_line(db, cs, "planner-li", EAST, short, NEW)


def test_merge_retires_and_moves_workers(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "merge", "planner-li").id
    assert ops.merge(db, cs, "planner-li", [WEST, EAST]) == [WEST, EAST]
    view = preview(db, cs)
    assert {g["code"]: g["state"] for g in view.grids} == {WEST: "changed", EAST: "retired"}
    assert {g["code"]: g["after"]["workers"] for g in view.grids} == {WEST: 2, EAST: 0}
    publish(db, cs, "planner-li")
    assert current(db) == {WEST: (2, 20000.0)}
    assert set(unit_grids(db).values()) == {WEST, EAST}  # only the closed event keeps EAST
    assert unit_grids(db)["closed-1"] == EAST
    end = db.execute(text("SELECT end_date IS NOT NULL FROM grids WHERE code = :c"),
                     {"c": EAST}).scalar()
    assert end is True
    # a retired code is never reused for a new grid
    cs2 = open_changeset(db, COMMUNITY, "split again", "planner-li").id
    line = cases.geojson(LineString([(100, -10), (100, 110)]))
    with pytest.raises(ValidationFailed, match="never reused"):
        ops.split_by_line(db, cs2, "planner-li", WEST, line, EAST)


def test_merge_refuses_grids_that_do_not_touch(db: Session) -> None:
    cases.community(db, width=300)
    for i in range(3):
        cases.add_grid(db, code(i + 1), box(100 * i, 0, 100 * (i + 1), 100))
    cs = open_changeset(db, COMMUNITY, "merge far apart", "planner-li").id
    with pytest.raises(ValidationFailed, match="one connected area"):
        ops.merge(db, cs, "planner-li", [code(1), code(3)])


def test_publish_conflicts_when_the_data_changed_since_the_draft(
        db: Session, town: dict[str, Any]) -> None:
    first = open_changeset(db, COMMUNITY, "first redraw", "planner-li").id
    second = open_changeset(db, COMMUNITY, "second redraw", "planner-wang").id
    ops.reshape(db, first, "planner-li", WEST, cases.geojson(box(0, 0, 120, 100)))
    ops.reshape(db, second, "planner-wang", WEST, cases.geojson(box(0, 0, 80, 100)))
    publish(db, first, "planner-li")
    with pytest.raises(Conflict) as err:
        publish(db, second, "planner-wang")
    assert f"by changeset {first} ('first redraw' by planner-li)" in err.value.message
    assert {d["changeset"] for d in err.value.details} == {first}
    assert current(db) == {WEST: (2, 12000.0), EAST: (2, 8000.0)}


def test_publish_refuses_a_draft_that_opens_a_gap(db: Session) -> None:
    cases.community(db)
    cases.add_grid(db, code(1), box(0, 0, 200, 100))
    cs = open_changeset(db, COMMUNITY, "shrink", "planner-li").id
    ops.reshape(db, cs, "planner-li", code(1), cases.geojson(box(0, 0, 190, 100)))
    with pytest.raises(ValidationFailed) as err:
        publish(db, cs, "planner-li")
    assert [(d["kind"], d["area_m2"]) for d in err.value.details] == [
        ("gap", pytest.approx(1000, abs=0.5))]
    assert current(db) == {code(1): (1, 20000.0)}


def test_drafts_are_editable_by_their_author_only(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "mine", "planner-li").id
    with pytest.raises(Forbidden):
        ops.reshape(db, cs, "planner-wang", WEST, cases.geojson(box(0, 0, 120, 100)))
    ops.rename(db, cs, "planner-wang", WEST, new_name="West", admin=True)
    publish(db, cs, "planner-li")
    with pytest.raises(Conflict, match="published, not a draft"):
        ops.rename(db, cs, "planner-li", WEST, new_name="again")
    assert [c["status"] for c in list_changesets(db, COMMUNITY)] == ["published"]


def test_rename_moves_workers_and_micro_grids(db: Session, town: dict[str, Any]) -> None:
    cases.add_grid(db, code(1, WEST), box(0, 0, 50, 100), parent=WEST)
    cases.add_grid(db, code(2, WEST), box(50, 0, 100, 100), parent=WEST)
    cs = open_changeset(db, COMMUNITY, "renumber", "planner-li").id
    renamed = ops.rename(db, cs, "planner-li", WEST, new_code=code(9))
    assert renamed == sorted([WEST, code(9), code(1, WEST), code(2, WEST)])
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
    publish(db, cs, "planner-li")
    assert sorted(current(db)) == sorted([code(9), EAST, code(1, code(9)), code(2, code(9))])
    assert unit_grids(db)["W-west"] == code(9)


def test_create_and_retire(db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "school grid", "planner-li").id
    changed = ops.create(db, cs, "planner-li", NEW, "School", COMMUNITY,
                         cases.geojson(box(80, 0, 120, 100)))
    assert changed == [WEST, EAST, NEW]
    assert validate_area(db, COMMUNITY, changeset_id=cs).ok
    ops.retire(db, cs, "planner-li", NEW, successor=EAST)  # new in this draft: just dropped
    assert {r["code"] for r in draft_rows(db, cs)} == {WEST, EAST}
    with pytest.raises(NotFound):
        working_grid(db, cs, NEW)


def test_unknown_area_and_empty_reason(db: Session) -> None:
    with pytest.raises(NotFound):
        open_changeset(db, "999", "x", "planner-li")
    cases.community(db)
    with pytest.raises(ValidationFailed):
        open_changeset(db, COMMUNITY, "  ", "planner-li")


def test_operations_stay_inside_the_changesets_area(db: Session, town: dict[str, Any]) -> None:
    cases.add_area(db, cases.NEIGHBOUR_COMMUNITY, "community", cases.STREET,
                   box(0, 100, 200, 200))
    other = code(1, cases.NEIGHBOUR_COMMUNITY)
    cases.add_grid(db, other, box(0, 100, 200, 200), parent=cases.NEIGHBOUR_COMMUNITY)
    cs = open_changeset(db, COMMUNITY, "mine", "planner-li").id
    with pytest.raises(ValidationFailed, match="outside the changeset's area"):
        ops.rename(db, cs, "planner-li", other, new_name="not mine")


def test_undo_of_a_merge_brings_the_grid_and_its_workers_back(
        db: Session, town: dict[str, Any]) -> None:
    cs = open_changeset(db, COMMUNITY, "merge", "planner-li").id
    ops.merge(db, cs, "planner-li", [WEST, EAST])
    result = publish(db, cs, "planner-li")
    assert result.reassigned["workers"] == 1
    assert unit_grids(db)["W-east"] == WEST
    inverse = undo(db, cs, "planner-li")
    assert {r["code"]: (r["action"], r["previous_code"]) for r in draft_rows(db, inverse.id)} == {
        WEST: ("put", WEST), EAST: ("put", None)}
    publish(db, inverse.id, "planner-li")
    assert current(db) == {WEST: (3, 10000.0), EAST: (2, 10000.0)}
    assert unit_grids(db)["W-east"] == EAST
    assert unit_grids(db)["B-east"] == EAST


def test_drafts_touching_other_grids_publish_one_after_the_other(db: Session) -> None:
    cases.community(db, width=300)
    for i in range(3):
        cases.add_grid(db, code(i + 1), box(100 * i, 0, 100 * (i + 1), 100))
    first = open_changeset(db, COMMUNITY, "west edge", "planner-li").id
    second = open_changeset(db, COMMUNITY, "rename the east grid", "planner-wang").id
    ops.reshape(db, first, "planner-li", code(1), cases.geojson(box(0, 0, 110, 100)))
    ops.rename(db, second, "planner-wang", code(3), new_name="East")
    publish(db, first, "planner-li")
    publish(db, second, "planner-wang")  # grid 003 was not touched by the first
    assert current(db) == {code(1): (2, pytest.approx(11000, abs=0.5)),  # 1 mm snap-rounding
                           code(2): (2, pytest.approx(9000, abs=0.5)), code(3): (2, 10000.0)}


def test_publish_reassigns_open_events_only(db: Session, town: dict[str, Any]) -> None:
    db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, handling_level,"
        " postponements, reworks, valid, geom) VALUES ('never-assigned', 'garbage', now(),"
        " 'reported', 'normal', 'grid', 0, 0, true, ST_GeomFromText(:w, 4326))"),
        {"w": cases.lonlat(shapely.Point(110, 70)).wkt})
    cs = open_changeset(db, COMMUNITY, "new compound east of the edge", "planner-li").id
    ops.reshape(db, cs, "planner-li", WEST, cases.geojson(box(0, 0, 120, 100)))
    result = publish(db, cs, "planner-li")
    assert result.reassigned["events"] == 2  # open-1 moved, never-assigned assigned
    # closed-1 is history: it stays with the grid that handled it
    rows = db.execute(text(
        "SELECT client_id, grid_code, assignment FROM events_with_assignment"
        " WHERE client_id IN ('closed-1', 'never-assigned', 'open-1') ORDER BY client_id")).all()
    assert [tuple(r) for r in rows] == [("closed-1", EAST, "covered"),
                                        ("never-assigned", WEST, "covered"),
                                        ("open-1", WEST, "covered")]


def test_a_dedicated_grid_is_reshaped_alone(db: Session, town: dict[str, Any]) -> None:
    """A school (dedicated grid 901) overlapping both ordinary grids grows: they keep theirs."""
    school = code(901)
    cases.add_grid(db, school, box(80, 20, 120, 60), kind="dedicated")
    cs = open_changeset(db, COMMUNITY, "school extension", "planner-li").id
    changed = ops.reshape(db, cs, "planner-li", school, cases.geojson(box(80, 20, 140, 60)))
    assert changed == [school]
    assert [r["code"] for r in draft_rows(db, cs)] == [school]
    publish(db, cs, "planner-li")
    assert current(db)[school] == (2, 2400.0)
    assert current(db)[WEST] == (1, 10000.0) and current(db)[EAST] == (1, 10000.0)
