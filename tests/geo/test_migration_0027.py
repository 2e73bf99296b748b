"""Migration 0027 recounts the daily rollups with the closed cases' postponed and first-time
counts, fills the monthly rollups from them and keeps both on write; its downgrade gives back
0017's triggers and drops the monthly table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
DAILY = ("SELECT day::text, status, events, closed_postponed, closed_first_time"
         " FROM event_daily_counts WHERE events <> 0 ORDER BY day, status")
MONTHLY = ("SELECT month::text, events, valid, handled, closed, closed_on_time,"
           " closed_postponed, closed_first_time FROM event_monthly_counts ORDER BY month")


@pytest.fixture
def at_0025(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0027", "0025") as made:
        yield made


def _insert_event(conn: object, client_id: str, at: str, status: str, postponed: int,
                  reworks: int) -> None:
    conn.execute(text(  # type: ignore[attr-defined]
        "INSERT INTO events (client_id, category, reported_at, due_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid, closed_at) VALUES"
        f" (:c, 'garbage', :at, CAST(:at AS timestamptz) + interval '2 hours', :s, 'normal',"
        f" {POINT}, 'grid', :p, :r, true,"
        " CASE WHEN :s = 'closed' THEN CAST(:at AS timestamptz) + interval '1 hour' END)"),
        {"c": client_id, "at": at, "s": status, "p": postponed, "r": reworks})


def test_closed_counts_and_months_are_recounted_kept_and_removed(
        at_0025: tuple[str, Engine]) -> None:
    url, engine = at_0025
    with engine.begin() as conn:  # 30 Nov and 1 Dec in Beijing
        _insert_event(conn, "a", "2026-11-30T02:00:00Z", "closed", 1, 0)
        _insert_event(conn, "b", "2026-11-30T17:00:00Z", "closed", 0, 0)
        _insert_event(conn, "c", "2026-11-30T18:00:00Z", "resolved", 0, 1)
    upgrade(url)
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(DAILY))] == [
            ("2026-11-30", "closed", 1, 1, 1), ("2026-12-01", "closed", 1, 0, 1),
            ("2026-12-01", "resolved", 1, 0, 0)]
        assert [tuple(r) for r in conn.execute(text(MONTHLY))] == [
            ("2026-11-01", 1, 1, 1, 1, 1, 1, 1), ("2026-12-01", 2, 2, 2, 1, 1, 0, 1)]
        conn.execute(text("UPDATE events SET status = 'closed', closed_at = reported_at"
                          " WHERE client_id = 'c'"))  # reworked once: not first time
        conn.execute(text("DELETE FROM events WHERE client_id = 'a'"))
        assert [tuple(r) for r in conn.execute(text(MONTHLY))] == [
            ("2026-11-01", 0, 0, 0, 0, 0, 0, 0), ("2026-12-01", 2, 2, 2, 2, 2, 0, 1)]
    command.downgrade(alembic_config(url), "0025")
    with engine.begin() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM information_schema.columns WHERE table_name ="
            " 'event_daily_counts' AND column_name IN ('closed_postponed', 'closed_first_time')"
        )).scalar() == 0
        assert conn.execute(text(
            "SELECT to_regclass('event_monthly_counts') IS NULL")).scalar() is True
        conn.execute(text("UPDATE events SET status = 'resolved' WHERE client_id = 'b'"))
        assert [tuple(r) for r in conn.execute(text(
            "SELECT day::text, status, events, valid, due FROM event_daily_counts"
            " WHERE events <> 0 ORDER BY 1, 2"))] == [
            ("2026-12-01", "closed", 1, 1, 1), ("2026-12-01", "resolved", 1, 1, 1)]
