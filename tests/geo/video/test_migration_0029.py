"""Migration 0029 creates roads and entrances (with their width check); its downgrade drops
them and an upgrade again works (a database of its own)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

TABLES = ("SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_tables"
          " WHERE tablename IN ('roads', 'entrances')")
ROAD = ("INSERT INTO roads (code, kind, width_m, geom) VALUES ('R1', '支路', :w,"
        " ST_GeomFromText('MULTILINESTRING((113.3 40.08, 113.31 40.08))', 4326))")


def test_roads_and_entrances_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0029") as (url, engine):
        with engine.begin() as conn:
            conn.execute(text(ROAD), {"w": 12.0})
            conn.execute(text("INSERT INTO entrances (code, site_code, geom) VALUES ('G1', 'S1',"
                              " ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326))"))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE roads SET width_m = 0"))
        command.downgrade(alembic_config(url), "0028")
        with engine.begin() as conn:
            assert conn.execute(text(TABLES)).scalar_one() is None
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text(TABLES)).scalar_one() == ["entrances", "roads"]
            conn.execute(text(ROAD), {"w": None})
