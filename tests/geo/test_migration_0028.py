"""Migration 0028 adds the partial GiST index of open events (not closed or rejected) that
the grids' open-event counts read (geo.grid_counts); its downgrade drops it and an upgrade
again works (a database of its own)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from geo.grid_counts import COUNTS_OF
from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

INDEX = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_open_geom'"
PARTITION_INDEXES = ("SELECT count(*) FROM pg_inherits"
                     " WHERE inhparent = 'ix_events_open_geom'::regclass")
PARTITIONS = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
GRID = ("SELECT 'g' AS id, 'g' AS code, ST_GeomFromText("
        "'MULTIPOLYGON(((113 40,113.01 40,113.01 40.01,113 40.01,113 40)))', 4326) AS geom")


def test_open_events_index_is_read_by_grid_counts_and_goes_down_and_up(
        database_url: str) -> None:
    with database_at(database_url, "0028") as (url, engine):
        with engine.begin() as conn:
            assert conn.execute(text(INDEX)).scalar_one() == (
                "CREATE INDEX ix_events_open_geom ON ONLY public.events USING gist (geom)"
                " WHERE (status <> ALL (ARRAY['closed'::text, 'rejected'::text]))")
            assert conn.execute(text(PARTITION_INDEXES)).scalar_one() == conn.execute(
                text(PARTITIONS)).scalar_one() > 0
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(conn.execute(text(
                "EXPLAIN " + COUNTS_OF.format(grids=GRID))).scalars())
            copies = conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"
                                       " WHERE inhparent = 'ix_events_open_geom'::regclass"
                                       )).scalars().all()
            assert any(f"Index Scan using {copy} on" in plan for copy in copies), plan
        command.downgrade(alembic_config(url), "0027")
        with engine.begin() as conn:
            assert conn.execute(text(INDEX)).all() == []
        upgrade(url)
        with engine.begin() as conn:
            assert len(conn.execute(text(INDEX)).all()) == 1
