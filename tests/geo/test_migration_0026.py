"""Migration 0026 gives every assignment its event's ``reported_at`` without losing or
changing a row (rollups included), refuses an assignment that names no event, and its
downgrade gives the table back as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at
from tests.geo.test_migration_0020 import POINT, REPORTED

ROWS = {  # the tables whose rows must survive, and their order
    "event_assignments": ("SELECT event_id, district_code, street_code, community_code,"
                          " grid_code, assignment, camera_codes, assigned_at"
                          " FROM event_assignments ORDER BY event_id"),
    "event_daily_counts": ("SELECT * FROM event_daily_counts"
                           " ORDER BY day, category, status, grid_code NULLS FIRST"),
    "view": "SELECT * FROM events_with_assignment ORDER BY id"}


@pytest.fixture
def at_0025(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0026", "0025") as made:
        yield made


def _fill(engine: Engine) -> dict[str, int]:
    """Five events over three local months, four assigned; their ids by client id."""
    ids = {}
    with engine.begin() as conn:
        for n, (client_id, at) in enumerate(REPORTED.items()):
            ids[client_id] = conn.execute(text(
                "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
                " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', :at,"
                f" 'reported', 'normal', {POINT}, 'grid', 0, 0, true) RETURNING id"),
                {"c": client_id, "at": at}).scalar_one()
            if n < 4:
                conn.execute(text(
                    "INSERT INTO event_assignments (event_id, district_code, grid_code,"
                    " assignment) VALUES (:i, '140213', :g, 'covered')"),
                    {"i": ids[client_id], "g": f"14021300100100{n % 2 + 1}"})
    return ids


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in ROWS.items()}


def test_every_assignment_gets_its_events_reported_at_and_back(
        at_0025: tuple[str, Engine]) -> None:
    url, engine = at_0025
    ids = _fill(engine)
    before = _rows(engine)
    assert (len(before["event_assignments"]), len(before["view"])) == (4, 5)
    upgrade(url, "0026")
    assert _rows(engine) == before
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT e.client_id, a.reported_at = e.reported_at FROM event_assignments a"
            " JOIN events e ON e.id = a.event_id ORDER BY e.client_id")).all()
        assert [tuple(r) for r in stored] == [("a", True), ("b", True), ("c", True),
                                              ("d", True)]
        nullable = conn.execute(text(
            "SELECT is_nullable FROM information_schema.columns WHERE table_name ="
            " 'event_assignments' AND column_name = 'reported_at'")).scalar_one()
        assert nullable == "NO"
        # an INSERT that leaves it out gets the event's (the row trigger)
        conn.execute(text("INSERT INTO event_assignments (event_id, assignment) VALUES"
                          " (:e, 'unassigned')"), {"e": ids["e"]})
        filled = conn.execute(text(
            "SELECT a.reported_at = e.reported_at FROM event_assignments a JOIN events e"
            " ON e.id = a.event_id WHERE e.id = :e"), {"e": ids["e"]}).scalar_one()
        assert filled is True
    command.downgrade(alembic_config(url), "0025")
    assert _rows(engine) == before
    with engine.connect() as conn:
        columns = conn.execute(text(
            "SELECT count(*) FROM information_schema.columns WHERE table_name ="
            " 'event_assignments' AND column_name = 'reported_at'")).scalar_one()
        assert columns == 0


def test_an_assignment_naming_no_event_stops_the_upgrade(
        at_0025: tuple[str, Engine]) -> None:
    url, engine = at_0025
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO event_assignments (event_id, assignment) VALUES"
                          " (987654321, 'unassigned')"))
    before = _rows(engine)
    with pytest.raises(IntegrityError, match="1 rows of event_assignments name no event"):
        upgrade(url, "0026")
    assert _rows(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
            "0025")
