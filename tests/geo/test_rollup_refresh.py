"""Rollups pending refresh (geo.rollup_refresh, migration 0033): between a first bulk
assignment's commit and its refresh, every reader of the rollups answers over HTTP what it
answers after the refresh (the recount), though the stored rollups are stale; a run killed
after its commit leaves the mark, the readers stay exact, and ``gridlink rollups refresh``
finishes it, as does the API's start-up; an archive refuses a month still pending."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo import assign as assign_mod
from geo.assign import assign_events
from geo.db import engine_for
from geo.errors import Conflict
from geo.event_archive import archive_month
from geo.event_partitions import MonthPartition
from geo.rollup_refresh import mark_pending, pending_refreshes, refresh_rollups
from geo.rollups import RECOUNT_SQL, STORED_COUNTS, daily_source
from geo.settings import get_settings
from tests.conftest import auth
from tests.geo.migration_db import database_at
from tests.geo.test_bulk_rollups import (
    RECOUNT,
    SOURCE,
    STORED,
    _assert_rollups_exact,
    _rows,
    unassigned_city,  # noqa: F401 (a fixture)
)
from tests.geo.test_locate import COMMUNITY, DISTRICT, G1, G2, STREET, build_small_city
from tests.geo.test_rollup_rebuild import BY_GRID, _add_events, _only_counting_rollup_rows

NOV = {"since": "2026-10-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}
READS: list[tuple[str, dict[str, str]]] = [
    *[("/stats", {"level": level, **NOV})  # whole months: the monthly rollups
      for level in ("grid", "community", "street", "district")],
    ("/stats", {"level": "grid", "since": "2026-10-30T00:00:00+08:00",  # partial: events
                "until": "2026-11-10T00:00:00+08:00"}),
    ("/stats/daily", {"since": "2026-10-30", "until": "2026-11-30", "by": "day,grid_code"}),
    ("/stats/daily", {"area": STREET, "since": "2026-10-30", "until": "2026-11-30",
                      "by": "day,category,status"}),
    ("/stats/daily", {"since": "2026-11-02", "until": "2026-11-03",  # some pending days
                      "by": "day,grid_code"}),
    ("/stats/assessment", {"month": "2026-11", "level": "grid"}),
    *[("/dashboard/data", {"area": area, "at": "2026-11-20T12:00:00+08:00"})
      for area in (DISTRICT, STREET, COMMUNITY)],
]
"""Every reader of the rollups over HTTP: /stats (monthly rollups; daily ones for the grids'
open events), /stats/daily (daily), the assessment table (monthly), the dashboard (daily,
per-area, daily rates)."""


def _answers(client: TestClient, keys: dict[str, str]) -> list[Any]:
    answers = []
    for path, params in READS:
        answer = client.get(path, headers=auth(keys, "admin"), params=params)
        assert answer.status_code == 200, (path, params, answer.text)
        answers.append(answer.json())
    return answers


@pytest.mark.parametrize("in_memory", [False, True], ids=["sql-steps", "in-memory"])
def test_readers_over_http_are_exact_between_the_commit_and_the_refresh(
        unassigned_city: Session, client: TestClient,  # noqa: F811
        keys: dict[str, str], in_memory: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both engines; the in-memory one inserts a first assignment straight from its stage
    (geo.event_assignments.write_first_assignment) and, with a mark already pending (here
    of a day without events), leaves its days pending too instead of writing its rollups
    (geo.first_assignment_rollups)."""
    db = unassigned_city
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0 if in_memory else 10**9)
    _only_counting_rollup_rows(db)
    if in_memory:
        mark_pending(db, "test: a day without events", "SELECT DATE '2026-10-01'")
    before = _answers(client, keys)
    assert assign_events(db, "all").changed == 60
    assert len(pending_refreshes(db)) == 1 + in_memory
    assert _rows(db, BY_GRID) == [(None, 60)]  # the stored rollups: not moved yet
    assert _rows(db, STORED) != _rows(db, RECOUNT)
    assert _rows(db, SOURCE) == _rows(db, RECOUNT)  # what readers read
    pending = _answers(client, keys)
    assert pending != before
    grid_rows = {r["unit"]: r["accepted"] for r in pending[0]["units"]}
    assert grid_rows == {G1: 20, G2: 30}  # 10 snapped into G2; 10 outside every grid
    refresh_rollups(db)
    _assert_rollups_exact(db)
    assert _answers(client, keys) == pending


PERIODS = [(date(2026, 10, 31), date(2026, 10, 31)), (date(2026, 11, 2), date(2026, 11, 3)),
           (date(2026, 10, 1), date(2026, 11, 30)), (date(2026, 11, 20), date(2026, 11, 30))]
