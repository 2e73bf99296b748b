"""Migration 0011: each committed transaction that writes grids, cameras or buildings bumps
that layer's revision once (however many rows), a rolled-back one does not, and the
downgrade removes table, triggers and function (a database of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config
from tests.geo.migration_db import database_at

CAMERA = ("INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m, status,"
          " geom) VALUES (:c, 'cam', 'fixed', 0, 60, 100, 'online',"
          " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326))")
REVISIONS = "SELECT layer, revision FROM layer_revisions ORDER BY layer"


@pytest.fixture
def at_head(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0011") as made:
        yield made


def test_one_bump_per_committed_transaction_and_table(at_head: tuple[str, Engine]) -> None:
    url, engine = at_head
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(REVISIONS))] == [
            ("buildings", 0), ("cameras", 0), ("grids", 0)]
    with engine.begin() as conn:  # three statements, four rows, one transaction
        conn.execute(text(CAMERA), [{"c": "1"}, {"c": "2"}])
        conn.execute(text(CAMERA), {"c": "3"})
        conn.execute(text("UPDATE cameras SET status = 'offline' WHERE code = '1'"))
        assert conn.execute(text(REVISIONS)).all()[1][1] == 0  # counted at commit
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(text("DELETE FROM cameras"))
        tx.rollback()
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(REVISIONS))] == [
            ("buildings", 0), ("cameras", 1), ("grids", 0)]
        conn.execute(text("TRUNCATE cameras CASCADE"))  # camera_presets refer to cameras
    with engine.begin() as conn:
        assert conn.execute(text(REVISIONS)).all()[1][1] == 2
    command.downgrade(alembic_config(url), "0007")
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT to_regclass('layer_revisions')")) is None
        assert conn.scalar(text("SELECT count(*) FROM pg_proc"
                                " WHERE proname = 'bump_layer_revision'")) == 0
        conn.execute(text(CAMERA), {"c": "4"})  # writes work without the triggers
