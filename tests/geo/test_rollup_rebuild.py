"""A bulk write that moves most rollup keys (a first assignment) commits its assignments with
their days marked pending refresh; the refresh then builds the rollups afresh and swaps them
in (geo.rollup_refresh, geo.rollup_rebuild): the daily, monthly and per-area rollups are
exact, the tables keep their indexes and triggers, an event reported while the job runs
does not wait, and one reported while the refresh runs waits for its commit and is then
counted in the new tables (no count lost)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.assign import assign_events
from geo.events import EventIn, create_event
from geo.rollup_rebuild import TABLES
from geo.rollup_refresh import pending_refreshes, refresh_rollups
from tests.geo.test_bulk_rollups import SPOTS, START, _assert_rollups_exact, _rows
from tests.geo.test_locate import COMMUNITY, DISTRICT, G1, G2, STREET, build_small_city

INDEX_NAMES = "i.indexrelid::regclass::text"
OBJECTS = ("SELECT c.relname, (SELECT array_agg(" + INDEX_NAMES + " ORDER BY " + INDEX_NAMES
           + ") FROM pg_index i WHERE i.indrelid = c.oid), (SELECT array_agg(t.tgname::text"
           " ORDER BY t.tgname) FROM pg_trigger t WHERE t.tgrelid = c.oid"
           " AND NOT t.tgisinternal), c.reloptions FROM pg_class c"
           " WHERE c.relname IN ('event_daily_counts', 'event_monthly_counts',"
           " 'event_area_daily_counts') ORDER BY 1")
BY_GRID = ("SELECT grid_code, sum(events)::int FROM event_daily_counts GROUP BY 1"
           " HAVING sum(events) <> 0 ORDER BY 1")


def _report(session: Session, client_id: str, at: datetime, spot: tuple[float, float]
            ) -> int:
    event, _ = create_event(session, EventIn(client_id=client_id, category="garbage",
                                             lon=spot[0], lat=spot[1], reported_at=at))
    return int(event["id"])  # type: ignore[call-overload]


def _add_events(db: Session, n: int) -> None:
    """``n`` raw events over the small city's spots, never assigned (as a bulk import)."""
    for i in range(n):
        lon, lat = SPOTS[i % len(SPOTS)]
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid, due_at) VALUES (:c, 'garbage',"
            " :at, 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0,"
            " true, CAST(:at AS timestamptz) + interval '26 hours')"),
            {"c": f"rebuild-{i}", "at": START + timedelta(hours=7 * i), "x": lon, "y": lat})


def _only_counting_rollup_rows(session: Session) -> None:
    """Drop daily rollup rows left at zero by earlier tests' committed, then deleted, events:
    they count as stored rows (the rebuild's cost in :func:`geo.event_assignments` decides
    between rebuild and upsert by them), so a test of the rebuild starts from rows that hold
    counts, whatever ran before it in the same database."""
    session.execute(text("DELETE FROM event_daily_counts WHERE events = 0"))


def test_first_assignment_rebuilds_the_rollups_exactly(db: Session) -> None:
    _only_counting_rollup_rows(db)
    build_small_city(db)
    _add_events(db, 30)
    objects = _rows(db, OBJECTS)
    oids = _rows(db, "SELECT oid FROM pg_class WHERE relname IN ('event_daily_counts',"
                     " 'event_monthly_counts', 'event_area_daily_counts') ORDER BY relname")
    days = _rows(db, "SELECT DISTINCT gridlink_local_day(reported_at) FROM events"
                     " WHERE client_id LIKE 'rebuild-%' ORDER BY 1")
    assert assign_events(db, "all").changed == 30
    # committed with the assignments: the days to refresh; the stored rollups not touched yet
    [mark] = pending_refreshes(db)
    assert (mark.job, mark.days) == ("bulk assignment of 30 events", [d for (d,) in days])
    assert _rows(db, BY_GRID) == [(None, 30)]
    refresh_rollups(db)
    assert pending_refreshes(db) == []
    assert _rows(db, OBJECTS) == objects  # same indexes, triggers, storage options
    assert [r[0] for r in objects] == sorted(TABLES)
    assert set(_rows(db, "SELECT oid FROM pg_class WHERE relname IN ('event_daily_counts',"
                         " 'event_monthly_counts', 'event_area_daily_counts')")
               ).isdisjoint(oids)  # new tables
    _assert_rollups_exact(db)
    assert _rows(db, BY_GRID) == [(G1, 10), (G2, 15), (None, 5)]
    # the triggers of the swapped-in tables keep them exact afterwards
    _report(db, "rebuild-after", START, SPOTS[0])
    db.execute(text("DELETE FROM events WHERE client_id = 'rebuild-3'"))
    _assert_rollups_exact(db)
    assert _rows(db, BY_GRID) == [(G1, 11), (G2, 14), (None, 5)]


