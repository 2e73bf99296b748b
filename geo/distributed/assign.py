"""Re-assign every event on a Dask cluster: the job of :func:`geo.assign.assign_events`
(scope ``all``), partitioned by space, computed in memory on the workers, written back in
one transaction.

1. The client counts the events per cell and cuts spatial partitions
   (:mod:`geo.distributed.partitions`), and creates a staging table (UNLOGGED, committed so
   that every worker's connection sees it).
2. Each partition is a task: its worker reads the partition's events as a GeoDataFrame
   (a ``dask-geopandas`` frame with one partition each, ``spatial_partitions`` set to the
   cells), the current grids and the online cameras around them from PostGIS, assigns them
   in memory (:mod:`geo.distributed.rules`) and COPYs its rows into the staging table. Only
   a one-row summary per partition goes back to the client.
3. The client compares the staged rows with ``event_assignments`` and writes the changed
   and new ones through :func:`geo.event_assignments.write_staged` in one transaction;
   the staging table is dropped whatever happens.

Every worker needs gridlink installed and a network path to the database at
``database_url`` (the URL travels in the task graph: prefer a ``~/.pgpass`` on the workers
to a password in it). Events created while the job runs are not in it; they were assigned
when they were created.
"""

from __future__ import annotations

import math
import resource
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.dataframe as dd
import dask_geopandas  # noqa: F401  (registers the GeoDataFrame backend of dask.dataframe)
import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from distributed import Client
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import (
    EQUATOR_METRES_PER_DEGREE,
    METRES_PER_DEGREE_LAT_MIN,
    AssignSummary,
)
from geo.db import engine_for, libpq_url, session_factory, transaction
from geo.distributed.partitions import (
    EVENTS_OF_PARTITION,
    SpatialPartition,
    partition_params,
    spatial_partitions,
)
from geo.distributed.rules import RANGE_MARGIN, camera_picks, covering_grids, snapped
from geo.errors import ValidationFailed
from geo.event_assignments import COLUMNS
from geo.event_assignments import write_staged as write_staged_rows
from geo.nearest_grid import nearest_grids_of
from geo.settings import Settings, get_settings

RUN_COLUMNS = {"partition": "int64", "events": "int64", "outside": "int64",
               "seconds": "float64", "worker": "object", "peak_rss_mb": "float64"}
"""The one-row summary each partition task returns (``peak_rss_mb``: the worker process's
peak resident memory so far, MiB)."""


@dataclass
class DaskAssignSummary(AssignSummary):
    """:class:`AssignSummary` plus one row per partition (:data:`RUN_COLUMNS`)."""

    partitions: list[dict[str, Any]] = field(default_factory=list)


def assign_events_dask(client: Client, database_url: str, *, k: int | None = None,
                       cell_deg: float = 0.05, target_events: int = 200_000,
                       settings: Settings | None = None) -> DaskAssignSummary:
    """(Re)assign every event on the Dask cluster of ``client``; commits its one write.

    ``database_url`` (SQLAlchemy URL) is read by the client and every worker; ``k`` cameras
    per event (default ``settings.locate_k``), ``cell_deg``/``target_events`` shape the
    partitions (:func:`geo.distributed.partitions.spatial_partitions`). Same answers as
    :func:`geo.assign.assign_events` (scope ``all``) on every event. Raises
    :class:`ValidationFailed` for a bad ``k`` or partition shape.
    """
    settings = settings or get_settings()
    k = settings.locate_k if k is None else k
    if not 0 <= k <= 50:
        raise ValidationFailed("k must be 0-50", [{"field": "k", "value": k}])
    started = time.perf_counter()
    engine = engine_for(database_url)
    stage = f"dask_assign_{uuid.uuid4().hex[:12]}"
    with transaction(engine) as session:
        parts = spatial_partitions(session, cell_deg, target_events)
        max_range = float(session.execute(text(
            "SELECT coalesce(max(range_m), 0) FROM cameras WHERE status = 'online'"))
            .scalar_one())
        session.execute(text(
            f"CREATE UNLOGGED TABLE {stage} AS SELECT event_id AS id,"  # noqa: S608
            f" {', '.join(COLUMNS)} FROM event_assignments WITH NO DATA"))  # generated name
    try:
        planned = time.perf_counter()
        runs = _run_partitions(client, database_url, parts, stage, k,
                               settings.gps_tolerance_m, max_range)
        computed = time.perf_counter()
        with transaction(engine) as session:
            summary = write_staged(session, stage)
    finally:
        with transaction(engine) as session:
            session.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    done = time.perf_counter()
    summary.seconds = done - started
    summary.steps = {"plan": round(planned - started, 3), "dask": round(computed - planned, 3),
                     "write": round(done - computed, 3)}
    summary.partitions = [{str(c): v for c, v in r.items()} for r in runs.to_dict("records")]
    return summary


