"""The month's /stats rows from the monthly rollups (geo.month_stats, migration 0027) equal
``unit_stats`` from the month's first instant to ``now``, to the unit, at every level and for
a present or a past ``now``, after lifecycle changes, postponements, reworks, invalidation,
merged duplicates, re-assignment and deletes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.events import EventIn, create_event
from geo.month_stats import month_start, month_unit_stats, next_month_start
from geo.rollups import LOCAL_TZ
from geo.stats import unit_stats
from tests.geo.test_locate import COMMUNITY, DISTRICT, G1, G2, STREET, build_small_city

IN_G1, IN_G2 = (113.301, 40.0808), (113.303, 40.0815)
OCT_31 = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)   # 1 Nov 01:00 in Beijing: November
NOV_3 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
NOV_20 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OCT_20 = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)        # a past "now" mid-month
LEVELS = (("grid", COMMUNITY), ("community", STREET), ("street", DISTRICT),
          ("district", DISTRICT))


def _event(db: Session, where: tuple[float, float], at: datetime, due: str,
           **columns: object) -> int:
    event, _ = create_event(db, EventIn(category="garbage", lon=where[0], lat=where[1],
                                        reported_at=at))
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    db.execute(text(f"UPDATE events SET due_at = :due{', ' if sets else ''}{sets}"
                    " WHERE id = :id"), {"id": event["id"], "due": due, **columns})
    return int(event["id"])  # type: ignore[call-overload]


@pytest.fixture
def november(db: Session) -> dict[str, int]:
    """Events of October and November 2026 (Beijing months) in G1 and G2, of every kind the
    assessment tells apart; due times are UTC."""
    build_small_city(db)
    return {
        "closed_on_time": _event(db, IN_G1, OCT_31, "2026-11-02T00:00:00Z", status="closed",
                                 closed_at=datetime(2026, 11, 1, tzinfo=UTC)),
        "closed_late_postponed": _event(db, IN_G1, NOV_3, "2026-11-04T00:00:00Z",
                                        status="closed", postponements=1, reworks=1,
                                        closed_at=datetime(2026, 11, 6, tzinfo=UTC)),
        "closed_first_time_flag": _event(db, IN_G2, NOV_3, "2026-11-05T00:00:00Z",
                                         status="closed", reworks=2, first_time=True,
                                         closed_at=datetime(2026, 11, 4, tzinfo=UTC)),
        "open_overdue_postponed": _event(db, IN_G1, NOV_10, "2026-11-12T00:00:00Z",
                                         status="in_progress", postponements=2),
        "resolved_overdue": _event(db, IN_G2, NOV_10, "2026-11-14T00:00:00Z",
                                   status="resolved"),
        "open_not_yet_due": _event(db, IN_G2, NOV_10, "2026-11-16T00:00:00Z"),
        "rejected": _event(db, IN_G1, NOV_10, "2026-11-11T00:00:00Z", status="rejected",
                           valid=False),
        "after_now": _event(db, IN_G1, NOV_20, "2026-11-21T00:00:00Z", status="closed",
                            closed_at=datetime(2026, 11, 20, 5, tzinfo=UTC)),
        "october": _event(db, IN_G2, OCT_20, "2026-10-21T00:00:00Z", status="closed",
                          closed_at=datetime(2026, 10, 20, 5, tzinfo=UTC)),
    }


def _assert_equal_to_stats(db: Session, now: datetime) -> None:
    for level, area in LEVELS:
        expected = [r for r in unit_stats(db, level, month_start(now), now)
                    if str(r["unit"]).startswith(area)]
        assert month_unit_stats(db, level, area, now) == expected, (level, now)


def test_month_bounds_are_china_standard_time() -> None:
    assert month_start(NOW) == datetime(2026, 11, 1, tzinfo=LOCAL_TZ)
    assert month_start(OCT_31) == datetime(2026, 11, 1, tzinfo=LOCAL_TZ)
    assert next_month_start(NOW) == datetime(2026, 12, 1, tzinfo=LOCAL_TZ)
    assert next_month_start(datetime(2026, 12, 31, 17, tzinfo=UTC)) == datetime(
        2027, 2, 1, tzinfo=LOCAL_TZ)


def test_the_grids_rows_of_a_past_now(db: Session, november: dict[str, int]) -> None:
    rows = {r["unit"]: r for r in month_unit_stats(db, "grid", COMMUNITY, NOW)}
    assert {u: (r["accepted"], r["valid"], r["handled"], r["due"], r["closed"],
                r["closed_on_time"], r["postponed"], r["first_time"])
            for u, r in rows.items()} == {
        G1: (4, 3, 2, 3, 2, 1, 2, 1),  # after_now and october left out
        G2: (3, 3, 2, 2, 1, 1, 0, 1)}  # open_not_yet_due is not due at NOW
    assert rows[G1]["score"] is not None
    _assert_equal_to_stats(db, NOW)


def test_equal_to_stats_after_every_kind_of_write(db: Session,
                                                  november: dict[str, int]) -> None:
    late = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # the month's last minute in Beijing
    for now in (NOW, late, datetime(2026, 11, 10, 2, 0, tzinfo=UTC)):
        _assert_equal_to_stats(db, now)
    db.execute(text("UPDATE events SET status = 'closed', closed_at = :t WHERE id = :e"),
               {"t": datetime(2026, 11, 13, tzinfo=UTC), "e": november["resolved_overdue"]})
    db.execute(text("UPDATE events SET due_at = '2026-11-30T00:00:00Z', postponements = 3"
                    " WHERE id = :e"), {"e": november["open_not_yet_due"]})
    db.execute(text("UPDATE events SET valid = false WHERE id = :e"),
               {"e": november["closed_on_time"]})
    db.execute(text("UPDATE events SET status = 'duplicate' WHERE id = :e"),
               {"e": november["closed_first_time_flag"]})
    db.execute(text("UPDATE event_assignments SET grid_code = :g WHERE event_id = :e"),
               {"g": G2, "e": november["open_overdue_postponed"]})
    db.execute(text("DELETE FROM events WHERE id = :e"), {"e": november["rejected"]})
    for now in (NOW, late):
        _assert_equal_to_stats(db, now)


def test_monthly_rollups_equal_the_daily_ones_summed(db: Session,
                                                     november: dict[str, int]) -> None:
    db.execute(text("UPDATE events SET status = 'closed', closed_at = :t WHERE id = :e"),
               {"t": datetime(2026, 11, 13, tzinfo=UTC), "e": november["resolved_overdue"]})
    monthly = db.execute(text(
        "SELECT month, grid_code, events, closed, closed_postponed FROM event_monthly_counts"
        " WHERE events <> 0 ORDER BY 1, 2")).all()
    assert [tuple(r) for r in monthly] == [
        (date(2026, 10, 1), G2, 1, 1, 0), (date(2026, 11, 1), G1, 5, 3, 1),
        (date(2026, 11, 1), G2, 3, 2, 0)]
    db.execute(text("TRUNCATE events CASCADE"))
    assert db.execute(text("SELECT count(*) FROM event_monthly_counts")).scalar() == 0


def test_a_department_has_no_monthly_rollups(db: Session) -> None:
    with pytest.raises(ValidationFailed, match="department"):
        month_unit_stats(db, "department", DISTRICT, NOW)
