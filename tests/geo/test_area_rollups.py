"""The per-area daily rollups (migration 0027) answer the district's and the street's 30-day
trend exactly as the daily rollups do (geo.area_rollups vs geo.rollups.trend_counts), after
lifecycle changes, invalidation, merged duplicates, re-assignment and deletes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.area_rollups import area_trend_counts
from geo.errors import ValidationFailed
from geo.rollups import trend_counts
from tests.geo.test_locate import COMMUNITY, DISTRICT, G2, STREET
from tests.geo.test_month_stats import november  # noqa: F401 (the fixture)

FIRST, LAST = date(2026, 10, 15), date(2026, 11, 30)


def _assert_equal_to_daily(db: Session) -> None:
    for area, level, child in ((DISTRICT, "district", "street_code"),
                               (STREET, "street", "community_code")):
        assert area_trend_counts(db, area, level, FIRST, LAST) == trend_counts(
            db, area, FIRST, LAST, child), area


def test_the_streets_trend(db: Session, november: dict[str, int]) -> None:  # noqa: F811
    counts = area_trend_counts(db, STREET, "street", FIRST, LAST)
    assert counts["by_unit"] == [{"community_code": COMMUNITY, "events": 9}]
    assert [(str(r["day"]), r["events"], r["valid"], r["handled"])
            for r in counts["by_day"]] == [
        ("2026-10-20", 1, 1, 1), ("2026-11-01", 1, 1, 1), ("2026-11-03", 2, 2, 2),
        ("2026-11-10", 4, 3, 1), ("2026-11-20", 1, 1, 1)]
    _assert_equal_to_daily(db)


def test_equal_to_the_daily_rollups_after_writes(db: Session,
                                                 november: dict[str, int]) -> None:  # noqa: F811
    db.execute(text("UPDATE events SET status = 'closed', closed_at = due_at WHERE id = :e"),
               {"e": november["resolved_overdue"]})
    db.execute(text("UPDATE events SET valid = false WHERE id = :e"),
               {"e": november["closed_on_time"]})
    db.execute(text("UPDATE events SET status = 'duplicate' WHERE id = :e"),
               {"e": november["closed_first_time_flag"]})
    db.execute(text("UPDATE event_assignments SET grid_code = :g WHERE event_id = :e"),
               {"g": G2, "e": november["open_overdue_postponed"]})
    db.execute(text("DELETE FROM events WHERE id = :e"), {"e": november["rejected"]})
    db.execute(text("DELETE FROM event_assignments WHERE event_id = :e"),
               {"e": november["october"]})
    _assert_equal_to_daily(db)
    assert area_trend_counts(db, DISTRICT, "district", FIRST, LAST)["by_unit"] == [
        {"street_code": STREET, "events": 6}]


def test_a_community_has_no_per_area_trend(db: Session) -> None:
    with pytest.raises(ValidationFailed, match="below a street"):
        area_trend_counts(db, COMMUNITY, "community", FIRST, LAST)
