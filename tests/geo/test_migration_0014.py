"""Migration 0014 creates the patrol tables with the default rules and audits rule changes;
its downgrade removes them and an upgrade again works (a database of its own)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

TABLES = ("SELECT count(*) FROM pg_tables WHERE tablename IN "
          "('patrol_rules', 'patrol_tasks', 'patrol_checkins')")


def test_patrol_tables_up_down_up(database_url: str) -> None:
    with database_at(database_url, "0014") as (url, engine):
        with engine.begin() as conn:
            assert conn.execute(text(TABLES)).scalar_one() == 3
            assert conn.execute(text(
                "SELECT count(*) FROM patrol_rules")).scalar_one() == 5
            conn.execute(text("UPDATE patrol_rules SET frequency = 'weekly' "
                              "WHERE category = 'school'"))
            audited = conn.execute(text(
                "SELECT action, before->>'frequency', after->>'frequency' FROM audit_log "
                "WHERE entity = 'patrol_rules'")).one()
            assert tuple(audited) == ("update", "daily", "weekly")
        command.downgrade(alembic_config(url), "0007")
        with engine.begin() as conn:
            assert conn.execute(text(TABLES)).scalar_one() == 0
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(text(TABLES)).scalar_one() == 3
