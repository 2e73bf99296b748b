"""The scratch city of bench/assign.py, built once and reused, and the inputs every engine
is given, read back from it.

:func:`scratch_city` generates the demo city (data/demo.py, seed 42), loads it with COPY into
a scratch database (default ``gridlink_bench`` on the test cluster) and stores the camera
visibility (``camera_views`` / ``camera_shadows``, geo/video/views.py) of the cameras it
is asked to compute; with ``reuse`` it only checks the database is there and holds the
expected number of events. :func:`engine_inputs` reads what every engine works from, in
memory: events, current grids, online cameras, shadows (all EPSG:4326).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from bench.common import copy_frame, indexes_deferred, scratch_database, wkb_hex
from data.demo import generate_city
from geo.video.views import refresh_views

DATABASE = "gridlink_bench"


@dataclass(frozen=True)
class CitySize:
    """The bench city: demo-city counts, and how many cameras get visibility polygons
    (the ``views`` cameras with the smallest codes; 0 = none, -1 = all) at ``resolution``
    degrees (geo.video.visibility)."""

    grids: int = 10_000
    cameras: int = 100_000
    events: int = 1_000_000
    views: int = 2_000
    resolution: float = 2.0


def scratch_city(size: CitySize, url: str | None = None, *, reuse: bool = False,
                 database: str | None = None) -> Engine:
    """The SQLAlchemy engine of the bench city's database, (re)built unless ``reuse``.

    ``url`` is a server URL (default: the test cluster on ``GRIDLINK_TEST_DB_PORT``).
    Building 10^6 events takes minutes (generation ~30 s, COPY ~40 s, visibility ~50 ms a
    camera at 0.5°); raises RuntimeError when a reused database holds another event count.
    """
    database = database or os.environ.get("GRIDLINK_BENCH_DATABASE", DATABASE)
    if reuse:
        engine = create_engine(_database_url(url, database))
        with engine.connect() as conn:
            found = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        if found != size.events:
            raise RuntimeError(f"{database} holds {found:,} events, not {size.events:,}:"
                               " build it again without --skip-load")
        return engine
    engine = create_engine(scratch_database(url, database))
    start = time.perf_counter()
    city = generate_city(seed=42, grids=size.grids, cameras=size.cameras, events=size.events)
    print(f"generated the city in {time.perf_counter() - start:.1f} s: "
          + ", ".join(f"{k} {len(v):,}" for k, v in city.items()))
    start = time.perf_counter()
    load_city(engine, city)
    print(f"loaded with COPY in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    views = store_views(engine, size.views, size.resolution)
    print(f"visibility of {views:,} cameras in {time.perf_counter() - start:.1f} s")
    return engine


def _database_url(url: str | None, database: str) -> str:
    port = os.environ.get("GRIDLINK_TEST_DB_PORT", "55433")
    server = url or f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    return make_url(server).set(database=database).render_as_string(hide_password=False)


LOADED_TABLES = ("admin_areas", "grids", "buildings", "workers", "sites", "cameras", "events")
"""The tables :func:`load_city` writes (their secondary indexes are built after the load)."""


def load_city(engine: Engine, city: dict[str, pd.DataFrame]) -> None:
    """Write the demo layers with COPY (the importer path is benchmarked elsewhere),
    buildings included, the secondary indexes built after the rows, then VACUUM ANALYZE."""
    with indexes_deferred(engine, LOADED_TABLES):
        load_layers(engine, city)
        copy_events(engine, city["events"])
    vacuum_analyze(engine)


def load_layers(engine: Engine, city: dict[str, pd.DataFrame]) -> None:
    """COPY every demo layer but the events (row audit off, like the demo loader)."""
    areas = city["areas"]
    copy_frame(engine, "admin_areas", pd.DataFrame({
        "code": areas.code, "name": areas.name, "level": areas.level,
        "parent_code": areas.parent_code, "geom": wkb_hex(areas, multi=True)}),
        audit_rows=False)
    grids, micro = city["grids"], city["micro_grids"]
    community_of = dict(zip(grids.code, grids.parent_code, strict=True))
    copy_frame(engine, "grids", pd.DataFrame({
        "code": grids.code, "name": grids.name, "kind": grids.kind, "level": "grid",
        "parent_code": grids.parent_code, "community_code": grids.parent_code,
        "households": grids.households.fillna(0).astype(int), "population": 0, "version": 1,
        "geom": wkb_hex(grids, multi=True)}), audit_rows=False)
    copy_frame(engine, "grids", pd.DataFrame({
        "code": micro.code, "name": micro.name, "kind": "urban", "level": "micro",
        "parent_code": micro.parent_code,
        "community_code": micro.parent_code.map(community_of),
        "households": micro.households.fillna(0).astype(int), "population": 0, "version": 1,
        "geom": wkb_hex(micro, multi=True)}), audit_rows=False)
    buildings = city["buildings"]
    copy_frame(engine, "buildings", pd.DataFrame({
        "code": buildings.code, "name": buildings.name,
        "households": buildings.households.fillna(0).astype(int),
        "population": buildings.population.fillna(0).astype(int), "geom": wkb_hex(buildings)}),
        audit_rows=False)
    workers = city["workers"]
    copy_frame(engine, "workers", workers[["code", "name", "role", "phone", "grid_code"]],
               audit_rows=False)
    sites = city["sites"]
    copy_frame(engine, "sites", pd.DataFrame({"code": sites.code, "name": sites.name,
                                              "category": sites.category,
                                              "geom": wkb_hex(sites)}), audit_rows=False)
    cams = city["cameras"]
    cols = ["code", "name", "camera_type", "height_m", "azimuth_deg", "fov_deg", "range_m",
            "status", "stream_url", "site_code"]
    copy_frame(engine, "cameras",
               pd.DataFrame({**{c: cams[c] for c in cols}, "geom": wkb_hex(cams)}),
               audit_rows=False)


def copy_events(engine: Engine, events: gpd.GeoDataFrame) -> None:
    """COPY demo events (one frame or one batch of a streamed city), row audit off; the
    events' other statement triggers (daily rollups, client ids, change feed) run."""
    copy_frame(engine, "events", pd.DataFrame({
        "client_id": events.client_id, "category": events.category,
        "reported_at": pd.to_datetime(events.reported_at, utc=True), "status": "reported",
        "priority": "normal", "handling_level": "grid", "postponements": 0, "reworks": 0,
        "valid": True, "geom": wkb_hex(events)}), audit_rows=False)


