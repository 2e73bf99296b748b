"""Migration 0010: the change feed's table is seeded with the rows already stored, gets one
row per changed feature at commit, numbered in commit order (not in the order the writes
began), ignores re-assignment, and its downgrade removes table, triggers and functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

POINT = "ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326)"
SQUARE = "ST_GeomFromText('MULTIPOLYGON(((113.3 40.08,113.31 40.08,113.31 40.09,113.3 40.08)))', 4326)"  # noqa: E501


@pytest.fixture
def at_0007(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0010", "0007") as made:
        yield made


def _camera(conn: Connection, code: str) -> None:
    conn.execute(text(
        "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m, status,"
        f" geom) VALUES (:c, 'cam', 'fixed', 0, 60, 100, 'online', {POINT})"), {"c": code})


def _feed(conn: Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(text(  # type: ignore[misc]
        "SELECT layer, key FROM layer_changes ORDER BY id"))]


def test_feed_is_seeded_numbered_at_commit_and_removed(at_0007: tuple[str, Engine]) -> None:
    url, engine = at_0007
    with engine.begin() as conn:
        for code, valid_to in (("G1", "2025-01-01"), ("G1", None), ("G2", None)):
            conn.execute(text(
                "INSERT INTO grids (code, name, kind, level, parent_code, community_code,"
                " households, population, version, valid_to, geom) VALUES (:c, 'g', 'urban',"
                f" 'grid', 'C', 'C', 0, 0, 1, CAST(:to AS timestamptz), {SQUARE})"),
                {"c": code, "to": valid_to})
        _camera(conn, "K1")
        conn.execute(text("INSERT INTO workers (code, name, role, grid_code) VALUES "
                          "('W1', 'w', 'grid_worker', 'G1')"))
    upgrade(url)
    with engine.begin() as conn:
        assert _feed(conn) == [("grids", "G1"), ("grids", "G2"), ("workers", "W1"),
                               ("cameras", "K1")]
    with engine.connect() as first, engine.connect() as second:
        first.begin()
        _camera(first, "K2")                  # began first ...
        with second.begin():
            _camera(second, "K3")             # ... but this one commits first
            second.execute(text("UPDATE cameras SET grid_code = 'G1' WHERE code = 'K1'"))
        first.commit()
    with engine.begin() as conn:  # K1's new grid_code is derived: no change of the layer
        assert _feed(conn)[4:] == [("cameras", "K3"), ("cameras", "K2")]
        conn.execute(text("DELETE FROM cameras WHERE code = 'K1'"))
        conn.execute(text("UPDATE workers SET grid_code = 'G2'"))  # a worker's own field
    with engine.begin() as conn:
        assert _feed(conn)[6:] == [("cameras", "K1"), ("workers", "W1")]
    command.downgrade(alembic_config(url), "0007")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('layer_changes')")).scalar() is None
        assert conn.execute(text(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'layer_changes%'")).scalar() == 0
        _camera(conn, "K4")  # no trigger left
