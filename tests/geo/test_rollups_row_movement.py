"""An UPDATE of ``events.reported_at`` into another month's partition moves the row (a DELETE
from one partition, an INSERT into the other): the daily rollups move its count once, from
the old day's key to the new one, not twice from the old (migration 0031); deleting events
still takes their counts away, assigned or not."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import assign_events
from tests.geo.test_bulk_rollups import _assert_rollups_exact, _rows, unassigned_city
from tests.geo.test_locate import G1

__all__ = ["unassigned_city"]  # the fixture, used by name

NOVEMBER = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # events_default in the test schema
DECEMBER = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)   # events_2026_12


def _partition_of(db: Session, event_id: int) -> str:
    return str(db.execute(text("SELECT tableoid::regclass::text FROM events WHERE id = :id"),
                          {"id": event_id}).scalar_one())


def test_moving_reported_at_to_another_month_moves_the_count_once(
        unassigned_city: Session) -> None:
    db = unassigned_city
    assign_events(db, "all")
    assigned, unassigned = db.execute(text(
        "SELECT min(a.event_id) FILTER (WHERE a.grid_code = :g1),"
        " min(a.event_id) FILTER (WHERE a.grid_code IS NULL) FROM event_assignments a"),
        {"g1": G1}).one()
    db.execute(text("DELETE FROM event_assignments WHERE event_id = :id"), {"id": unassigned})
    for event_id, to in ((assigned, DECEMBER), (unassigned, DECEMBER), (assigned, NOVEMBER)):
        db.execute(text("UPDATE events SET reported_at = :at WHERE id = :id"),
                   {"at": to, "id": event_id})
        assert _partition_of(db, event_id) == ("events_2026_12" if to == DECEMBER
                                               else "events_default")
        _assert_rollups_exact(db)
    on_the_new_day = _rows(db, "SELECT grid_code, sum(events)::int FROM event_daily_counts"
                               " WHERE day = '2026-12-03' GROUP BY 1"
                               " HAVING sum(events) <> 0 ORDER BY 1")
    assert on_the_new_day == [(None, 1)]  # the unassigned one; the assigned one moved back


def test_deleting_events_takes_their_counts_away(unassigned_city: Session) -> None:
    db = unassigned_city
    assign_events(db, "all")
    db.execute(text("DELETE FROM event_assignments WHERE event_id IN"
                    " (SELECT id FROM events ORDER BY id LIMIT 3)"))
    gone = db.execute(text("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id"
                           " LIMIT 10 OFFSET 1)")).rowcount  # type: ignore[attr-defined]
    assert gone == 10
    _assert_rollups_exact(db)
    assert db.execute(text("SELECT sum(events) FROM event_daily_counts")).scalar_one() == 50