def _run_partitions(client: Client, database_url: str, parts: list[SpatialPartition],
                    stage: str, k: int, tolerance_m: float, max_range: float) -> pd.DataFrame:
    """Every partition assigned and staged on the cluster; one summary row each."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in RUN_COLUMNS.items()})
    meta = gpd.GeoDataFrame({"id": pd.Series(dtype="int64")},
                            geometry=gpd.GeoSeries([], crs=4326))
    events = dd.from_delayed([dask.delayed(events_of)(database_url, p) for p in parts],
                             meta=meta, verify_meta=False)
    events.spatial_partitions = gpd.GeoSeries(
        [shapely.box(*p.bounds()) for p in parts], crs=4326)
    runs = events.map_partitions(
        assign_partition, database_url, stage, k, tolerance_m, max_range,
        meta=pd.DataFrame({c: pd.Series(dtype=t) for c, t in RUN_COLUMNS.items()}))
    result: pd.DataFrame = client.compute(runs).result()
    return result.reset_index(drop=True)


def events_of(database_url: str, part: SpatialPartition) -> gpd.GeoDataFrame:
    """The events (``id``, point geometry, EPSG:4326) of one partition, in id order."""
    with session_factory(engine_for(database_url))() as session:
        return gpd.read_postgis(
            text(EVENTS_OF_PARTITION + " ORDER BY e.id"), session.connection(),
            geom_col="geom", params=partition_params(part)).rename_geometry("geometry")


def assign_partition(events: gpd.GeoDataFrame, database_url: str, stage: str, k: int,
                     tolerance_m: float, max_range_m: float,
                     partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Assign one partition's ``events`` and COPY the rows into ``stage``; runs on a worker.

    Reads the current grids over the events' extent and the online cameras within
    ``max_range_m`` metres of it. Returns the partition's summary row (:data:`RUN_COLUMNS`).
    """
    started = time.perf_counter()
    rows = pd.DataFrame()
    if len(events):
        with session_factory(engine_for(database_url))() as session:
            rows = partition_rows(session, events, k, tolerance_m, max_range_m)
        copy_rows(database_url, stage, rows)
    outside = int((rows.assignment != "covered").sum()) if len(rows) else 0
    return pd.DataFrame([{
        "partition": (partition_info or {}).get("number", -1), "events": len(events),
        "outside": outside, "seconds": round(time.perf_counter() - started, 3),
        "worker": _worker_name(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}]
    ).astype(RUN_COLUMNS)


def partition_rows(session: Session, events: gpd.GeoDataFrame, k: int, tolerance_m: float,
                   max_range_m: float) -> pd.DataFrame:
    """The ``event_assignments`` rows (``id`` + :data:`COLUMNS`) of ``events``; read-only."""
    x0, y0, x1, y1 = events.total_bounds
    grids = gpd.read_postgis(text(
        "SELECT code, level, kind, parent_code, community_code, geom FROM grids"
        " WHERE valid_to IS NULL AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
        session.connection(), geom_col="geom",
        params={"x0": x0, "y0": y0, "x1": x1, "y1": y1})
    owners = covering_grids(events, grids)
    outside = owners.index[owners.grid_code.isna()]
    points = events.geometry.values[outside]
    nearest = nearest_grids_of(session, [int(i) for i in outside],
                               list(shapely.get_x(points)), list(shapely.get_y(points)),
                               tolerance_m) if len(outside) else []
    rows = snapped(owners, nearest, tolerance_m)
    chain = _admin_chain(session, rows.community_code.dropna().unique().tolist())
    rows["street_code"] = [chain.get(c, (None, None))[0] for c in rows.community_code]
    rows["district_code"] = [chain.get(c, (None, None))[1] for c in rows.community_code]
    rows["camera_codes"] = camera_picks(events, _cameras_near(
        session, (x0, y0, x1, y1), max_range_m), k, _shadows_over(session, (x0, y0, x1, y1)))
    rows["id"] = events.id.to_numpy()
    rows = rows[["id", *COLUMNS]].astype(object)
    return rows.where(rows.notna(), None)  # missing is NULL, never NaN


def _cameras_near(session: Session, bounds: tuple[float, float, float, float],
                  max_range_m: float) -> gpd.GeoDataFrame:
    """Online cameras whose range may reach the box ``bounds`` (lon/lat degrees)."""
    x0, y0, x1, y1 = bounds
    r = max_range_m * RANGE_MARGIN[0] + RANGE_MARGIN[1]
    dlat = r / METRES_PER_DEGREE_LAT_MIN
    dlon = r / (EQUATOR_METRES_PER_DEGREE
                * math.cos(math.radians(min(89.0, max(abs(y0), abs(y1)) + dlat))))
    return gpd.read_postgis(text(
        "SELECT code, camera_type, azimuth_deg, fov_deg, range_m, status, geom FROM cameras"
        " WHERE status = 'online' AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
        session.connection(), geom_col="geom",
        params={"x0": x0 - dlon, "y0": y0 - dlat, "x1": x1 + dlon, "y1": y1 + dlat})


def _shadows_over(session: Session,
                  bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The building shadows (``camera_shadows``) of online cameras over the box ``bounds``."""
    x0, y0, x1, y1 = bounds
    return gpd.read_postgis(text(
        "SELECT s.camera_code, s.geom FROM camera_shadows s"
        " JOIN cameras c ON c.code = s.camera_code AND c.status = 'online'"
        " WHERE s.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
        session.connection(), geom_col="geom",
        params={"x0": x0, "y0": y0, "x1": x1, "y1": y1})


def _admin_chain(session: Session, communities: list[str]) -> dict[str, tuple[Any, Any]]:
    """community code → (street code, district code) from ``admin_areas``."""
    rows = session.execute(text(
        "SELECT c.code, s.code AS street, d.code AS district FROM admin_areas c"
        " LEFT JOIN admin_areas s ON s.code = c.parent_code"
        " LEFT JOIN admin_areas d ON d.code = s.parent_code"
        " WHERE c.code = ANY(:codes)"), {"codes": communities}).all()
    return {r.code: (r.street, r.district) for r in rows}


def copy_rows(database_url: str, stage: str, rows: pd.DataFrame) -> None:
    """COPY ``rows`` (``id`` + :data:`COLUMNS`) into the staging table ``stage`` and commit
    (``stage`` is a name generated by :func:`assign_events_dask`, never input)."""
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur, cur.copy(
            f"COPY {stage} (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows.itertuples(index=False, name=None):
            copy.write_row(row)


def write_staged(session: Session, stage: str) -> DaskAssignSummary:
    """Store the staged rows of events that still exist (cases a dispatcher reassigned keep
    their grid, as in :func:`geo.assign.assign_events`) through the one writer
    (:func:`geo.event_assignments.write_staged`); never commits."""
    counts = write_staged_rows(session, stage)
    return DaskAssignSummary(events=counts.n, covered=counts.covered, snapped=counts.snapped,
                             unassigned=counts.unassigned, with_cameras=counts.with_cameras,
                             seconds=0.0, changed=counts.changed)


def _worker_name() -> str:
    try:
        from distributed import get_worker
        return str(get_worker().address)
    except ValueError:
        return "client"


def dask_client(address: str | None, workers: int | None = None) -> Client:
    """A client of the scheduler at ``address`` (``tcp://host:8786``), or of a new
    LocalCluster of ``workers`` single-threaded processes on this machine (default: one per
    core) when ``address`` is None. Close it (``with``) when done."""
    if address:
        return Client(address)
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster)
