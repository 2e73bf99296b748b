"""Migration 0021 adds ``events.import_id`` and the ``event_import_ids`` sequence without
touching the stored events; its downgrade removes both and an upgrade again works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

COLUMN = ("SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' "
          "AND column_name = 'import_id'")
SEQUENCE = "SELECT count(*) FROM pg_class WHERE relname = 'event_import_ids'"


def test_import_id_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0021", "0018") as (url, engine):
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO events (client_id, category, reported_at, status, priority, geom, "
                "handling_level, postponements, reworks, valid) VALUES ('E1', 'garbage', "
                "'2024-03-01T08:00:00+08:00', 'reported', 'normal', "
                "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid', 0, 0, true)"))
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT client_id, import_id FROM events")).one() == (
                "E1", None)
            assert conn.execute(text("SELECT nextval('event_import_ids')")).scalar_one() == 1
        command.downgrade(alembic_config(url), "0018")
        with engine.begin() as conn:
            assert (conn.execute(text(COLUMN)).scalar_one(),
                    conn.execute(text(SEQUENCE)).scalar_one()) == (0, 0)
            assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
        upgrade(url)
        with engine.begin() as conn:
            assert (conn.execute(text(COLUMN)).scalar_one(),
                    conn.execute(text(SEQUENCE)).scalar_one()) == (1, 1)
