"""Migration 0007 fills the daily rollups from the events already stored, keeps them from
then on, and its downgrade removes table, triggers and functions (a database of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"


@pytest.fixture
def at_0006(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0007", "0006") as made:
        yield made


def _insert_event(conn: object, client_id: str, at: str) -> int:
    return int(conn.execute(text(  # type: ignore[attr-defined]
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES"
        f" (:c, 'garbage', :at, 'reported', 'normal', {POINT}, 'grid', 0, 0, true)"
        " RETURNING id"), {"c": client_id, "at": at}).scalar_one())


def test_rollups_are_backfilled_kept_and_removed(at_0006: tuple[str, Engine]) -> None:
    url, engine = at_0006
    with engine.begin() as conn:
        first = _insert_event(conn, "a", "2026-11-02T20:00:00Z")  # 3 Nov in Beijing
        _insert_event(conn, "b", "2026-11-02T10:00:00Z")          # 2 Nov in Beijing
        conn.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                          " VALUES (:e, 'G1', 'covered')"), {"e": first})
    upgrade(url)
    count = ("SELECT day::text, grid_code, status, events FROM event_daily_counts"
             " WHERE events <> 0 ORDER BY day, grid_code")
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(count))] == [
            ("2026-11-02", None, "reported", 1), ("2026-11-03", "G1", "reported", 1)]
        conn.execute(text("UPDATE events SET status = 'closed' WHERE client_id = 'a'"))
        assert [tuple(r) for r in conn.execute(text(count))] == [
            ("2026-11-02", None, "reported", 1), ("2026-11-03", "G1", "closed", 1)]
    command.downgrade(alembic_config(url), "0006")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('event_daily_counts')")).scalar() is None
        assert conn.execute(text(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE '%roll_up%'"
            " OR proname IN ('gridlink_local_day', 'event_daily_counts_add')")).scalar() == 0
        conn.execute(text("UPDATE events SET status = 'reported'"))  # no trigger left
