"""Migration 0035: the current ordinary grids' GiST over ``geom`` (the owner look-up of
geo.assign.assign_units probes it) and ``archived_open_cases``; both go with the downgrade
and come back with the upgrade."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from geo.schema import alembic_config, upgrade
from tests.geo.migration_db import database_at

LOOKUP = ("EXPLAIN (COSTS OFF) SELECT code FROM grids WHERE valid_to IS NULL AND level = 'grid'"
          " AND kind <> 'dedicated' AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(113.3, 40.08),"
          " 4326)) ORDER BY code LIMIT 1")
"""The owner look-up of one unit (geo.assign._assign_table)."""

SQUARES = """
INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,
                   population, version, valid_from, geom)
SELECT CASE WHEN m = 0 THEN p ELSE p || m::text END, 'g', 'urban',
       CASE WHEN m = 0 THEN 'grid' ELSE 'micro' END,
       CASE WHEN m = 0 THEN '140213001001' ELSE p END, '140213001001', 0, 0, 1, now(),
       ST_Multi(ST_MakeEnvelope(113.2 + i * 0.002, 40 + j * 0.002, 113.202 + i * 0.002,
                                40.002 + j * 0.002, 4326))
  FROM generate_series(0, 59) i, generate_series(0, 59) j, generate_series(0, 4) m,
       LATERAL (SELECT '1402130' || lpad(i::text, 2, '0') || lpad(j::text, 3, '0') AS p) c"""
"""3,600 square ordinary grids of 0.002° in a 60 × 60 block, each with four micro-grids
(drawn over the whole square: the look-up only needs their rows)."""


@pytest.fixture
def at_head(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0035") as made:
        yield made


def _schema(engine: Engine) -> tuple[bool, bool]:
    with engine.connect() as conn:
        return (conn.scalar(text("SELECT to_regclass('ix_grids_current_ordinary_geom')"
                                 " IS NOT NULL")),
                conn.scalar(text("SELECT to_regclass('archived_open_cases') IS NOT NULL")))


def _plan(engine: Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(conn.execute(text(LOOKUP)).scalars())


def test_downgrade_removes_and_upgrade_restores(at_head: tuple[str, Engine]) -> None:
    url, engine = at_head
    with engine.begin() as conn:
        conn.execute(text(SQUARES))
        conn.execute(text("ANALYZE grids"))
    assert _schema(engine) == (True, True)
    assert "Index Scan using ix_grids_current_ordinary_geom" in _plan(engine)
    command.downgrade(alembic_config(url), "0034")  # 0035 (and any later one)
    assert _schema(engine) == (False, False)
    assert "BitmapAnd" in _plan(engine)  # the plan that took hours at 10^5 grids
    upgrade(url)
    assert _schema(engine) == (True, True)
