"""Migration 0013 derives the lineage of changes made before it (a published split and a
grids import) from the stored versions; its downgrade drops the table (a database of its
own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from shapely.geometry import box
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

WEST, EAST, NEW = code(1), code(2), code(3)
SPLIT_AT, IMPORT_AT = "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"


@pytest.fixture
def at_0007(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0013", "0007") as made:
        yield made


def _version(conn: Connection, grid: str, version: int, shape: object, since: str,
             until: str | None, reason: str | None = None) -> None:
    conn.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, valid_from, valid_to, change_reason, geom) VALUES (:c, :c,"
        " 'urban', 'grid', :p, :p, 0, 0, :v, :f, :t, :r, ST_Multi(ST_GeomFromText(:w, 4326)))"),
        {"c": grid, "p": COMMUNITY, "v": version, "f": since, "t": until, "r": reason,
         "w": cases.lonlat(shape).wkt})


def test_lineage_is_backfilled_from_the_stored_versions(at_0007: tuple[str, Engine]) -> None:
    url, engine = at_0007
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO plan_changesets (area_code, reason, author, status, kind, base_at,"
            " published_at) VALUES (:a, 'split the east grid', 'li', 'published', 'manual',"
            " :at, :at)"), {"a": COMMUNITY, "at": SPLIT_AT})
        _version(conn, WEST, 1, box(0, 0, 100, 100), "2026-01-01T00:00:00Z", IMPORT_AT)
        _version(conn, EAST, 1, box(100, 0, 200, 100), "2026-01-01T00:00:00Z", SPLIT_AT)
        _version(conn, EAST, 2, box(100, 0, 160, 100), SPLIT_AT, None)
        _version(conn, NEW, 1, box(160, 0, 200, 100), SPLIT_AT, None)
        _version(conn, WEST, 2, box(0, 0, 100, 100), IMPORT_AT, None, "renamed in QGIS")
    upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT predecessor_code, successor_code, kind, round(area_m2::numeric)::int,"
            " round(area_share::numeric, 6)::float8, changeset_id IS NOT NULL, reason, published_at"
            " FROM grid_lineage ORDER BY published_at, predecessor_code, successor_code")).all()
    assert [tuple(r[:7]) + (r[7].isoformat(),) for r in rows] == [
        (EAST, EAST, "split", 6000, 0.6, True, "split the east grid", "2026-03-01T00:00:00+00:00"),
        (EAST, NEW, "split", 4000, 0.4, True, "split the east grid", "2026-03-01T00:00:00+00:00"),
        (WEST, WEST, "update", 10000, 1.0, False, "renamed in QGIS",
         "2026-04-01T00:00:00+00:00")]
    command.downgrade(alembic_config(url), "0007")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('grid_lineage')")).scalar() is None
