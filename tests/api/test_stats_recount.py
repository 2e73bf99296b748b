"""``/stats?level=grid`` equals a recount, in Python, of every kind of event: one in a
dedicated grid and an ordinary one, one on the edge of two grids, one snapped to the nearest
grid from outside every grid, one no grid takes, closed, rejected, postponed, reworked and
overdue cases. The figures and the grid's counts (geo.grid_counts.stored_grid_counts) count
each event and unit for its stored grid; the planner's counts (geo.grid_counts.grid_counts)
what each grid's shape covers, dedicated grids included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from geo.assign import assign_events, assign_units
from geo.grid_counts import COUNT_KINDS, grid_counts, stored_grid_counts
from tests.conftest import auth
from tests.geo.test_locate import G1, G2, SCHOOL, build_small_city

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
EVENTS = {  # name: lon, lat, status, reported days ago, closed days after, postponed, reworks
    "in_school_and_g1": (113.3010, 40.0808, "in_progress", 8, None, 1, 0),
    "in_school_closed": (113.3012, 40.0812, "closed", 6, 2, 0, 0),
    "on_g1_g2_edge": (113.3020, 40.0805, "dispatched", 1, None, 0, 0),
    "in_g2_closed_late": (113.3030, 40.0815, "closed", 9, 5, 0, 0),
    "in_g2_reworked": (113.3035, 40.0812, "closed", 8, 1, 0, 1),
    "in_g2_rejected": (113.3032, 40.0811, "rejected", 4, None, 0, 0),
    "snapped_to_g1": (113.2998, 40.0805, "reported", 2, None, 0, 0),
    "outside_every_grid": (113.2990, 40.0805, "resolved", 7, None, 0, 0),
}
OPEN = ("reported", "dispatched", "in_progress", "resolved")


def city_with_every_kind_of_event(db: Session) -> None:
    """The small city of tests/geo/test_locate.py with :data:`EVENTS`, assigned (due 3 days
    after the report, 3 more days per postponement), committed."""
    build_small_city(db)
    for name, (lon, lat, status, ago, closed, postponed, reworks) in EVENTS.items():
        reported = NOW - ago * DAY
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, due_at, closed_at, postponements, reworks, valid) VALUES"
            " (:c, 'garbage', :at, :s, 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326),"
            " 'grid', :due, :closed, :p, :r, :valid)"),
            {"c": name, "at": reported, "s": status, "x": lon, "y": lat, "p": postponed,
             "r": reworks, "due": reported + (3 + 3 * postponed) * DAY,
             "closed": None if closed is None else reported + closed * DAY,
             "valid": status != "rejected"})
    assign_events(db, "all")
    assign_units(db)
    db.commit()


def recounted_figures(db: Session, until: datetime) -> dict[str, dict[str, int]]:
    """The /stats figures per stored grid, counted here from the events' own columns."""
    rows = db.execute(text(
        "SELECT grid_code, status, valid, due_at, closed_at, postponements, reworks"
        " FROM events_with_assignment WHERE grid_code IS NOT NULL")).mappings().all()
    figures: dict[str, dict[str, int]] = {}
    for r in rows:
        due = r["valid"] and (r["due_at"] < until or r["status"] == "closed")
        closed = due and r["status"] == "closed"
        add = {"accepted": 1, "valid": int(r["valid"]),
               "handled": int(r["valid"] and r["status"] in ("resolved", "closed")),
               "due": int(due), "closed": int(closed),
               "closed_on_time": int(closed and r["closed_at"] <= r["due_at"]),
               "postponed": int(due and r["postponements"] > 0),
               "first_time": int(closed and r["reworks"] == 0)}
        unit = figures.setdefault(r["grid_code"], dict.fromkeys(add, 0))
        for k, v in add.items():
            unit[k] += v
    return figures


def _points(db: Session, sql: str) -> list[tuple[Any, shapely.Geometry]]:
    return [(r[0], shapely.from_wkb(r[1])) for r in db.execute(text(sql)).all()]


