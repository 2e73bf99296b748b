"""Migration 0023 adds the partial index of open valid cases by due time (the dashboard's
overdue list reads through it); its downgrade drops it and an upgrade again works (a
database of its own)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

INDEX = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_open_due'"
PARTITION_INDEXES = ("SELECT inhrelid::regclass::text FROM pg_inherits"
                     " WHERE inhparent = 'ix_events_open_due'::regclass")
PARTITIONS = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"


def test_open_due_index_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0023") as (url, engine):
        with engine.begin() as conn:
            assert conn.execute(text(INDEX)).scalar_one() == (
                "CREATE INDEX ix_events_open_due ON ONLY public.events USING btree (due_at) WHERE"
                " ((status = ANY (ARRAY['reported'::text, 'dispatched'::text,"
                " 'in_progress'::text])) AND valid)")
            # events is partitioned by month (0020): every partition carries its copy
            parts = conn.execute(text(PARTITION_INDEXES)).scalars().all()
            assert len(parts) == conn.execute(text(PARTITIONS)).scalar_one() > 0
        command.downgrade(alembic_config(url), "0018")
        with engine.begin() as conn:
            assert conn.execute(text(INDEX)).all() == []
        upgrade(url)
        with engine.begin() as conn:
            assert len(conn.execute(text(INDEX)).all()) == 1
