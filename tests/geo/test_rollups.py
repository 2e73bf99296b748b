"""The daily rollups (event_daily_counts, kept by triggers) equal a direct count of the events
after inserts, lifecycle actions, re-assignment and deletes (geo.rollups)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.duplicates import MergeIn, merge_duplicates
from geo.errors import ValidationFailed
from geo.events import EventIn, apply_action, create_event
from geo.rollups import LOCAL_TZ, counts_csv, daily_counts, local_day
from geo.stats import unit_daily_rates, unit_stats
from tests.geo.test_locate import COMMUNITY, G1, G2, STREET, build_small_city

DAY_ONE = datetime(2026, 11, 2, 17, 30, tzinfo=UTC)  # 2026-11-03 01:30 in Beijing
DAY_TWO = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)    # 2026-11-03 11:00 in Beijing
IN_G1, IN_G2, OUTSIDE = (113.301, 40.0808), (113.303, 40.0815), (113.5, 40.5)
KEY = ("day", "grid_code", "category", "status")

DIRECT_COUNT = f"""
SELECT gridlink_local_day(reported_at) AS day, grid_code, category, status,
       count(*)::int AS events
  FROM events_with_assignment WHERE status <> 'duplicate'
 GROUP BY {', '.join(KEY)} ORDER BY {', '.join(KEY)}"""


def _event(db: Session, where: tuple[float, float], at: datetime, category: str) -> int:
    event, _ = create_event(db, EventIn(category=category, lon=where[0], lat=where[1],
                                        reported_at=at))
    return int(event["id"])  # type: ignore[call-overload]


def _rollups(db: Session) -> list[dict[str, object]]:
    return daily_counts(db, None, date(2026, 1, 1), date(2026, 12, 31), KEY)


def _direct(db: Session) -> list[dict[str, object]]:
    return [dict(r) for r in db.execute(text(DIRECT_COUNT)).mappings().all()]


@pytest.fixture
def three_events(db: Session) -> list[int]:
    build_small_city(db)
    return [_event(db, IN_G1, DAY_ONE, "garbage"), _event(db, IN_G1, DAY_TWO, "garbage"),
            _event(db, IN_G2, DAY_TWO, "parking")]


def test_new_events_are_counted_per_local_day_grid_category_status(
        db: Session, three_events: list[int]) -> None:
    assert local_day(DAY_ONE) == date(2026, 11, 3)
    assert _rollups(db) == [
        {"day": date(2026, 11, 3), "grid_code": G1, "category": "garbage",
         "status": "reported", "events": 2},
        {"day": date(2026, 11, 3), "grid_code": G2, "category": "parking",
         "status": "reported", "events": 1}]
    assert _rollups(db) == _direct(db)


def test_actions_move_the_count_to_the_new_status(db: Session, three_events: list[int]) -> None:
    first, second, _ = three_events
    for action in ("dispatch", "start", "resolve", "close"):
        apply_action(db, first, action)
    apply_action(db, second, "reject")
    assert [(r["grid_code"], r["status"], r["events"]) for r in _rollups(db)] == [
        (G1, "closed", 1), (G1, "rejected", 1), (G2, "reported", 1)]
    assert _rollups(db) == _direct(db)


def test_reassignment_and_delete_keep_rollups_equal_to_a_direct_count(
        db: Session, three_events: list[int]) -> None:
    outside = _event(db, OUTSIDE, DAY_TWO, "garbage")
    db.execute(text("UPDATE event_assignments SET grid_code = :g WHERE event_id = :e"),
               {"g": G2, "e": three_events[0]})
    db.execute(text("DELETE FROM events WHERE id = :e"), {"e": three_events[2]})
    db.execute(text("DELETE FROM event_assignments WHERE event_id = :e"), {"e": three_events[1]})
    rows = [(r["grid_code"], r["events"]) for r in _rollups(db)]
    assert rows == [(G2, 1), (None, 2)]
    assert _rollups(db) == _direct(db)
    assert outside > 0


def test_area_scope_and_grouping(db: Session, three_events: list[int]) -> None:
    _event(db, OUTSIDE, DAY_TWO, "garbage")
    one_day = date(2026, 11, 3)
    assert daily_counts(db, None, one_day, one_day, ()) == [{"events": 4}]
    assert daily_counts(db, STREET, one_day, one_day, ()) == [{"events": 3}]
    assert daily_counts(db, COMMUNITY, one_day, one_day, ("category",)) == [
        {"category": "garbage", "events": 2}, {"category": "parking", "events": 1}]
    assert daily_counts(db, G2, one_day, one_day, ("status",)) == [
        {"status": "reported", "events": 1}]
    assert daily_counts(db, STREET, one_day, one_day, ("grid_code",), category="garbage") == [
        {"grid_code": G1, "events": 2}]
    assert daily_counts(db, G1, date(2026, 11, 4), date(2026, 11, 30), ()) == []
    rows = daily_counts(db, STREET, one_day, one_day, ("category",))
    assert counts_csv(rows, ("category",)) == "category,events\ngarbage,2\nparking,1\n"


def test_merged_duplicates_count_once_as_in_stats(db: Session,
                                                 three_events: list[int]) -> None:
    first, second, _ = three_events
    db.execute(text("UPDATE events SET reported_at = :at WHERE id = :id"),
               {"at": DAY_TWO, "id": first})
    merge_duplicates(db, second, MergeIn(duplicates=[first]), actor="dispatcher-1")
    one_day = date(2026, 11, 3)
    assert daily_counts(db, G1, one_day, one_day, ("status",)) == [
        {"status": "reported", "events": 1}]
    assert _rollups(db) == _direct(db)
    stats = unit_stats(db, "grid", DAY_ONE, datetime(2026, 11, 4, tzinfo=UTC))
    assert [(r["unit"], r["accepted"]) for r in stats] == [(G1, 1), (G2, 1)]


def test_bad_grouping_or_period_is_refused(db: Session) -> None:
    with pytest.raises(ValidationFailed) as bad:
        daily_counts(db, None, date(2026, 1, 1), date(2026, 1, 2), ("day", "geom"))
    assert bad.value.details == [{"field": "by", "value": "geom",
                                  "allowed": ["day", "district_code", "street_code",
                                              "community_code", "grid_code", "category",
                                              "status"]}]
    with pytest.raises(ValidationFailed, match="until is before since"):
        daily_counts(db, None, date(2026, 1, 2), date(2026, 1, 1), ())


def _single_day_rates(db: Session, level: str, unit: str, day: date) -> dict[str, object]:
    """The handling and on-time rates of ``unit`` in the /stats row of CST day ``day``."""
    since = datetime.combine(day, datetime.min.time(), LOCAL_TZ)
    [row] = [r for r in unit_stats(db, level, since, since + timedelta(days=1))
             if r["unit"] == unit]
    return {k: row[k] for k in ("handling_rate", "on_time_rate")}


def test_rate_counts_follow_every_write_and_equal_single_day_stats(
        db: Session, three_events: list[int]) -> None:
    first, second, third = three_events
    for action in ("dispatch", "start", "resolve", "close"):  # closed now: late, still due
        apply_action(db, first, action)
    apply_action(db, second, "dispatch")
    apply_action(db, second, "postpone", hours=24 * 30)  # due after its day: not due
    apply_action(db, third, "reject")  # invalid
    fourth = _event(db, IN_G2, DAY_TWO, "parking")
    db.execute(text("UPDATE events SET due_at = reported_at + interval '1 hour',"
                    " status = 'closed', closed_at = reported_at WHERE id = :e"), {"e": fourth})
    day = date(2026, 11, 3)
    for level, unit in (("street", STREET), ("community", COMMUNITY), ("grid", G1),
                        ("grid", G2)):
        assert unit_daily_rates(db, level, unit, day, day) == {
            day: _single_day_rates(db, level, unit, day)}
    assert unit_daily_rates(db, "street", STREET, day, day) == {
        day: {"handling_rate": 0.666667, "on_time_rate": 0.5}}
    db.execute(text("UPDATE event_assignments SET grid_code = :g, community_code = NULL,"
                    " street_code = NULL WHERE event_id = :e"), {"g": G2, "e": fourth})
    db.execute(text("DELETE FROM events WHERE id = :e"), {"e": first})
    assert unit_daily_rates(db, "street", STREET, day, day) == {
        day: {"handling_rate": 0.0, "on_time_rate": None}}
    assert unit_daily_rates(db, "street", STREET, day, day) == {
        day: _single_day_rates(db, "street", STREET, day)}
    assert unit_daily_rates(db, "grid", G1, date(2026, 11, 4), date(2026, 11, 30)) == {}