def covered_counts(db: Session, codes: list[str]) -> dict[str, dict[str, int]]:
    """Each grid's counts by its shape, recounted with shapely: the units whose point it
    covers (edges included), open events likewise, workers by their grid code."""
    shapes = dict(_points(db, "SELECT code, ST_AsBinary(geom) FROM grids"
                              " WHERE valid_to IS NULL"))
    events = _points(db, "SELECT status, ST_AsBinary(geom) FROM events")
    cameras = _points(db, "SELECT code, ST_AsBinary(geom) FROM cameras")
    sites = _points(db, "SELECT code, ST_AsBinary(geom) FROM sites")
    workers = [g for (g,) in db.execute(text("SELECT grid_code FROM workers")).all()]
    return {code: {
        "buildings": 0, "households": 0, "population": 0,  # the small city has none
        "sites": sum(shapes[code].covers(p) for _, p in sites),
        "cameras": sum(shapes[code].covers(p) for _, p in cameras),
        "workers": workers.count(code),
        "open_events": sum(s in OPEN and shapes[code].covers(p) for s, p in events),
    } for code in codes}


def stored_counts(db: Session, codes: list[str]) -> dict[str, dict[str, int]]:
    """Each grid's counts by the stored rule, recounted with shapely: a unit belongs to the
    lowest code of the current ordinary grids covering its point, an open event to its
    stored grid (snapped ones included), workers by their grid code."""
    ordinary = sorted(_points(db, "SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to"
                                  " IS NULL AND level = 'grid' AND kind <> 'dedicated'"),
                      key=lambda g: g[0])

    def owner(point: shapely.Geometry) -> str | None:
        return next((code for code, shape in ordinary if shape.covers(point)), None)

    owners = {table: [owner(p) for _, p in _points(
        db, f"SELECT code, ST_AsBinary(geom) FROM {table}")] for table in ("cameras", "sites")}
    open_grids = [g for (g,) in db.execute(text(
        "SELECT grid_code FROM events_with_assignment WHERE status IN :open").bindparams(
        bindparam("open", expanding=True)), {"open": list(OPEN)}).all()]
    workers = [g for (g,) in db.execute(text("SELECT grid_code FROM workers")).all()]
    return {code: {
        "buildings": 0, "households": 0, "population": 0,
        "sites": owners["sites"].count(code), "cameras": owners["cameras"].count(code),
        "workers": workers.count(code), "open_events": open_grids.count(code),
    } for code in codes}


def test_stats_equals_a_recount_of_every_kind_of_event(
        client: TestClient, keys: dict[str, str], db: Session) -> None:
    city_with_every_kind_of_event(db)
    until = NOW + timedelta(minutes=1)
    answer = client.get("/stats", params={"level": "grid", "until": until.isoformat()},
                        headers=auth(keys, "viewer"))
    assert answer.status_code == 200, answer.text
    units = {u["unit"]: u for u in answer.json()["units"]}
    assert sorted(units) == [G1, G2]  # the dedicated grid is no event's stored grid
    figures = recounted_figures(db, until)
    counts = stored_counts(db, [G1, G2])
    for code, unit in units.items():
        assert {k: unit[k] for k in figures[code]} == figures[code], code
        assert {k: unit[k] for k in COUNT_KINDS} == counts[code], code
    # the stored rule: G1 has the school's two, the edge one and the snapped one
    assert figures[G1] == {"accepted": 4, "valid": 4, "handled": 1, "due": 2, "closed": 1,
                           "closed_on_time": 1, "postponed": 1, "first_time": 1}
    assert figures[G2] == {"accepted": 3, "valid": 2, "handled": 2, "due": 2, "closed": 2,
                           "closed_on_time": 1, "postponed": 0, "first_time": 1}
    assert (counts[G1]["open_events"], counts[G2]["open_events"]) == (3, 0)
    # the shapes (planner map): the edge event is open in G1 and G2, the snapped one in none
    shapes = covered_counts(db, [G1, G2])
    assert (shapes[G1]["open_events"], shapes[G2]["open_events"]) == (2, 1)
    assert answer.json()["unattributed"] == 1  # outside every grid, beyond the snap


def test_a_dedicated_grid_counts_what_lies_in_it(db: Session) -> None:
    city_with_every_kind_of_event(db)
    counts = covered_counts(db, [SCHOOL, G1 + "02"])
    assert grid_counts(db, [SCHOOL, G1 + "02"]) == counts
    assert counts[SCHOOL] == {"buildings": 0, "households": 0, "population": 0, "sites": 1,
                              "cameras": 4, "workers": 0, "open_events": 1}
    assert stored_grid_counts(db, [SCHOOL]) == {SCHOOL: dict.fromkeys(COUNT_KINDS, 0)}
