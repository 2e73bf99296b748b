"""Statistics both ways over a split grid's history: on today's grids, on the grids as they
were, and by the stored assignment (the default); the sums match (tests/geo/planning/cases.py
``split_grid_history``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from geo.assessment import assessment
from geo.errors import ValidationFailed
from geo.stats import events_in_period, unit_stats
from tests.geo.planning import cases
from tests.geo.planning.cases import code

WEST, EAST, NEW = code(1), code(2), code(3)
SINCE = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def split_at(db: Session) -> datetime:
    return cases.split_grid_history(db)  # type: ignore[no-any-return]


def accepted(db: Session, until: datetime, attribution: str) -> dict[str, tuple[str, int]]:
    rows = unit_stats(db, "grid", SINCE, until, attribution=attribution)
    return {r["unit"]: (r["name"], r["accepted"]) for r in rows}


def test_a_split_grids_history_reported_both_ways_with_matching_sums(
        db: Session, split_at: datetime) -> None:
    until = split_at + timedelta(days=1)
    historical = accepted(db, until, "historical")
    current = accepted(db, until, "current")
    assert historical == {WEST: ("grid 001", 1), EAST: ("grid 002", 3), NEW: ("East 2", 1)}
    assert current == {WEST: ("grid 001", 1), EAST: ("grid 002", 1), NEW: ("East 2", 3)}
    assert sum(n for _, n in historical.values()) == sum(n for _, n in current.values()) == 5
    assert events_in_period(db, SINCE, until) == 5


def test_the_default_stays_the_stored_assignment(db: Session, split_at: datetime) -> None:
    until = split_at + timedelta(days=1)
    # closed cases keep the grid that handled them; the open one followed the split
    assert accepted(db, until, "assigned") == {
        WEST: ("grid 001", 1), EAST: ("grid 002", 2), NEW: ("East 2", 2)}
    assert unit_stats(db, "grid", SINCE, until) == unit_stats(
        db, "grid", SINCE, until, attribution="assigned")


def test_before_the_split_the_grids_as_they_were_know_no_new_grid(
        db: Session, split_at: datetime) -> None:
    june = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    historical = unit_stats(db, "grid", *june, attribution="historical")
    current = unit_stats(db, "grid", *june, attribution="current")
    assert [(r["unit"], r["accepted"], r["closed"]) for r in historical] == [
        (WEST, 1, 1), (EAST, 3, 2)]
    assert [(r["unit"], r["accepted"], r["closed"]) for r in current] == [
        (WEST, 1, 1), (EAST, 1, 1), (NEW, 2, 1)]


def test_the_monthly_assessment_takes_the_attribution(db: Session, split_at: datetime) -> None:
    rows = assessment(db, "2026-06", "grid", attribution="current")
    # the open June case has no due time: not due
    assert [(r["unit"], r["due"], r["closed"]) for r in rows] == [
        (WEST, 1, 1), (EAST, 1, 1), (NEW, 1, 1)]


@pytest.mark.parametrize(("level", "attribution"), [("community", "current"),
                                                     ("grid", "yesterday")])
def test_an_attribution_a_level_does_not_take_is_refused(
        db: Session, level: str, attribution: str) -> None:
    with pytest.raises(ValidationFailed, match=f"attribution '{attribution}'") as raised:
        unit_stats(db, level, SINCE, SINCE + timedelta(days=1), attribution=attribution)
    assert raised.value.details[0]["field"] == "attribution"


def test_events_older_than_the_first_layer_count_for_it(db: Session, split_at: datetime) -> None:
    # the layer was first recorded on 2026-01-01; a case of December 2025 under it counts
    # for the grid then covering it (east), not for the part split off later
    cases.add_event(db, "december", "2025-12-01T00:00:00Z", 180, "closed", EAST)
    december = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert [(r["unit"], r["accepted"]) for r in unit_stats(
        db, "grid", *december, attribution="historical")] == [(EAST, 1)]
    assert [(r["unit"], r["accepted"]) for r in unit_stats(
        db, "grid", *december, attribution="current")] == [(NEW, 1)]