"""Periods around the pending days of ``unassigned_city`` (2026-10-30 to 11-17): one of its
events is reported at 2026-11-02 00:00 local time, the first instant of the second period."""
_NON_ZERO = " OR ".join(f"{c} <> 0" for c in STORED_COUNTS)
PERIOD_SOURCE = (f"SELECT * FROM {daily_source(':first', ':last')} s"
                 f" WHERE day BETWEEN :first AND :last AND ({_NON_ZERO})"
                 " ORDER BY 1, 2, 3, 4, 5, 6, 7")
PERIOD_RECOUNT = RECOUNT_SQL.format(
    where="WHERE gridlink_local_day(e.reported_at) BETWEEN :first AND :last"
) + " ORDER BY 1, 2, 3, 4, 5, 6, 7"
PENDING_DAYS_READ = (f"SELECT DISTINCT day FROM {daily_source(':first', ':last')} s"
                     " WHERE day BETWEEN '2026-10-30' AND '2026-11-17' ORDER BY 1")
"""The pending days a reader of the period reads: from the recount only (the source leaves
out the stored rows of pending days), so only those it recounts."""


def test_a_reader_of_a_period_recounts_its_pending_days_only(
        unassigned_city: Session) -> None:  # noqa: F811
    """The source of a period (geo.rollups.daily_source) recounts the pending days inside it,
    bounded by ``reported_at`` at local midnight, and equals a recount of the period before
    and after the refresh."""
    db = unassigned_city
    _only_counting_rollup_rows(db)
    assign_events(db, "all")
    pending = {}
    for first, last in PERIODS:
        params = {"first": first, "last": last}
        pending[first] = _rows(db, PERIOD_SOURCE, params)
        assert pending[first] == _rows(db, PERIOD_RECOUNT, params)
        recounted = [d for (d,) in _rows(db, PENDING_DAYS_READ, params)]
        assert recounted == [d for d in _days(date(2026, 10, 30), date(2026, 11, 17))
                             if first <= d <= last]
    assert sum(cast(int, r[7]) for r in pending[date(2026, 11, 2)]) == 7  # 11-02 00:00 included
    refresh_rollups(db)
    for first, last in PERIODS:
        assert _rows(db, PERIOD_SOURCE, {"first": first, "last": last}) == pending[first]
    mark_pending(db, "again", "SELECT DATE '2026-11-02'")  # a second refresh, same transaction
    assert refresh_rollups(db).days == 1
    _assert_rollups_exact(db)


ON_DAY = "SELECT sum(events)::int FROM event_daily_counts WHERE day = :day"


@pytest.mark.parametrize("marked", [["2026-11-01", "2026-11-03"],
                                    ["2026-11-01", "2026-11-02", "2026-11-03"]],
                         ids=["with-a-gap", "gapless"])
def test_the_refresh_recounts_the_pending_days_only(
        unassigned_city: Session, marked: list[str]) -> None:  # noqa: F811
    """Days pending with a gap: the day in the gap keeps its stored rows (as an archived
    month's, which no event holds any more); days without a gap are the whole period
    (geo.rollup_refresh.new_daily_rows reads it without the per-day filter): all of them
    recounted."""
    db = unassigned_city
    _only_counting_rollup_rows(db)
    assign_events(db, "all")
    refresh_rollups(db)
    gap = {"day": date(2026, 11, 2)}
    counted = db.execute(text(ON_DAY), gap).scalar_one()
    assert counted == 4
    db.execute(text("UPDATE event_daily_counts SET events = events + 100"  # counts no event
                    " WHERE ctid = (SELECT min(ctid) FROM event_daily_counts WHERE day = :day)"),
               gap)
    assert db.execute(text(ON_DAY), gap).scalar_one() == 104
    mark_pending(db, "test", "SELECT unnest(CAST(:days AS date[]))",
                 {"days": [date.fromisoformat(d) for d in marked]})
    assert refresh_rollups(db).days == len(marked)
    assert db.execute(text(ON_DAY), gap).scalar_one() == (104 if len(marked) == 2 else 4)
    others = ("SELECT * FROM event_daily_counts WHERE day <> '2026-11-02' AND"
              f" ({_NON_ZERO}) ORDER BY 1, 2, 3, 4, 5, 6, 7")
    recount = (f"SELECT * FROM ({RECOUNT_SQL.format(where='')}) r WHERE day <> '2026-11-02'"
               " ORDER BY 1, 2, 3, 4, 5, 6, 7")
    assert _rows(db, others) == _rows(db, recount)


