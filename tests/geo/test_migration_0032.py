"""Migration 0032: the client-id claims of an insert skip their check when every id was
claimed by its own row; a duplicate within one statement, an id claimed by another event
and a report's own claim (geo.events) behave as before, after the upgrade and after the
downgrade."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

INSERT = ("INSERT INTO events (client_id, category, reported_at, status, priority, handling_level,"
          " postponements, reworks, valid, geom) SELECT c, 'garbage', '2026-11-02T08:00:00Z',"
          " 'reported', 'normal', 'grid', 0, 0, true, ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
          " FROM unnest(CAST(:ids AS text[])) c")

INSERT_WITH_ID = INSERT.replace("(client_id,", "(id, client_id,").replace(
    "SELECT c,", "SELECT CAST(:id AS bigint), c,")
"""The same with the event id given (a report that claimed its id first)."""


@pytest.fixture
def at_0029(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0032", "0029") as made:
        yield made


def _claims_behave(engine: Engine) -> None:
    """Bulk claims, refusals naming the id, a pre-claimed report and no-id events."""
    with engine.begin() as conn:
        conn.execute(text(INSERT), {"ids": ["A1", "A2", "A3", None]})
        assert conn.execute(text("SELECT c.client_id FROM event_client_ids c JOIN events e "
                                 "ON e.id = c.event_id AND e.client_id = c.client_id "
                                 "ORDER BY 1")).scalars().all() == ["A1", "A2", "A3"]
    for ids, taken in ((["B1", "B1"], "B1"), (["B2", "A2"], "A2")):
        with pytest.raises(IntegrityError) as info, engine.begin() as conn:
            conn.execute(text(INSERT), {"ids": ids})
        assert info.value.orig is not None
        assert info.value.orig.diag.constraint_name == "uq_events_client_id"
        assert info.value.orig.diag.message_detail == f"Key (client_id)=({taken}) already exists."
    with engine.begin() as conn:  # a report claims its id first (geo.events), then inserts
        event_id = conn.scalar(text("INSERT INTO event_client_ids (client_id, event_id) VALUES "
                                    "('R1', nextval('events_id_seq')) RETURNING event_id"))
        conn.execute(text(INSERT_WITH_ID), {"ids": ["R1"], "id": event_id})
        assert conn.scalar(text("SELECT count(*) FROM events WHERE client_id = 'R1' AND id = :id"),
                           {"id": event_id}) == 1
        conn.execute(text("DELETE FROM events"))
        assert conn.scalar(text("SELECT count(*) FROM event_client_ids")) == 0


def test_upgrade_then_downgrade(at_0029: tuple[str, Engine]) -> None:
    url, engine = at_0029
    upgrade(url, "0032")
    _claims_behave(engine)
    command.downgrade(alembic_config(url), "0029")
    with engine.connect() as conn:
        assert "GET DIAGNOSTICS" not in str(conn.scalar(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'events_claim_client_ids'")))
    _claims_behave(engine)
    upgrade(url)
