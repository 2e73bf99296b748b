"""A re-run that moves at least ``REBUILD_FROM_SHARE`` of the rollup rows (a redraw) counts
its rollups in memory as a first assignment does (geo.first_assignment_rollups, the stored
daily rows minus each written row's event at its stored key plus the event at its new key)
and commits them with its rows: the daily, monthly and per-area rollups equal, row for row,
what the refresh of every day builds, nothing pending. Stored keys of every kind are left:
grid keys, the "no grid" key of events never assigned, keys of snapped and unassigned
events. A writer that commits during the job (a status change, a report) leaves only its
day pending; a row another writer rewrote meanwhile (``superseded``) makes the job leave
its days pending as before; below the share the rows' move is upserted in place as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import event_assignments, first_assignment_rollups
from geo.assign import assign_events
from geo.events import apply_action
from geo.rollup_refresh import pending_refreshes, refresh_rollups
from tests.geo.test_bulk_rollups import RECOUNT, STORED, _assert_readers_exact, _rows
from tests.geo.test_first_assignment_rollups import (
    _add_events,
    _assert_as_refreshed,
    _assert_left_pending,
    _tables,
    varied_city,
)
from tests.geo.test_locate import G1, G2

__all__ = ["varied_city"]  # the fixture, used by name

MOVED_DAY = "SELECT DISTINCT gridlink_local_day(reported_at) FROM events WHERE id = :e"


@pytest.fixture
def redrawn(varied_city: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The varied city assigned once (rollups written, nothing pending), then redrawn as
    the next re-run sees it: half of G1's stored rows given G2's chain, G2 retired (its
    events now snap or fall outside every grid), and 30 events reported since (stored in
    the "no grid" key, no assignment row); every re-run rebuilds the rollups
    (``REBUILD_FROM_SHARE`` 0)."""
    db = varied_city
    assert assign_events(db, "all").changed == 144
    assert pending_refreshes(db) == []
    db.execute(text("UPDATE event_assignments SET grid_code = :g2, micro_grid_code = NULL"
                    " WHERE grid_code = :g1 AND event_id % 2 = 0"), {"g1": G1, "g2": G2})
    db.execute(text("UPDATE grids SET valid_to = now() WHERE code = :g"), {"g": G2})
    _add_events(db, datetime(2026, 11, 3, 15, 0, tzinfo=UTC), 30, "later")
    monkeypatch.setattr(event_assignments, "REBUILD_FROM_SHARE", 0.0)
    return db


def test_a_redraw_commits_its_rollups_as_refreshed(redrawn: Session) -> None:
    db = redrawn
    keys = _rows(db, "SELECT DISTINCT grid_code FROM event_daily_counts WHERE events > 0")
    assert {G1, G2, None} <= {k for (k,) in keys}  # grid keys and the "no grid" key stored
    summary = assign_events(db, "all")
    assert summary.changed > 90 and summary.superseded == 0
    assert _rows(db, "SELECT count(*) FROM event_daily_counts WHERE grid_code = :g",
                 {"g": G2}) == [(0,)]  # every G2 row moved out and left at zero: gone
    _assert_as_refreshed(db)
    assert assign_events(db, "all").changed == 0


def test_a_status_change_after_the_rollups_were_read_leaves_its_day_pending(
        redrawn: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case closed after the stored rollups were read, before the changed rows' facts
    are: it shows under the swap's lock, so its day (and only it) is left pending."""
    db = redrawn
    event = db.execute(text(
        "SELECT e.id FROM events e JOIN event_assignments a ON a.event_id = e.id"
        " WHERE a.grid_code = :g2 AND e.status = 'reported' ORDER BY e.id LIMIT 1"),
        {"g2": G2}).scalar_one()
    read = event_assignments.rollup_base

    def then_a_writer(session: Session) -> Any:
        base = read(session)
        for action in ("dispatch", "start", "resolve", "close"):
            apply_action(session, event, action)
        return base

    monkeypatch.setattr(event_assignments, "rollup_base", then_a_writer)
    summary = assign_events(db, "all")
    assert summary.superseded == 0
    _assert_left_pending(db, [d for (d,) in _rows(db, MOVED_DAY, {"e": event})])


def test_a_report_during_the_write_leaves_its_day_pending(
        redrawn: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event reported after the rows were written, before the swap's lock (counted in
    the stored rows by its trigger, not in the new tables): its day alone is left pending,
    the redraw's other days are written."""
    db = redrawn
    lock = first_assignment_rollups.lock_for_rebuild

    def a_report_first(session: Session) -> None:
        _add_events(session, datetime(2026, 11, 20, 3, 0, tzinfo=UTC), 1, "report")
        lock(session)

    monkeypatch.setattr(first_assignment_rollups, "lock_for_rebuild", a_report_first)
    assign_events(db, "all")
    report = db.execute(text("SELECT id FROM events WHERE client_id = 'report-0'")).scalar_one()
    _assert_left_pending(db, [d for (d,) in _rows(db, MOVED_DAY, {"e": report})])


def test_a_superseded_row_leaves_the_days_pending(redrawn: Session,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed row another writer rewrote after the job read it is not written, so its
    event must not be moved in the rollups: the job writes no rollups and leaves its rows'
    days pending, as before (the simplest exact rule); readers and the refresh exact."""
    db = redrawn
    tables = _tables(db)
    inputs = event_assignments.staged_rollup_inputs

    def then_a_row_rewritten(session: Session, base: Any, rows: Any, stage: str) -> Any:
        read = inputs(session, base, rows, stage)
        session.execute(text("SAVEPOINT another_writer"))  # a transaction id of its own
        session.execute(text(f"UPDATE event_assignments SET assigned_at = now() WHERE event_id"
                             f" = (SELECT min(event_id) FROM {stage} WHERE seen_xmin IS NOT NULL)"))
        session.execute(text("RELEASE SAVEPOINT another_writer"))
        return read

    monkeypatch.setattr(event_assignments, "staged_rollup_inputs", then_a_row_rewritten)
    summary = assign_events(db, "all")
    assert summary.superseded == 1 and pending_refreshes(db)
    assert _tables(db) == tables  # no rollup written
    _assert_readers_exact(db)
    refresh_rollups(db)
    assert _rows(db, STORED) == _rows(db, RECOUNT)


def test_below_the_share_the_move_is_upserted_in_place(
        redrawn: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    db = redrawn
    monkeypatch.setattr(event_assignments, "REBUILD_FROM_SHARE", float("inf"))
    oid = _rows(db, "SELECT 'event_daily_counts'::regclass::oid")
    summary = assign_events(db, "all")
    assert summary.changed > 90
    assert _rows(db, "SELECT 'event_daily_counts'::regclass::oid") == oid  # not swapped
    assert pending_refreshes(db) == []
    assert _rows(db, STORED) == _rows(db, RECOUNT)
    _assert_readers_exact(db)