@pytest.mark.parametrize("pending", [date(1990, 7, 1), date(1990, 7, 2)])
def test_a_day_of_summer_time_is_recounted_by_its_local_bounds(
        unassigned_city: Session, pending: date) -> None:  # noqa: F811
    """1990-07-01 15:30 UTC is 07-02 00:30 in Asia/Shanghai (summer time, UTC+9), though
    inside 07-01 at a fixed +08:00: the refresh of the pending day 07-01 (or 07-02) alone
    leaves it on 07-02, as the rollup triggers counted it."""
    db = unassigned_city
    _only_counting_rollup_rows(db)
    db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES ('summer', 'garbage',"
        " '1990-07-01 15:30+00', 'reported', 'normal', ST_SetSRID(ST_MakePoint(113.3005,"
        " 40.0805), 4326), 'grid', 0, 0, true)"))
    mark_pending(db, "summer", "SELECT CAST(:day AS date)", {"day": pending})
    assert refresh_rollups(db).days == 1
    assert _rows(db, "SELECT day, events FROM event_daily_counts WHERE day < '2000-01-01'"
                     " AND events <> 0") == [(date(1990, 7, 2), 1)]
    assert _rows(db, STORED) == _rows(db, RECOUNT)


def _days(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


def test_an_archive_refuses_a_month_pending_refresh(unassigned_city: Session) -> None:  # noqa: F811
    db = unassigned_city
    _only_counting_rollup_rows(db)
    assign_events(db, "all")
    november = MonthPartition(date(2026, 11, 1), "events_default")
    with pytest.raises(Conflict, match="pending refresh"):
        archive_month(db, november, get_settings().home / "never-written")
    refresh_rollups(db)
    assert pending_refreshes(db) == []


@pytest.fixture
def refresh_db(database_url: str, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[tuple[str, Engine]]:
    """A database of its own: the small city and 12 never-assigned events, committed."""
    with database_at(database_url, "refresh") as (url, engine):
        with Session(engine) as session, session.begin():
            build_small_city(session)
            _add_events(session, 12)
        monkeypatch.setenv("GRIDLINK_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url, engine
        engine_for(url).dispose()
    get_settings.cache_clear()


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()")).scalar_one())


def _gridlink(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args],
                            env={**os.environ, "GRIDLINK_DATABASE_URL": url},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_run_killed_after_its_commit_is_refreshed_later(
        refresh_db: tuple[str, Engine]) -> None:
    url, engine = refresh_db
    with engine.connect() as holder:  # the refresh's EXCLUSIVE lock waits for this one
        holder.execute(text("LOCK TABLE event_daily_counts IN SHARE MODE"))
        run = _gridlink(url, "assign", "--all")
        deadline = time.monotonic() + 120
        while True:  # committed, then waiting in its refresh: kill it there
            with Session(engine) as session:
                if pending_refreshes(session) and _waiting_on_a_lock(engine):
                    break
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.05)
        run.kill()
        run.wait()
        holder.rollback()
    while _waiting_on_a_lock(engine):  # the killed run's backend notices and rolls back
        time.sleep(0.05)
    with Session(engine) as session:
        [mark] = pending_refreshes(session)
        assert (mark.job, len(mark.days)) == ("bulk assignment of 12 events", 5)
        assert _rows(session, "SELECT count(*) FROM event_assignments") == [(12,)]
        assert _rows(session, BY_GRID) == [(None, 12)]  # stale, and marked
        assert _rows(session, SOURCE) == _rows(session, RECOUNT)  # readers stay exact
    refresh = _gridlink(url, "rollups", "refresh")
    output = refresh.communicate(timeout=120)[0]
    assert refresh.returncode == 0, output
    assert "rollups refreshed: 1 pending job(s), 5 local day(s) recounted" in output
    with Session(engine) as session:
        assert pending_refreshes(session) == []
        assert _rows(session, STORED) == _rows(session, RECOUNT)
        assert _rows(session, BY_GRID) == [(G1, 4), (G2, 6), (None, 2)]
    again = _gridlink(url, "rollups", "refresh")
    assert "no rollups pending refresh" in again.communicate(timeout=120)[0]


def test_the_app_refreshes_what_is_pending_when_it_starts(
        refresh_db: tuple[str, Engine]) -> None:
    _, engine = refresh_db
    with Session(engine) as session, session.begin():  # committed, never refreshed
        assert assign_events(session, "all").changed == 12
    with Session(engine) as session:
        assert len(pending_refreshes(session)) == 1
    with TestClient(create_app(ApiSettings())):
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as session:
                if not pending_refreshes(session):
                    break
            assert time.monotonic() < deadline, "not refreshed at start-up"
            time.sleep(0.05)
    with Session(engine) as session:
        assert _rows(session, STORED) == _rows(session, RECOUNT)
        assert _rows(session, BY_GRID) == [(G1, 4), (G2, 6), (None, 2)]
