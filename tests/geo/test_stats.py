"""Statistics and the assessment score (geo.stats) on hand-made event histories."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.settings import Settings
from geo.stats import stats_csv, unit_stats, unit_stats_per_period

SINCE, UNTIL = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
GRID_A, GRID_B = "140213001001001", "140213001001002"

# client_id, grid, status, valid, due, closed_at, postponements, reworks, department
HISTORY = [
    ("closed_on_time", GRID_A, "closed", True, "10-05", "10-04", 0, 0, None),
    ("closed_late_after_rework", GRID_A, "closed", True, "10-05", "10-07", 0, 1, None),
    ("postponed_then_closed", GRID_A, "closed", True, "10-10", "10-09", 1, 0, None),
    ("overdue_open", GRID_A, "in_progress", True, "10-20", None, 0, 0, "城管局"),
    ("not_yet_due", GRID_A, "dispatched", True, "11-15", None, 0, 0, None),
    ("rejected", GRID_A, "rejected", False, "10-05", None, 0, 0, None),
    ("other_grid", GRID_B, "resolved", True, "10-05", None, 0, 0, None),
]


def assign(db: Session, event_id: int, grid: str, community: str | None = None) -> None:
    """Give event ``event_id`` a covered assignment to ``grid`` (and ``community``)."""
    db.execute(text(
        "INSERT INTO event_assignments (event_id, grid_code, community_code, assignment)"
        " VALUES (:e, :g, :c, 'covered')"), {"e": event_id, "g": grid, "c": community})


@pytest.fixture
def history(db: Session) -> Session:
    for cid, grid, status, valid, due, closed, post, rework, dep in HISTORY:
        event_id = db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, department, due_at, closed_at, postponements, reworks, valid)"
            " VALUES (:c, 'x', '2026-10-01T08:00:00+00', :s, 'normal',"
            " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid', :dep,"
            " CAST(:due AS timestamptz), CAST(:closed AS timestamptz), :p, :r, :v)"
            " RETURNING id"),
            {"c": cid, "s": status, "dep": dep, "p": post, "r": rework, "v": valid,
             "due": f"2026-{due}T12:00:00+00",
             "closed": f"2026-{closed}T12:00:00+00" if closed else None}).scalar_one()
        assign(db, event_id, grid, "140213001001")
    outside = db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES ('outside_period',"
        " 'x', '2026-09-30T08:00:00+00', 'reported', 'normal',"
        " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid', 0, 0, true) RETURNING id"))
    assign(db, outside.scalar_one(), GRID_A)
    return db


def test_grid_counts_rates_and_score(history: Session) -> None:
    rows = unit_stats(history, "grid", SINCE, UNTIL)
    a = rows[0]
    assert [r["unit"] for r in rows] == [GRID_A, GRID_B]
    assert (a["accepted"], a["valid"], a["handled"]) == (6, 5, 3)
    assert (a["due"], a["closed"], a["closed_on_time"], a["postponed"], a["first_time"]) == (
        4, 3, 2, 1, 2)
    assert a["handling_rate"] == 0.6
    assert (a["on_time_rate"], a["closure_rate"], a["postponement_rate"],
            a["first_time_rate"]) == (0.5, 0.75, 0.25, 0.666667)
    # first-time ÷ closed: 2/3. 24·0.5 + 32·0.75 + 8·(1 − 0.25) + 16·2/3 + 20
    assert a["score"] == round(12 + 24 + 6 + 16 * 2 / 3 + 20, 4) == 72.6667


def test_weights_and_deductions_are_configurable(history: Session) -> None:
    settings = Settings(score_weights=(0.0, 100.0, 0.0, 0.0, 0.0))
    a = unit_stats(history, "grid", SINCE, UNTIL, settings=settings,
                   deductions={GRID_A: 5.0})[0]
    assert (a["score"], a["deduction"]) == (70.0, 5.0)


def test_other_levels_and_department(history: Session) -> None:
    community = unit_stats(history, "community", SINCE, UNTIL)
    assert [(r["unit"], r["accepted"]) for r in community] == [("140213001001", 7)]
    department = unit_stats(history, "department", SINCE, UNTIL)
    assert [(r["unit"], r["due"], r["closed"], r["score"]) for r in department] == [
        ("城管局", 1, 0, 28.0)]


def test_nothing_due_gives_no_score(history: Session) -> None:
    rows = unit_stats(history, "grid", datetime(2026, 9, 1, tzinfo=UTC), SINCE)
    assert [(r["unit"], r["due"], r["score"], r["on_time_rate"]) for r in rows] == [
        (GRID_A, 0, None, None)]


def test_bad_level_or_period(history: Session) -> None:
    with pytest.raises(ValidationFailed):
        unit_stats(history, "planet", SINCE, UNTIL)
    with pytest.raises(ValidationFailed, match="empty"):
        unit_stats(history, "grid", UNTIL, SINCE)


def test_per_period_rows_equal_one_unit_stats_call_per_period(history: Session) -> None:
    # [30 Sep, 1 Oct): outside_period; [1 Oct, 6 Oct): the seven, due when due before 6 Oct
    # or closed; [6 Oct, 20 Oct): nothing reported
    bounds = [datetime(2026, 9, 30, tzinfo=UTC), SINCE, datetime(2026, 10, 6, tzinfo=UTC),
              datetime(2026, 10, 20, tzinfo=UTC)]
    rows = unit_stats_per_period(history, "grid", GRID_A, bounds)
    assert rows == [next((r for r in unit_stats(history, "grid", since, until)
                          if r["unit"] == GRID_A), None)
                    for since, until in zip(bounds, bounds[1:], strict=False)]
    first, oct_1_to_6, nothing = rows
    assert (first["accepted"], first["due"]) == (1, 0)  # type: ignore[index]
    assert (oct_1_to_6["accepted"], oct_1_to_6["due"], oct_1_to_6["closed"],  # type: ignore[index]
            oct_1_to_6["closed_on_time"]) == (6, 3, 3, 2)  # type: ignore[index]
    assert nothing is None
    assert unit_stats_per_period(history, "department", "城管局", bounds)[1]["due"] == 0  # type: ignore[index]


def test_per_period_refuses_bad_bounds(history: Session) -> None:
    with pytest.raises(ValidationFailed, match="strictly increasing"):
        unit_stats_per_period(history, "grid", GRID_A, [UNTIL, SINCE])
    with pytest.raises(ValidationFailed, match="strictly increasing"):
        unit_stats_per_period(history, "grid", GRID_A, [SINCE])
    with pytest.raises(ValidationFailed, match="unknown level"):
        unit_stats_per_period(history, "planet", GRID_A, [SINCE, UNTIL])


def test_csv_has_header_and_empty_cells_for_none(history: Session) -> None:
    rows = unit_stats(history, "grid", datetime(2026, 9, 1, tzinfo=UTC), SINCE)
    lines = stats_csv(rows).splitlines()
    assert lines[0].split(",")[:3] == ["unit", "name", "accepted"]
    assert lines[1].endswith(",0.0,")  # deduction 0.0, score empty


def test_never_assigned_event_counts_for_its_department_only(history: Session) -> None:
    history.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, department, due_at, postponements, reworks, valid)"
        " VALUES ('never_assigned', 'x', '2026-10-02T08:00:00+00', 'in_progress', 'normal',"
        " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'department', '城管局',"
        " '2026-10-03T08:00:00+00', 0, 0, true)"))
    grids = unit_stats(history, "grid", SINCE, UNTIL)
    assert [(r["unit"], r["accepted"]) for r in grids] == [(GRID_A, 6), (GRID_B, 1)]
    department = unit_stats(history, "department", SINCE, UNTIL)
    assert [(r["unit"], r["accepted"], r["due"]) for r in department] == [("城管局", 2, 2)]


def test_lifecycle_actions_record_first_time_completion(db: Session) -> None:
    from geo.events import EventIn, apply_action, create_event

    ids = []
    for client_id, steps in (("straight", ["dispatch", "start", "resolve", "close"]),
                             ("reworked", ["dispatch", "start", "resolve", "rework",
                                           "resolve", "close"])):
        event, _ = create_event(db, EventIn(client_id=client_id, category="x", lon=113.3,
                                            lat=40.08))
        for step in steps:
            apply_action(db, event["id"], step, actor="dispatcher")
        ids.append(event["id"])
    assert db.execute(text("SELECT client_id, status, first_time, reworks, closed_at IS NOT "
                           "NULL FROM events WHERE id = ANY(:ids) ORDER BY client_id"),
                      {"ids": ids}).all() == [("reworked", "closed", False, 1, True),
                                              ("straight", "closed", True, 0, True)]
