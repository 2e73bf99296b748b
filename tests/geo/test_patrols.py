"""Patrol tasks on the named case of tests/geo/patrol_city.py: rules, generation (idempotent),
assignment, check-in distance, overdue counts and the day's route."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, NotFound, ValidationFailed
from geo.patrols.checkins import CheckinIn, check_in
from geo.patrols.overdue import overdue_grids, patrol_stats
from geo.patrols.route import day_route
from geo.patrols.rules import delete_rule, list_rules, put_rule
from geo.patrols.tasks import generate_tasks, period_of
from geo.settings import Settings
from tests.geo.patrol_city import (
    GRID_1,
    GRID_2,
    MICRO_1,
    MICRO_2,
    WEDNESDAY,
    at,
    geodesic_m,
    school_grid_and_market_grid,
    task_id,
)

TUESDAY = date(2026, 12, 8)


def _tasks(db: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT unit_code, frequency, period_start, due_date, grid_code, micro_grid_code, "
        "worker_code FROM patrol_tasks ORDER BY unit_code, period_start"))]


def test_default_rules() -> None:
    assert period_of(WEDNESDAY, "daily") == (WEDNESDAY, WEDNESDAY)
    assert period_of(WEDNESDAY, "weekly") == (date(2026, 12, 7), date(2026, 12, 13))
    assert period_of(WEDNESDAY, "monthly") == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_of(date(2028, 2, 10), "monthly") == (date(2028, 2, 1), date(2028, 2, 29))


def test_rules_are_seeded_and_editable(db: Session) -> None:
    assert [(r["layer"], r["category"], r["frequency"]) for r in list_rules(db)] == [
        ("sites", "kindergarten", "daily"), ("sites", "old_compound", "weekly"),
        ("sites", "primary_school", "daily"), ("sites", "school", "daily"),
        ("buildings", "*", "monthly")]
    put_rule(db, "sites", "market", "weekly")
    put_rule(db, "sites", "old_compound", "daily")
    delete_rule(db, "sites", "school")
    assert {(r["category"], r["frequency"]) for r in list_rules(db)} >= {
        ("market", "weekly"), ("old_compound", "daily")}
    assert "school" not in {r["category"] for r in list_rules(db)}


def test_bad_rules_name_the_field(db: Session) -> None:
    with pytest.raises(ValidationFailed) as bad:
        put_rule(db, "buildings", "tall", "monthly")
    assert bad.value.details == [{"field": "category", "value": "tall", "allowed": ["*"]}]
    with pytest.raises(ValidationFailed) as bad:
        put_rule(db, "roads", "*", "daily")
    assert bad.value.details[0]["field"] == "layer"
    with pytest.raises(ValidationFailed) as bad:
        put_rule(db, "sites", "market", "hourly")
    assert bad.value.details[0] == {"field": "frequency", "value": "hourly",
                                    "allowed": ["daily", "weekly", "monthly"]}
    with pytest.raises(NotFound):
        delete_rule(db, "sites", "market")


def test_generation_is_idempotent_and_assigns_the_grid_workers(db: Session) -> None:
    school_grid_and_market_grid(db)
    first = generate_tasks(db, WEDNESDAY)
    assert (first.created, first.existed, first.outside) == (4, 0, 1)  # B-OUT: no grid
    again = generate_tasks(db, WEDNESDAY)
    assert (again.created, again.existed, again.outside) == (0, 4, 1)
    assert _tasks(db) == [
        ("B1", "monthly", date(2026, 12, 1), date(2026, 12, 31), GRID_1, MICRO_1, "W-WORK"),
        ("B2", "monthly", date(2026, 12, 1), date(2026, 12, 31), GRID_2, None, "W-2L"),
        ("S-OLD", "weekly", date(2026, 12, 7), date(2026, 12, 13), GRID_1, MICRO_2, "W-WORK"),
        ("S-SCHOOL", "daily", WEDNESDAY, WEDNESDAY, GRID_1, MICRO_1, "W-WORK")]
    thursday = generate_tasks(db, date(2026, 12, 10))  # only the school's day is new
    assert (thursday.created, thursday.existed) == (1, 3)


def test_generation_by_area_and_helper_when_no_full_time_worker(db: Session) -> None:
    school_grid_and_market_grid(db)
    db.execute(text("DELETE FROM workers WHERE code = 'W-WORK'"))
    made = generate_tasks(db, WEDNESDAY, area=GRID_1)
    assert (made.created, made.existed) == (3, 0)
    assert {(u, w) for u, *_, w in _tasks(db)} == {
        ("B1", "W-LEAD"), ("S-OLD", "W-HELP"), ("S-SCHOOL", "W-LEAD")}


def test_checkin_200_m_away_is_refused_with_its_distance(db: Session) -> None:
    school_grid_and_market_grid(db)
    generate_tasks(db, WEDNESDAY)
    school = task_id(db, "S-SCHOOL", WEDNESDAY)
    lon, lat = at(250, 50)  # 200 m east of the school
    with pytest.raises(ValidationFailed) as far:
        check_in(db, school, CheckinIn(lon=lon, lat=lat), "W-WORK")
    expected = round(geodesic_m((lon, lat), at(50, 50)), 1)
    assert expected == pytest.approx(200.0, abs=0.1)
    assert far.value.details == [{"task": school, "layer": "sites", "unit": "S-SCHOOL",
                                  "field": "lon/lat", "distance_m": expected, "radius_m": 50.0}]
    assert f"{expected:.1f} m from 向阳小学 (S-SCHOOL)" in far.value.message
    assert db.execute(text("SELECT count(*) FROM patrol_checkins")).scalar_one() == 0


def test_checkin_within_the_radius_is_stored_once(db: Session) -> None:
    school_grid_and_market_grid(db)
    generate_tasks(db, WEDNESDAY)
    school = task_id(db, "S-SCHOOL", WEDNESDAY)
    lon, lat = at(50, 80)  # 30 m north of the school
    done = check_in(db, school, CheckinIn(lon=lon, lat=lat), "W-WORK")
    assert done["distance_m"] == pytest.approx(geodesic_m((lon, lat), at(50, 50)), abs=0.01)
    assert round(done["distance_m"]) == 30 and done["checked_in_at"] is not None
    with pytest.raises(Conflict):
        check_in(db, school, CheckinIn(lon=lon, lat=lat), "W-WORK")
    with pytest.raises(ValidationFailed):  # 30 m is too far with a 20 m radius
        check_in(db, task_id(db, "B1", date(2026, 12, 1)), CheckinIn(lon=lon, lat=lat),
                 "W-WORK", Settings(patrol_checkin_radius_m=20.0))


def test_overdue_counts_per_grid(db: Session) -> None:
    school_grid_and_market_grid(db)
    generate_tasks(db, TUESDAY)  # the school's Tuesday task: never checked in
    generate_tasks(db, WEDNESDAY)
    lon, lat = at(300, 55)
    check_in(db, task_id(db, "B2", date(2026, 12, 1)), CheckinIn(lon=lon, lat=lat), "W-2L")
    rows = patrol_stats(db, WEDNESDAY)
    assert [(r["grid_code"], r["due"], r["done"], r["open"], r["overdue"]) for r in rows] == [
        (GRID_1, 3, 0, 3, 1), (GRID_2, 1, 1, 0, 0)]
    assert patrol_stats(db, TUESDAY, area=GRID_2)[0]["overdue"] == 0
    assert [(g["grid_code"], g["overdue"]) for g in overdue_grids(db, WEDNESDAY)] == [
        (GRID_1, 1)]
    after_week = patrol_stats(db, date(2026, 12, 14))  # Tuesday, Wednesday and the week
    assert [(r["grid_code"], r["overdue"]) for r in after_week] == [(GRID_1, 3), (GRID_2, 0)]


def test_the_days_route_walks_the_due_units_in_order(db: Session) -> None:
    school_grid_and_market_grid(db)
    generate_tasks(db, TUESDAY)
    generate_tasks(db, WEDNESDAY)
    route = day_route(db, GRID_1, WEDNESDAY)
    # westernmost first: B1 (20, 20), the school (50, 50, due today and overdue from
    # Tuesday: one stop), the old compound (150, 50)
    assert [(s["order"], s["code"], s["overdue"]) for s in route.stops] == [
        (1, "B1", False), (2, "S-SCHOOL", True), (3, "S-OLD", False)]
    assert [round(s["leg_m"]) for s in route.stops] == [0, 42, 100]
    assert route.length_m == pytest.approx(142.4, abs=0.2)
    assert route.stops[1]["frequencies"] == ["daily"] and len(route.stops[1]["task_ids"]) == 2
    assert [s["code"] for s in day_route(db, MICRO_2, WEDNESDAY).stops] == ["S-OLD"]
    with pytest.raises(NotFound):
        day_route(db, "140213001001999", WEDNESDAY)
