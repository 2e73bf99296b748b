"""Migration 0017 recounts the daily rollups with their rate counts (valid, due, closed on
time), keeps them on write, and its downgrade gives back 0007's triggers and counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
COUNTS = ("SELECT day::text, status, events, valid, due, closed_on_time"
          " FROM event_daily_counts WHERE events <> 0 ORDER BY day, status")


@pytest.fixture
def at_0014(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0017", "0014") as made:
        yield made


def _insert_event(conn: object, client_id: str, at: str, due: str, status: str) -> None:
    conn.execute(text(  # type: ignore[attr-defined]
        "INSERT INTO events (client_id, category, reported_at, due_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid, closed_at) VALUES"
        f" (:c, 'garbage', :at, :due, :s, 'normal', {POINT}, 'grid', 0, 0, true,"
        " CASE WHEN :s = 'closed' THEN CAST(:at AS timestamptz) + interval '1 hour' END)"),
        {"c": client_id, "at": at, "due": due, "s": status})


def test_rate_counts_are_recounted_kept_and_removed(at_0014: tuple[str, Engine]) -> None:
    url, engine = at_0014
    with engine.begin() as conn:  # 3 Nov in Beijing; due 3 Nov 10:00 and 5 Nov in Beijing
        _insert_event(conn, "a", "2026-11-02T20:00:00Z", "2026-11-03T02:00:00Z", "closed")
        _insert_event(conn, "b", "2026-11-02T21:00:00Z", "2026-11-05T00:00:00Z", "reported")
    upgrade(url)
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(COUNTS))] == [
            ("2026-11-03", "closed", 1, 1, 1, 1), ("2026-11-03", "reported", 1, 1, 0, 0)]
        conn.execute(text("UPDATE events SET due_at = '2026-11-03T10:00:00Z'"
                          " WHERE client_id = 'b'"))  # due 3 Nov 18:00 in Beijing: due
        conn.execute(text("UPDATE events SET valid = false WHERE client_id = 'a'"))
        assert [tuple(r) for r in conn.execute(text(COUNTS))] == [
            ("2026-11-03", "closed", 1, 0, 0, 0), ("2026-11-03", "reported", 1, 1, 1, 0)]
    command.downgrade(alembic_config(url), "0014")
    with engine.begin() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM information_schema.columns WHERE table_name ="
            " 'event_daily_counts' AND column_name IN ('valid', 'due', 'closed_on_time')"
        )).scalar() == 0
        assert conn.execute(text(
            "SELECT count(*) FROM pg_proc WHERE proname IN ('gridlink_valid_flag',"
            " 'gridlink_day_due', 'gridlink_on_time')")).scalar() == 0
        conn.execute(text("UPDATE events SET status = 'closed' WHERE client_id = 'b'"))
        conn.execute(text("DELETE FROM events WHERE client_id = 'a'"))
        assert [tuple(r) for r in conn.execute(text(
            "SELECT day::text, status, events FROM event_daily_counts WHERE events <> 0"))] == [
            ("2026-11-03", "closed", 1)]
