"""Migration 0033: ``rollup_refresh`` and ``rollup_pending_days``; assignments written without
the bulk setting move the rollups as before (after the upgrade and after the downgrade);
the downgrade refuses while a refresh is pending."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from geo.rollups import RECOUNT_SQL, STORED_SQL
from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

EVENTS = ("INSERT INTO events (client_id, category, reported_at, status, priority,"
          " handling_level, postponements, reworks, valid, due_at, geom) SELECT c, 'garbage',"
          " '2026-11-02T08:00:00Z', 'reported', 'normal', 'grid', 0, 0, true,"
          " '2026-11-03T08:00:00Z', ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
          " FROM unnest(CAST(:ids AS text[])) c")
ASSIGN = ("INSERT INTO event_assignments (event_id, grid_code, community_code, street_code,"
          " district_code, assignment) SELECT id, 'G' || client_id, 'C', 'S', 'D', 'covered'"
          " FROM events WHERE client_id = ANY(:ids) ORDER BY id")
RECOUNT = RECOUNT_SQL.format(where="") + " ORDER BY 1, 2, 3, 4, 5, 6, 7"
STORED = STORED_SQL + " ORDER BY 1, 2, 3, 4, 5, 6, 7"


@pytest.fixture
def at_0032(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0033", "0032") as made:
        yield made


def _assignments_counted(engine: Engine, ids: list[str]) -> None:
    """One event's assignment, then several in one statement: the rollups equal a recount."""
    with engine.begin() as conn:
        conn.execute(text(EVENTS), {"ids": ids})
        conn.execute(text(ASSIGN), {"ids": ids[:1]})
        conn.execute(text(ASSIGN), {"ids": ids[1:]})
        assert [tuple(r) for r in conn.execute(text(STORED))] == [
            tuple(r) for r in conn.execute(text(RECOUNT))]
        assert conn.scalar(text("SELECT count(*) FROM event_daily_counts WHERE grid_code"
                                " IN (SELECT 'G' || unnest(CAST(:ids AS text[])))"
                                " AND events = 1"), {"ids": ids}) == len(ids)


def test_upgrade_then_downgrade(at_0032: tuple[str, Engine]) -> None:
    url, engine = at_0032
    upgrade(url, "0033")
    _assignments_counted(engine, ["a1", "a2", "a3"])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO rollup_refresh (job, days) VALUES"
                          " ('test', ARRAY['2026-11-02', '2026-11-02', '2026-11-03']::date[])"))
        assert conn.execute(text("SELECT day::text FROM rollup_pending_days ORDER BY 1")
                            ).scalars().all() == ["2026-11-02", "2026-11-03"]
    with pytest.raises(DBAPIError, match="rollups pending refresh"):
        command.downgrade(alembic_config(url), "0032")
    with engine.begin() as conn:
        conn.execute(text("UPDATE rollup_refresh SET done_at = now()"))
    command.downgrade(alembic_config(url), "0032")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass('rollup_refresh')")) is None
    _assignments_counted(engine, ["b1", "b2"])
    upgrade(url)
