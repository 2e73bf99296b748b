"""Migration 0005 (audit trail, browser sessions) upgrades and downgrades cleanly, on a
database of its own (created from the test cluster, dropped at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at


@pytest.fixture
def migrated(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "audit") as made:
        yield made


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(text(
            "SELECT tablename FROM pg_tables WHERE tablename IN ('audit_log', "
            "'browser_sessions')")))


def test_downgrade_removes_and_upgrade_restores(migrated: tuple[str, Engine]) -> None:
    url, engine = migrated
    assert _tables(engine) == {"audit_log", "browser_sessions"}
    command.downgrade(alembic_config(url), "0004")
    assert _tables(engine) == set()
    with engine.begin() as conn:  # the audited tables work without their triggers
        conn.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m, "
            "status, geom) VALUES ('C1', 'c', 'fixed', 0, 60, 100, 'online', "
            "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326))"))
    upgrade(url)
    assert _tables(engine) == {"audit_log", "browser_sessions"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE cameras SET name = 'renamed' WHERE code = 'C1'"))
        row = conn.execute(text("SELECT actor, action, entity, entity_id, before->>'name', "
                                "after->>'name' FROM audit_log")).one()
        user = conn.scalar(text("SELECT current_user"))
    assert tuple(row) == (f"database user {user}", "update", "cameras", "C1", "c", "renamed")
