"""/stats over any period with whole months (geo.month_stats.period_unit_stats: those months
from the monthly rollups, the partial months and the cases due by the clock from the events)
equals ``unit_stats``, to the unit, at every level, with every kind of event of
tests/geo/test_month_stats.py (closed on time or late, postponed, reworked, open overdue,
resolved, rejected, reported after the period)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.month_stats import period_unit_stats
from geo.rollups import LOCAL_TZ
from geo.stats import unit_stats
from tests.geo.test_locate import G2
from tests.geo.test_month_stats import LEVELS, NOW, november  # noqa: F401 (the fixture)

PERIODS = {
    "two whole months and edges": (datetime(2026, 9, 20, tzinfo=UTC),
                                   datetime(2026, 12, 5, tzinfo=UTC)),
    "whole October, November to now": (datetime(2026, 9, 15, tzinfo=UTC), NOW),
    "exactly October and November": (datetime(2026, 10, 1, tzinfo=LOCAL_TZ),
                                      datetime(2026, 12, 1, tzinfo=LOCAL_TZ)),
    "no whole month": (datetime(2026, 10, 15, tzinfo=UTC), NOW),
}


@pytest.mark.parametrize("period", list(PERIODS))
def test_period_rows_equal_unit_stats(db: Session, november: dict[str, int],  # noqa: F811
                                      period: str) -> None:
    since, until = PERIODS[period]
    for level, _ in (*LEVELS, ("department", "")):
        expected = unit_stats(db, level, since, until)
        assert period_unit_stats(db, level, since, until) == expected, (level, period)
    assert period_unit_stats(db, "grid", since, until, attribution="current") == unit_stats(
        db, "grid", since, until, attribution="current")


def test_whole_months_come_from_the_rollups(db: Session,
                                            november: dict[str, int]) -> None:  # noqa: F811
    since, until = PERIODS["whole October, November to now"]
    before = {r["unit"]: r["accepted"] for r in period_unit_stats(db, "grid", since, until)}
    db.execute(text("UPDATE event_monthly_counts SET events = events + 5"
                    " WHERE month = '2026-10-01' AND grid_code = :g"), {"g": G2})
    after = {r["unit"]: r["accepted"] for r in period_unit_stats(db, "grid", since, until)}
    assert after == {**before, G2: before[G2] + 5}
    assert {r["unit"]: r["accepted"] for r in unit_stats(db, "grid", since, until)} == before
