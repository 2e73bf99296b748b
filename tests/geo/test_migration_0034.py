"""Migration 0034: ``pending_indexes``, and client-id claims that try a plain insert first; a
duplicate within one statement, an id claimed by another event and a report's own claim
(geo.events) behave as before, after the upgrade and after the downgrade, which builds the
indexes still pending before dropping the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at
from tests.geo.test_migration_0032 import _claims_behave


@pytest.fixture
def at_0032(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0034", "0032") as made:
        yield made


def _claims_source(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'events_claim_client_ids'")))


def test_upgrade_then_downgrade(at_0032: tuple[str, Engine]) -> None:
    url, engine = at_0032
    upgrade(url, "0034")
    assert "EXCEPTION WHEN unique_violation" in _claims_source(engine)
    _claims_behave(engine)
    with engine.begin() as conn:  # an index a first load left for after its commit
        definition = conn.scalar(text("SELECT pg_get_indexdef('ix_events_status'::regclass)"))
        conn.execute(text("DROP INDEX ix_events_status"))
        conn.execute(text("INSERT INTO pending_indexes (name, table_name, definition) "
                          "VALUES ('ix_events_status', 'events', :d)"), {"d": definition})
    command.downgrade(alembic_config(url), "0032")
    assert "EXCEPTION WHEN unique_violation" not in _claims_source(engine)
    assert "GET DIAGNOSTICS" in _claims_source(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass('pending_indexes')")) is None
        assert conn.scalar(text(
            "SELECT pg_get_indexdef('ix_events_status'::regclass)")) == definition
    _claims_behave(engine)
    upgrade(url)