def vacuum_analyze(engine: Engine) -> None:
    """VACUUM ANALYZE the whole database (after a bulk load: visibility map and statistics)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def store_views(engine: Engine, cameras: int, resolution: float) -> int:
    """Compute and store the visibility of the first ``cameras`` cameras by code (-1: all)
    at ``resolution`` degrees, committed; returns how many were computed."""
    if cameras == 0:
        return 0
    with Session(engine) as session:
        codes = list(session.scalars(text(
            "SELECT code FROM cameras ORDER BY code LIMIT :n"),
            {"n": None if cameras < 0 else cameras}))
        summary = refresh_views(session, codes, resolution_deg=resolution)
        session.commit()
    return summary.cameras


@dataclass
class EngineInputs:
    """What every engine is given, read from the scratch database (EPSG:4326 degrees).

    ``events``: id, x, y. ``grids``: code, level ('grid'/'micro'), kind, parent_code,
    community_code, geometry (current versions). ``cameras``: the online ones with code,
    x, y, azimuth_deg, fov_deg, camera_type, range_m. ``shadows``: camera_code, geometry
    (a spot inside one is hidden from that camera). ``chain``: community code → street
    and district codes.
    """

    events: pd.DataFrame
    grids: gpd.GeoDataFrame
    cameras: pd.DataFrame
    shadows: gpd.GeoDataFrame
    chain: pd.DataFrame


def engine_inputs(engine: Engine) -> EngineInputs:
    """Read :class:`EngineInputs` from the database of ``engine`` (not timed by the bench)."""
    with engine.connect() as conn:
        events = pd.read_sql(text("SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM events"
                                  " ORDER BY id"), conn)
        grids = _frame(conn, "SELECT code, level, kind, parent_code, community_code,"
                             " ST_AsBinary(geom) AS wkb FROM grids WHERE valid_to IS NULL")
        cameras = pd.read_sql(text(
            "SELECT code, ST_X(geom) AS x, ST_Y(geom) AS y, azimuth_deg, fov_deg,"
            " camera_type, range_m FROM cameras WHERE status = 'online' ORDER BY code"), conn)
        shadows = _frame(conn, "SELECT camera_code, ST_AsBinary(geom) AS wkb"
                               " FROM camera_shadows")
        chain = pd.read_sql(text(
            "SELECT c.code AS community_code, s.code AS street_code, d.code AS district_code"
            " FROM admin_areas c LEFT JOIN admin_areas s ON s.code = c.parent_code"
            " LEFT JOIN admin_areas d ON d.code = s.parent_code"
            " WHERE c.level = 'community'"), conn)
    return EngineInputs(events, grids, cameras, shadows, chain)


def _frame(conn: object, sql: str) -> gpd.GeoDataFrame:
    rows = pd.read_sql(text(sql), conn)  # type: ignore[call-overload]
    geoms = shapely.from_wkb(np.asarray([bytes(b) for b in rows.pop("wkb")], dtype=object))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)
