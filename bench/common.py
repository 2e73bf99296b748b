"""What the benchmarks share: a scratch database and a fast bulk load.

Benchmarks run on the test cluster (``.gridlink/test``, started when needed) or on the server
of ``--url``; each (re)creates a database of its own, with PostGIS and the schema.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from cli.cluster import fresh_database, test_server_url
from geo.schema import upgrade


def scratch_database(url: str | None, name: str) -> str:
    """(Re)create database ``name`` with PostGIS and the schema on the server of ``url``
    (default: the test cluster on ``GRIDLINK_TEST_DB_PORT``, 55433); returns its SQLAlchemy
    URL. ``name`` comes from code."""
    port = int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))
    result = fresh_database(url or test_server_url(port), name)
    upgrade(result)
    return result


def city_database_url(url: str | None, name: str) -> str:
    """The SQLAlchemy URL of the existing database ``name`` on the server of ``url`` (default:
    the test cluster), to reuse a city loaded by an earlier run."""
    port = int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))
    return make_url(url or test_server_url(port)).set(database=name).render_as_string(
        hide_password=False)


def copy_frame(engine: Engine, table: str, frame: pd.DataFrame, *,
               audit_rows: bool = True) -> None:
    """COPY ``frame`` into ``table`` (columns by name; geometries as hex WKB, see
    :func:`wkb_hex`), committed. Table and column names come from code. ``audit_rows=False``
    switches the row audit off for the COPY (one audit row per loaded row otherwise), as
    the demo loader does (geo.audit.without_row_audit)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not audit_rows:
            cur.execute("SELECT set_config('gridlink.audit_rows', 'off', true)")
        with cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as cp:
            while chunk := buf.read(1 << 20):
                cp.write(chunk)
        raw.commit()
    finally:
        raw.close()


@contextmanager
def indexes_deferred(engine: Engine, tables: Sequence[str]) -> Iterator[None]:
    """Drop the secondary indexes of ``tables`` (public schema; those behind a primary key or
    unique constraint stay), run the block, then build them again: a bulk load then builds
    each index once, from sorted input, instead of growing it row by row (a partitioned
    table's index is rebuilt on every partition). Table names come from code."""
    with engine.begin() as conn:
        found = conn.execute(text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE t.relname = ANY(:tables) AND t.relnamespace = 'public'::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY 1"), {"tables": list(tables)}).all()
        for name, _ in found:
            conn.execute(text(f"DROP INDEX {name}"))
    yield
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        for _, definition in found:  # a partitioned table's "ON ONLY" would skip partitions
            conn.execute(text(definition.replace(" ON ONLY ", " ON ", 1)))


def wkb_hex(gdf: gpd.GeoDataFrame, multi: bool = False) -> np.ndarray:
    """The geometries of ``gdf`` as hex WKB without SRID (columns are EPSG:4326); ``multi``
    makes every polygon a MultiPolygon."""
    geoms = gdf.geometry.to_numpy()
    if multi:
        geoms = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                          for g in geoms], dtype=object)
    return shapely.to_wkb(geoms, hex=True, include_srid=False)