@pytest.fixture
def committed_events(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        _only_counting_rollup_rows(session)
        build_small_city(session)
        _add_events(session, 12)
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id LIKE 'rebuild-%'"))
        for sql in ("DELETE FROM workers WHERE grid_code LIKE :c || '%'",
                    "DELETE FROM cameras WHERE code LIKE '140213000813100000%'",
                    "DELETE FROM sites WHERE code IN ('S-school', 'S-market')",
                    "DELETE FROM grids WHERE code LIKE :c || '%'",
                    "DELETE FROM admin_areas WHERE code IN (:d, :s, :c)"):
            conn.execute(text(sql), {"c": COMMUNITY, "d": DISTRICT, "s": STREET})


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()")).scalar_one())


def _report_in_thread(engine: Engine, client_id: str, done: dict[str, Any],
                      at: datetime = START) -> threading.Thread:
    """Report an event in G1 at ``at`` in a transaction of its own, in a thread;
    ``done[client_id]`` is set once it committed."""
    def report() -> None:
        with Session(engine) as session, session.begin():
            _report(session, client_id, at, SPOTS[0])  # in G1
        done[client_id] = time.monotonic()

    thread = threading.Thread(target=report)
    thread.start()
    return thread


def test_reports_during_the_job_and_the_refresh_are_counted(
        committed_events: Engine) -> None:
    """The job takes no table lock: a report while it runs commits at once. The refresh
    builds the new rollups without a lock: reports then (on a pending day and on another)
    commit at once and are carried into the new tables under the lock; from the lock to
    the commit a report waits and then lands in the new tables. No count is lost."""
    engine = committed_events
    done: dict[str, Any] = {}
    with Session(engine) as session:
        with session.begin():
            assert assign_events(session, "all").changed == 12
            _report_in_thread(engine, "rebuild-during-job", done).join(timeout=10)
            assert "rebuild-during-job" in done  # did not wait for the job
        with session.begin():
            assert len(pending_refreshes(session)) == 1
            def report_while_building(name: str) -> None:
                if name == "daily":  # the new daily rows built, the writers not locked out
                    for client_id, at in (("rebuild-pending-day", START),
                                          ("rebuild-other-day", START + timedelta(days=40))):
                        _report_in_thread(engine, client_id, done, at).join(timeout=10)
                        assert client_id in done  # did not wait

            refresh_rollups(session, report_while_building)
            racer = _report_in_thread(engine, "rebuild-during-refresh", done)
            deadline = time.monotonic() + 10
            while not _waiting_on_a_lock(engine):  # the report waits for the refresh
                assert time.monotonic() < deadline, "the report did not wait"
                time.sleep(0.05)
            assert "rebuild-during-refresh" not in done
        racer.join(timeout=10)
    assert "rebuild-during-refresh" in done
    with Session(engine) as session:
        assert pending_refreshes(session) == []
        _assert_rollups_exact(session)
        assert _rows(session, BY_GRID) == [(G1, 8), (G2, 6), (None, 2)]
