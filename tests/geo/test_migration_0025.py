"""Migration 0025: events in the change feed. The events stored before are recorded once;
each written event is recorded without a lock; a reader gets a transaction's events once it
has ended, so an event whose transaction began earlier but commits later comes in a later
page, never skipped, and holds back nothing else; the downgrade removes table, triggers and
functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from geo.changes import changes_since
from geo.errors import NotFound
from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at


@pytest.fixture
def at_0018(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0025", "0018") as made:
        yield made


def _event(conn: Connection, client_id: str, day: int = 1, month: int = 11) -> int:
    """An event reported on ``day`` of ``month`` 2026 (the rollups queue two writers of one
    row: the daily ones (0007) of the same day and category, the monthly ones (0027) of the
    same month and grid: different months here)."""
    return int(conn.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, handling_level,"
        " postponements, reworks, valid, geom) VALUES (:c, '占道经营', :at,"
        " 'reported', 'normal', 'grid', 0, 0, true,"
        " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)) RETURNING id"),
        {"c": client_id, "at": f"2026-{month:02d}-{day:02d}T08:00:00Z"}).scalar_one())


def _feed(engine: Engine, since: str) -> tuple[list[tuple[Any, ...]], str]:
    """(client id or None, op) per entry after ``since``, and the next cursor."""
    with Session(engine) as session:
        page = changes_since(session, "events", since)
    return [((c["feature"] or {}).get("properties", {}).get("client_id"), c["op"])
            for c in page.changes], str(page.next)


def test_events_feed_skips_no_late_commit_and_waits_for_nobody(
        at_0018: tuple[str, Engine]) -> None:
    url, engine = at_0018
    with engine.begin() as conn:
        first_id = _event(conn, "E1")
        _event(conn, "E2")
    upgrade(url)
    seen, cursor = _feed(engine, "0")
    assert seen == [("E1", "upsert"), ("E2", "upsert")]

    with engine.connect() as early, engine.connect() as late:
        early.begin()
        _event(early, "E3", 2, month=10)    # takes its transaction id first ...
        with late.begin():
            _event(late, "E4", 3)           # ... this one commits first, without waiting
            late.execute(text("UPDATE events SET status = 'dispatched' WHERE id = :i"),
                         {"i": first_id})
        seen, cursor = _feed(engine, cursor)  # E3's writer still runs: not held back
        assert seen == [("E4", "upsert"), ("E1", "upsert")]
        assert _feed(engine, cursor) == ([], cursor)
        early.commit()
    seen, after = _feed(engine, cursor)
    assert seen == [("E3", "upsert")]  # began first, committed last: in the next page

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id = 'E2'"))
    seen, last = _feed(engine, after)
    assert seen == [(None, "delete")] and _feed(engine, last)[0] == []

    command.downgrade(alembic_config(url), "0018")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('event_changes')")).scalar() is None
        assert conn.execute(text(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'event_changes%'")).scalar() == 0
        _event(conn, "E5")  # no trigger left


def test_anonymous_public_reads_do_not_see_the_events_feed(db: Session) -> None:
    with pytest.raises(NotFound) as raised:
        changes_since(db, "events", "0", role=None)
    assert raised.value.details == [{"field": "collectionId", "value": "events"}]
    assert changes_since(db, "grids", 0, role=None).layer == "grids"
