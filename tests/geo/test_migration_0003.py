"""Migration 0003 moves existing assignments out of ``events`` and back on downgrade, on a
database of its own (created from the test cluster, dropped at the end)."""

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
def at_0002(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0003", "0002") as made:
        yield made


def test_assignments_survive_upgrade_and_downgrade(at_0002: tuple[str, Engine]) -> None:
    url, engine = at_0002
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid, grid_code, community_code,"
            " assignment, camera_codes, nearest_distance_m) VALUES"
            f" ('a', 'garbage', now(), 'reported', 'normal', {POINT}, 'grid', 0, 0, true,"
            " '140213001001001', '140213001001', 'covered', '{C1,C2}', NULL),"
            f" ('b', 'garbage', now(), 'reported', 'normal', {POINT}, 'grid', 0, 0, true,"
            " NULL, NULL, NULL, NULL, NULL)"))
    upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT client_id, grid_code, community_code, assignment, camera_codes"
            " FROM events_with_assignment ORDER BY client_id")).all()
        assert [tuple(r) for r in rows] == [
            ("a", "140213001001001", "140213001001", "covered", ["C1", "C2"]),
            ("b", None, None, None, None)]
        assert conn.execute(text("SELECT count(*) FROM event_assignments")).scalar_one() == 1
        columns = conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
        )).scalars().all()
        assert "grid_code" not in columns
    command.downgrade(alembic_config(url), "0002")
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT client_id, grid_code, assignment, camera_codes FROM events"
            " ORDER BY client_id")).all()
        assert [tuple(r) for r in rows] == [
            ("a", "140213001001001", "covered", ["C1", "C2"]), ("b", None, None, None)]
