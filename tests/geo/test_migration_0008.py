"""Migration 0008 adds camera views and key areas to a database with events and keys, and
its downgrade removes them (a database of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

BEFORE = str(ScriptDirectory.from_config(alembic_config("")).get_revision("0008").down_revision)
"""The revision 0008 follows (the integrator may re-chain it)."""


@pytest.fixture
def before_0008(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0008", BEFORE) as made:
        yield made


def test_camera_views_and_key_areas_come_and_go(before_0008: tuple[str, Engine]) -> None:
    url, engine = before_0008
    with engine.begin() as conn:
        event = conn.execute(text(
            "INSERT INTO events (category, reported_at, status, priority, geom, handling_level,"
            " postponements, reworks, valid) VALUES ('alarm', '2026-11-03T04:00:00Z',"
            " 'reported', 'urgent', ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid',"
            " 0, 0, true) RETURNING id")).scalar_one()
        conn.execute(text("INSERT INTO api_keys (name, role, prefix, key_hash) VALUES"
                          " ('old', 'viewer', 'gl_old1', 'h')"))
    upgrade(url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT area_code FROM api_keys")).scalar_one() is None
        conn.execute(text("INSERT INTO event_camera_views (event_id, camera_code, actor)"
                          " VALUES (:e, 'C1', '调度')"), {"e": event})
        conn.execute(text("DELETE FROM events WHERE id = :e"), {"e": event})
        assert conn.execute(text("SELECT count(*) FROM event_camera_views")).scalar() == 0
    command.downgrade(alembic_config(url), BEFORE)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('event_camera_views')")).scalar() is None
        assert conn.execute(text(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'api_keys'"
            " AND column_name = 'area_code'")).scalar() == 0
