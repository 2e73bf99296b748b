"""A first assignment COPYed straight into event_assignments (geo.first_assignment_rows,
geo.event_assignments.write_first_assignment) stores, field by field, what the staged path
(work tables decoded by SQL, geo.assign_stage + write_staged) stores; its pending days are
gridlink_local_day's; a duplicate key writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import assign_memory
from geo.assign import assign_events
from geo.errors import Conflict
from geo.first_assignment_rows import (
    PG_EPOCH,
    FirstAssignmentRows,
    _records,
    copy_binary,
    first_assignment_rows,
    local_days,
    text_fields,
)
from geo.rollup_refresh import pending_refreshes
from tests.geo.test_assign import _random_cameras_and_events, city_with_events

__all__ = ["city_with_events"]  # the fixture, used by name

ROW = ("SELECT event_id, reported_at, district_code, street_code, community_code, grid_code,"
       " micro_grid_code, dedicated_grid_codes, assignment, nearest_grid_code,"
       " nearest_distance_m, camera_codes, assigned_at = now() AS now"
       " FROM event_assignments ORDER BY event_id")
SPREAD = ("UPDATE events SET reported_at = CAST(:start AS timestamptz)"
          " + (id % 97) * interval '7 hours 13 minutes'")
"""Events reported over 29 days of local midnights (some before 1992: summer time)."""


def _first_assignment(db: Session, monkeypatch: pytest.MonkeyPatch, *, copy: bool,
                      k: int = 3) -> list[tuple[object, ...]]:
    """The rows an in-memory first assignment stores by COPY or by the staged path."""
    db.execute(text("DELETE FROM event_assignments"))
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    monkeypatch.setattr(assign_memory, "rebuilds_rollups", lambda session, n: copy)
    monkeypatch.setattr(assign_memory, "COMPARE_IN_MEMORY", copy)  # else: the staged path
    built: list[int] = []

    def rows(*args: Any, **kwargs: Any) -> FirstAssignmentRows:
        made = first_assignment_rows(*args, **kwargs)
        built.append(made.n)
        return made

    monkeypatch.setattr(assign_memory, "first_assignment_rows", rows)
    summary = assign_events(db, "all", k=k)
    assert summary.changed == summary.events
    assert built == ([summary.events] if copy else [])
    return [tuple(r) for r in db.execute(text(ROW)).all()]


@pytest.mark.parametrize("start", ["2026-11-02 00:00+08", "1986-05-01 00:00+08"])
def test_copy_rows_equal_the_staged_rows_on_the_named_points(
    city_with_events: Session, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    db = city_with_events
    db.execute(text(SPREAD), {"start": start})
    staged = _first_assignment(db, monkeypatch, copy=False)
    staged_marks = pending_refreshes(db)
    copied = _first_assignment(db, monkeypatch, copy=True)
    assert copied == staged
    kinds = sorted(str(r[8]) for r in copied)
    assert kinds == ["covered"] * 6 + ["snapped", "unassigned"]
    assert any(r[7] for r in copied) and all(r[-1] for r in copied)  # dedicated; assigned now
    days = db.execute(text("SELECT array_agg(DISTINCT gridlink_local_day(reported_at)"
                           " ORDER BY gridlink_local_day(reported_at)) FROM events")).scalar()
    assert [m.days for m in pending_refreshes(db)][len(staged_marks):] == [days]


@pytest.mark.parametrize("k", [0, 3])
def test_copy_rows_equal_the_staged_rows_with_many_cameras(
    db: Session, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    rng = np.random.default_rng(7)
    _random_cameras_and_events(db, rng, 113.30, 40.08, "9")
    _random_cameras_and_events(db, rng, 122.53, 52.97, "8")
    staged = _first_assignment(db, monkeypatch, copy=False, k=k)
    copied = _first_assignment(db, monkeypatch, copy=True, k=k)
    assert copied == staged
    with_cameras = sum(bool(r[11]) for r in copied)
    assert (with_cameras > 300) if k else with_cameras == 0


def test_a_duplicate_key_during_a_first_assignment_writes_nothing(
    city_with_events: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another job assigned one event between the check for stored assignments and the
    COPY: the COPY fails whole, naming the event; nothing of this job is kept."""
    db = city_with_events
    taken = db.execute(text("SELECT min(id) FROM events")).scalar_one()
    db.execute(text("INSERT INTO event_assignments (event_id, assignment) VALUES (:id,"
                    " 'unassigned')"), {"id": taken})
    marks = len(pending_refreshes(db))
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    monkeypatch.setattr(assign_memory, "_any_assigned", lambda session, where, params: False)
    monkeypatch.setattr(assign_memory, "rebuilds_rollups", lambda session, n: True)
    savepoint = db.begin_nested()
    with pytest.raises(Conflict, match=f"event {taken} was assigned by another job") as info:
        assign_events(db, "all")
    savepoint.rollback()
    assert info.value.details == [{"field": "event_id", "value": taken}]
    assert db.execute(text("SELECT event_id, assignment FROM event_assignments")).all() == [
        (taken, "unassigned")]
    assert len(pending_refreshes(db)) == marks


def test_local_days_are_gridlink_local_day(db: Session) -> None:
    """Instants around local midnights from 1985 to 2030 (summer time until 1991): the days
    computed in numpy, plus SQL's days of the early instants, are SQL's days."""
    instants = [datetime(year, month, 1, tzinfo=UTC) + timedelta(hours=hour, seconds=s)
                for year in (1985, 1988, 1991, 1992, 2026, 2030) for month in (1, 5, 8, 12)
                for hour in (-9, -8, -7, 15, 16, 17) for s in (-1, 0, 1)]
    us = np.array([(t - PG_EPOCH) // timedelta(microseconds=1) for t in instants], np.int64)
    days, early = local_days(us)
    assert early and days and all(t.year < 1992 for t in early)
    sql = db.execute(text("SELECT array_agg(DISTINCT gridlink_local_day(t) ORDER BY"
                          " gridlink_local_day(t)) FROM unnest(CAST(:t AS timestamptz[])) t"),
                     {"t": instants}).scalar_one()
    early_days = db.execute(text("SELECT array_agg(DISTINCT gridlink_local_day(t)) FROM"
                                 " unnest(CAST(:t AS timestamptz[])) t"), {"t": early}).scalar_one()
    assert sorted(set(days) | set(early_days)) == sql


def test_text_fields_copy_back_as_written(db: Session) -> None:
    """Columns of codes encoded by ``text_fields`` (NULLs, Chinese, an empty text, a
    4-byte character) are the binary COPY fields PostgreSQL reads back as the same values."""
    first = ["140213", None, "网格一", "", "𠀀 x"]
    second = [None, "a", "社区", "b", None]
    fields = text_fields(first, second)
    count = np.zeros(len(first), dtype=[("n", ">i2")])
    count["n"] = 2
    rows = pc.binary_join_element_wise(_records(count), fields, pa.scalar(b"", pa.binary()))
    db.execute(text("CREATE TEMP TABLE copied (n serial, a text, b text)"))
    copy_binary(db, "COPY copied (a, b) FROM STDIN (FORMAT binary)",
                [memoryview(b"".join(v.as_py() for v in rows))])
    assert db.execute(text("SELECT a, b FROM copied ORDER BY n")).all() == list(
        zip(first, second, strict=True))
