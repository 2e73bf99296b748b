"""Migration 0005 (audit trail, browser sessions) upgrades and downgrades cleanly, on a
database of its own (created from the test cluster, dropped at the end)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from cli.cluster import fresh_database
from geo.schema import alembic_config, upgrade

NAME = f"gridlink_migration_audit_{os.getpid()}"


@pytest.fixture
def migrated(database_url: str) -> Iterator[tuple[str, Engine]]:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    url = fresh_database(server, NAME)
    upgrade(url)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


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
