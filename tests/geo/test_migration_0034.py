"""Migration 0034: ``pending_indexes``, and client-id claims inserted plainly when the
transaction says none is claimed yet (``gridlink.claims_unclaimed``; a clash is then still a
unique violation); otherwise a duplicate within one statement, an id claimed by another event
and a report's own claim (geo.events) behave as before, after the upgrade and after the
downgrade, which builds the indexes still pending before dropping the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at
from tests.geo.test_migration_0032 import INSERT, _claims_behave

UNCLAIMED = "SELECT set_config('gridlink.claims_unclaimed', 'on', true)"


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
    assert "gridlink.claims_unclaimed" in _claims_source(engine)
    _claims_behave(engine)
    with engine.begin() as conn:  # unclaimed ids: claimed plainly
        conn.execute(text(UNCLAIMED))
        conn.execute(text(INSERT), {"ids": ["U1", "U2", None]})
        assert conn.execute(text("SELECT c.client_id FROM event_client_ids c JOIN events e "
                                 "ON e.id = c.event_id AND e.client_id = c.client_id "
                                 "ORDER BY 1")).scalars().all() == ["U1", "U2"]
    with pytest.raises(IntegrityError) as info, engine.begin() as conn:  # a clash still fails
        conn.execute(text(UNCLAIMED))
        conn.execute(text(INSERT), {"ids": ["U3", "U1"]})
    assert info.value.orig is not None
    assert info.value.orig.diag.constraint_name == "event_client_ids_pkey"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    with engine.begin() as conn:  # an index a first load left for after its commit
        definition = conn.scalar(text("SELECT pg_get_indexdef('ix_events_status'::regclass)"))
        conn.execute(text("DROP INDEX ix_events_status"))
        conn.execute(text("INSERT INTO pending_indexes (name, table_name, definition) "
                          "VALUES ('ix_events_status', 'events', :d)"), {"d": definition})
    command.downgrade(alembic_config(url), "0032")
    assert "gridlink.claims_unclaimed" not in _claims_source(engine)
    assert "GET DIAGNOSTICS" in _claims_source(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass('pending_indexes')")) is None
        assert conn.scalar(text(
            "SELECT pg_get_indexdef('ix_events_status'::regclass)")) == definition
    _claims_behave(engine)
    upgrade(url)
