"""Migration 0020 moves ``events`` into monthly partitions without losing or changing a row,
keeps what referenced events cascading, keeps client ids unique, and its downgrade gives
back one heap with its foreign keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
TABLES = {  # every table whose rows must survive, and its order
    "events": "id", "event_assignments": "event_id", "event_transitions": "id",
    "event_duplicates": "event_id", "event_reassignments": "id", "event_camera_views": "id",
    "event_daily_counts": "day, category, status, grid_code NULLS FIRST",
    "audit_log": "id"}
REPORTED = {  # client id → reported at (UTC); "2026-09-30T17:00Z" is 1 Oct in Beijing
    "a": "2026-09-12T08:00:00Z", "b": "2026-09-30T17:00:00Z", "c": "2026-10-03T01:00:00Z",
    "d": "2026-11-20T10:00:00Z", "e": "2026-11-21T10:00:00Z"}


@pytest.fixture
def at_0018(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0020", "0018") as made:
        yield made


def _fill(conn: Connection) -> dict[str, int]:
    """Five events over three local months with assignments, transitions, a duplicate, a
    reassignment and a camera view; their ids by client id."""
    ids = {}
    for client_id, at in REPORTED.items():
        ids[client_id] = conn.execute(text(
            "INSERT INTO events (client_id, category, description, reported_at, status,"
            " priority, geom, handling_level, postponements, reworks, valid, due_at) VALUES"
            f" (:c, 'garbage', '占道 ' || :c, :at, 'reported', 'normal', {POINT}, 'grid', 0, 1,"
            " true, CAST(:at AS timestamptz) + interval '3 days') RETURNING id"),
            {"c": client_id, "at": at}).scalar_one()
        conn.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                          " VALUES (:i, '140213001001001', 'covered')"), {"i": ids[client_id]})
        conn.execute(text("INSERT INTO event_transitions (event_id, to_status, actor, at)"
                          " VALUES (:i, 'reported', 'w1', :at)"), {"i": ids[client_id], "at": at})
    conn.execute(text("UPDATE events SET status = 'duplicate' WHERE client_id = 'e'"))
    conn.execute(text("INSERT INTO event_duplicates (event_id, case_id, actor) VALUES (:e, :d,"
                      " 'disp')"), {"e": ids["e"], "d": ids["d"]})
    conn.execute(text("INSERT INTO event_reassignments (event_id, to_grid_code, reason) VALUES"
                      " (:c, '140213001001002', '边界')"), {"c": ids["c"]})
    conn.execute(text("INSERT INTO event_camera_views (event_id, camera_code, actor) VALUES"
                      " (:a, '14021300081310000001', 'disp')"), {"a": ids["a"]})
    return ids


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {table: [tuple(r) for r in conn.execute(text(
            f"SELECT * FROM {table} ORDER BY {order}"))] for table, order in TABLES.items()}


def _partitions(conn: Connection) -> dict[str, int]:
    """Rows per partition of events, by partition name."""
    names = conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"
                              " WHERE inhparent = 'events'::regclass ORDER BY 1")).scalars()
    return {n: conn.execute(text(f"SELECT count(*) FROM {n}")).scalar_one() for n in names}


def test_rows_move_into_months_and_back(at_0018: tuple[str, Engine]) -> None:
    url, engine = at_0018
    with engine.begin() as conn:
        ids = _fill(conn)
    before = _rows(engine)
    assert [len(before[t]) for t in ("events", "event_assignments", "event_transitions")] == [
        5, 5, 5]
    upgrade(url, "0020")
    assert _rows(engine) == before
    with engine.connect() as conn:  # rolled back: only the sequence moves on
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass")
                            ).scalar_one() == "p"
        parts = _partitions(conn)
        assert {n: c for n, c in parts.items() if c} == {
            "events_2026_09": 1, "events_2026_10": 2, "events_2026_11": 2}
        assert parts["events_default"] == 0
        assert conn.execute(text("SELECT client_id, event_id FROM event_client_ids ORDER BY 1")
                            ).all() == sorted(ids.items())
        next_id = conn.execute(text(
            "INSERT INTO events (category, reported_at, status, priority, geom, handling_level,"
            f" postponements, reworks, valid) VALUES ('x', '2026-11-22T00:00Z', 'reported',"
            f" 'normal', {POINT}, 'grid', 0, 0, true) RETURNING id")).scalar_one()
        assert next_id == max(ids.values()) + 1
    command.downgrade(alembic_config(url), "0018")
    assert _rows(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass")
                            ).scalar_one() == "r"
        assert conn.execute(text(
            "SELECT count(*) FROM pg_constraint WHERE confrelid = 'events'::regclass")
        ).scalar_one() == 5
        assert conn.execute(text("SELECT to_regclass('event_client_ids')")).scalar() is None
        assert conn.execute(text("SELECT nextval('events_id_seq')")).scalar_one() == (
            next_id + 1)


def test_deleting_events_still_cascades(at_0018: tuple[str, Engine]) -> None:
    url, engine = at_0018
    with engine.begin() as conn:
        ids = _fill(conn)
    upgrade(url, "0020")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id IN ('a', 'd')"))
        left = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in (
            "event_assignments", "event_transitions", "event_duplicates",
            "event_camera_views", "event_client_ids", "event_reassignments")}
    assert left == {"event_assignments": 3, "event_transitions": 3, "event_duplicates": 0,
                    "event_camera_views": 0, "event_client_ids": 3, "event_reassignments": 1}
    with engine.connect() as conn, pytest.raises(IntegrityError, match=f"no event {ids['a']}"):
        conn.execute(text("INSERT INTO event_transitions (event_id, to_status, actor) VALUES"
                          " (:a, 'closed', 'w1')"), {"a": ids["a"]})
    with engine.connect() as conn, pytest.raises(IntegrityError, match="uq_events_client_id"):
        conn.execute(text(  # same client id, another month: still refused
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid) VALUES ('b', 'x',"
            f" '2026-12-01T00:00Z', 'reported', 'normal', {POINT}, 'grid', 0, 0, true)"))
