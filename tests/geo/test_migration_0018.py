"""Migration 0018 creates the jobs table with its checks; its downgrade removes it and an
upgrade again works (a database of its own)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

TABLE = "SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'"


def test_jobs_table_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0018") as (url, engine):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO jobs (id, kind, actor) VALUES ('j', 'import', 'a')"))
            row = conn.execute(text("SELECT state, rows_done, problems::text, "
                                    "cancel_requested FROM jobs")).one()
            assert tuple(row) == ("queued", 0, "[]", False)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO jobs (id, kind, actor) VALUES ('k', 'dance', 'a')"))
        command.downgrade(alembic_config(url), "0014")
        with engine.begin() as conn:
            assert conn.execute(text(TABLE)).scalar_one() == 0
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text(TABLE)).scalar_one() == 1
