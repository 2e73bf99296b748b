"""Migration 0006 (#13) goes up and back down on a database of its own: camera states,
event states, first_time, district_crs, media_deductions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"


@pytest.fixture
def at_0005(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "files", "0005") as made:
        yield made


def test_upgrade_then_downgrade(at_0005: tuple[str, Engine]) -> None:
    url, engine = at_0005
    upgrade(url, "0006")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m, "
            f"status, geom) VALUES ('C1', 'c', 'fixed', 0, 60, 100, 'fault', {POINT})"))
        conn.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid, first_time) VALUES"
            f" ('a', 'x', now(), 'closed', 'normal', {POINT}, 'grid', 0, 0, true, false)"))
        conn.execute(text("INSERT INTO district_crs (district_code, srid) VALUES ('650102', "
                          "4538)"))
        conn.execute(text("INSERT INTO media_deductions (unit, month, points) VALUES "
                          "('城管局', '2026-11-01', 2)"))
        assert conn.scalar(text("SELECT first_time FROM events_with_assignment")) is False
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES"
            f" ('b', 'x', now(), 'bogus', 'normal', {POINT}, 'grid', 0, 0, true)"))
    command.downgrade(alembic_config(url), "0005")
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT status FROM cameras")) == "offline"
        assert conn.scalar(text("SELECT to_regclass('district_crs')")) is None
        columns = conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = "
            "'events_with_assignment'")).scalars().all()
        assert "first_time" not in columns and "grid_code" in columns
    upgrade(url)
