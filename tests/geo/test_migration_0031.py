"""Migration 0031: a row moved to another month's partition leaves its old rollup key once
(before it: twice); deletes still count out; the downgrade gives back the row trigger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

DAILY = ("SELECT day::text, sum(events)::int FROM event_daily_counts GROUP BY day"
         " HAVING sum(events) <> 0 ORDER BY day")
MOVE = "UPDATE events SET reported_at = :at WHERE client_id = :c"


@pytest.fixture
def at_0029(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0031", "0029") as made:
        yield made


def _insert_event(conn: Connection, client_id: str, at: str) -> None:
    conn.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', :at,"
        " 'reported', 'normal', ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid', 0, 0,"
        " true)"), {"c": client_id, "at": at})


def _partitions_for_two_months(conn: Connection) -> None:
    conn.execute(text("SELECT events_month_partition('2026-11-01'),"
                      " events_month_partition('2026-12-01')"))


def test_row_movement_counts_once_and_downgrade_restores(at_0029: tuple[str, Engine]) -> None:
    url, engine = at_0029
    with engine.begin() as conn:
        _partitions_for_two_months(conn)
        _insert_event(conn, "a", "2026-11-10T02:00:00Z")
        conn.execute(text(MOVE), {"at": "2026-12-10T02:00:00Z", "c": "a"})
        # before: the row trigger and the update's statement trigger both take it out
        assert [tuple(r) for r in conn.execute(text(DAILY))] == [
            ("2026-11-10", -1), ("2026-12-10", 1)]
        conn.execute(text("UPDATE event_daily_counts SET events = 0 WHERE day = '2026-11-10'"))
    upgrade(url)
    with engine.begin() as conn:
        _insert_event(conn, "b", "2026-11-11T02:00:00Z")
        conn.execute(text(MOVE), {"at": "2026-12-11T02:00:00Z", "c": "b"})
        assert [tuple(r) for r in conn.execute(text(DAILY))] == [
            ("2026-12-10", 1), ("2026-12-11", 1)]
        conn.execute(text("DELETE FROM events WHERE client_id IN ('a', 'b')"))
        assert [tuple(r) for r in conn.execute(text(DAILY))] == []
    command.downgrade(alembic_config(url), "0029")
    with engine.begin() as conn:
        _insert_event(conn, "c", "2026-11-12T02:00:00Z")
        conn.execute(text("DELETE FROM events WHERE client_id = 'c'"))
        assert [tuple(r) for r in conn.execute(text(DAILY))] == []
        triggers = conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass"
            " AND tgname IN ('events_roll_up_delete', 'events_count_deleted')")).scalars()
        assert list(triggers) == ["events_roll_up_delete"]
