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

The same job reads its events from a GeoParquet dataset instead (``Targets.from_parquet``:
an archive of old months, an export; :mod:`geo.distributed.geoparquet`), one partition per
file or row group, and writes its rows to GeoParquet (``Targets.to_parquet``: one file per
partition), to ``event_assignments`` (``Targets.to_database``: the rows of events that are
in the database), or both. Grids, cameras and shadows always come from PostGIS.

Every worker needs gridlink installed and a network path to the database at
``database_url`` (the URL travels in the task graph: prefer a ``~/.pgpass`` on the workers
to a password in it), and to the GeoParquet paths (a shared folder, or an object store URL
fsspec opens). Events created while the job runs are not in it; they were assigned
when they were created.
"""

from __future__ import annotations

import math
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.dataframe as dd
import dask_geopandas  # noqa: F401  (registers the GeoDataFrame backend of dask.dataframe)
import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from distributed import Client, as_completed
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import (
    EQUATOR_METRES_PER_DEGREE,
    METRES_PER_DEGREE_LAT_MIN,
    AssignSummary,
)
from geo.db import engine_for, libpq_url, session_factory, transaction
from geo.distributed.geoparquet import (
    as_wgs84,
    check_output,
    events_dataset,
    read_events,
    spatially_shuffled,
    write_assignments,
)
from geo.distributed.partitions import (
    EVENTS_OF_PARTITION,
    SpatialPartition,
    partition_params,
    spatial_partitions,
)
from geo.distributed.rules import RANGE_MARGIN, camera_picks, covering_grids, snapped
from geo.distributed.targets import Targets
from geo.errors import ValidationFailed
from geo.event_assignments import COLUMNS
from geo.event_assignments import write_staged as write_staged_rows
from geo.nearest_grid import nearest_grids_of
from geo.rollup_refresh import refresh_rollups
from geo.settings import Settings, get_settings

RUN_COLUMNS = {"partition": "int64", "events": "int64", "outside": "int64",
               "snapped": "int64", "with_cameras": "int64", "seconds": "float64",
               "worker": "object", "peak_rss_mb": "float64", "file": "object"}
"""The one-row summary each partition task returns (``outside``: events in no ordinary grid,
snapped or not; ``peak_rss_mb``: the worker process's peak resident memory so far, MiB;
``file``: the GeoParquet file written, else empty)."""

PartitionProgress = Callable[[int, int, int], None]
"""(partitions done, partitions in all, events done): called as partitions finish."""


@dataclass(frozen=True)
class Sinks:
    """Where each partition task writes: the database and staging table, a folder."""

    database_url: str
    stage: str | None
    directory: str | None


@dataclass
class DaskAssignSummary(AssignSummary):
    """:class:`AssignSummary` plus one row per partition (:data:`RUN_COLUMNS`)."""

    partitions: list[dict[str, Any]] = field(default_factory=list)


def assign_events_dask(client: Client, database_url: str, *, k: int | None = None,
                       cell_deg: float = 0.05, target_events: int = 200_000,
                       settings: Settings | None = None, targets: Targets | None = None,
                       progress: PartitionProgress | None = None) -> DaskAssignSummary:
    """(Re)assign every event on the Dask cluster of ``client``; commits its one write.

    ``database_url`` (SQLAlchemy URL) is read by the client and every worker; ``k`` cameras
    per event (default ``settings.locate_k``), ``cell_deg``/``target_events`` shape the
    partitions of the ``events`` table (:func:`geo.distributed.partitions.spatial_partitions`;
    a GeoParquet dataset is partitioned by its files). ``targets`` (default: the ``events``
    table in, ``event_assignments`` out) says where events come from and rows go
    (:class:`Targets`). Same answers as :func:`geo.assign.assign_events` (scope ``all``) on
    every event. Raises :class:`ValidationFailed` for a bad ``k``, partition shape, dataset
    (:func:`geo.distributed.geoparquet.events_dataset`) or non-empty output folder, before
    anything is written.
    """
    settings = settings or get_settings()
    targets = targets or Targets()
    k = settings.locate_k if k is None else k
    if not 0 <= k <= 50:
        raise ValidationFailed("k must be 0-50", [{"field": "k", "value": k}])
    started = time.perf_counter()
    engine = engine_for(database_url)
    stage = f"dask_assign_{uuid.uuid4().hex[:12]}" if targets.to_database else None
    if targets.to_parquet:
        check_output(targets.to_parquet)
    with transaction(engine) as session:
        events = _events_frame(session, database_url, targets, cell_deg, target_events)
        max_range = float(session.execute(text(
            "SELECT coalesce(max(range_m), 0) FROM cameras WHERE status = 'online'"))
            .scalar_one())
        if stage:
            session.execute(text(
                f"CREATE UNLOGGED TABLE {stage} AS SELECT event_id AS id,"  # noqa: S608
                f" {', '.join(COLUMNS)} FROM event_assignments WITH NO DATA"))  # generated
    try:
        planned = time.perf_counter()
        runs = _run_partitions(client, events, Sinks(database_url, stage, targets.to_parquet),
                               (k, settings.gps_tolerance_m, max_range), progress)
        computed = time.perf_counter()
        summary = _summary_of(runs)
        if stage:
            with transaction(engine) as session:
                summary = write_staged(session, stage)
            with transaction(engine) as session:  # after the commit (geo.rollup_refresh)
                refresh_rollups(session)
    finally:
        if stage:
            with transaction(engine) as session:
                session.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    done = time.perf_counter()
    summary.seconds = done - started
    summary.steps = {"plan": round(planned - started, 3), "dask": round(computed - planned, 3),
                     "write": round(done - computed, 3)}
    summary.partitions = [{str(c): v for c, v in r.items()} for r in runs.to_dict("records")]
    return summary


def _events_frame(session: Session, database_url: str, targets: Targets, cell_deg: float,
                  target_events: int) -> dd.DataFrame:
    """The events to assign as a lazy Dask GeoDataFrame (``id`` + points): spatial
    partitions of the ``events`` table, or the files of the GeoParquet dataset."""
    if targets.from_parquet:
        dataset = events_dataset(targets.from_parquet)
        events = read_events(dataset, bbox=targets.bbox)
        return spatially_shuffled(events, dataset) if targets.spatial_shuffle else events
    parts = spatial_partitions(session, cell_deg, target_events)
    meta = gpd.GeoDataFrame({"id": pd.Series(dtype="int64")},
                            geometry=gpd.GeoSeries([], crs=4326))
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    events = dd.from_delayed([dask.delayed(events_of)(database_url, p) for p in parts],
                             meta=meta, verify_meta=False)
    events.spatial_partitions = gpd.GeoSeries(
        [shapely.box(*p.bounds()) for p in parts], crs=4326)
    return events


def _summary_of(runs: pd.DataFrame) -> DaskAssignSummary:
    """The counts of the partitions' summary rows (every row written: ``changed``)."""
    n, outside, snapped_n = (int(runs[c].sum()) for c in ("events", "outside", "snapped"))
    return DaskAssignSummary(events=n, covered=n - outside, snapped=snapped_n,
                             unassigned=outside - snapped_n,
                             with_cameras=int(runs.with_cameras.sum()), seconds=0.0,
                             changed=n)


def _run_partitions(client: Client, events: dd.DataFrame, sinks: Sinks,
                    rules: tuple[int, float, float],
                    progress: PartitionProgress | None) -> pd.DataFrame:
    """Every partition assigned and written on the cluster; one summary row each, in
    partition order. ``rules``: (k, GPS tolerance m, largest camera range m)."""
    runs = events.map_partitions(
        assign_partition, sinks, *rules,
        meta=pd.DataFrame({c: pd.Series(dtype=t) for c, t in RUN_COLUMNS.items()}))
    futures = client.compute(runs.to_delayed())
    done, events_done = 0, 0
    for finished in as_completed(futures):
        done += 1
        events_done += int(finished.result().events.sum())
        if progress:
            progress(done, len(futures), events_done)
    frames = [f.result() for f in futures]
    result = pd.concat(frames) if frames else pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in RUN_COLUMNS.items()})
    return result.reset_index(drop=True)


def events_of(database_url: str, part: SpatialPartition) -> gpd.GeoDataFrame:
    """The events (``id``, point geometry, EPSG:4326) of one partition, in id order."""
    with session_factory(engine_for(database_url))() as session:
        return gpd.read_postgis(
            text(EVENTS_OF_PARTITION + " ORDER BY e.id"), session.connection(),
            geom_col="geom", params=partition_params(part)).rename_geometry("geometry")


def assign_partition(events: gpd.GeoDataFrame, sinks: Sinks, k: int, tolerance_m: float,
                     max_range_m: float,
                     partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Assign one partition's ``events`` and write the rows to ``sinks``; runs on a worker.

    ``events`` may be in any CRS (reprojected to EPSG:4326). Reads the current grids over
    the events' extent and the online cameras within ``max_range_m`` metres of it. Returns
    the partition's summary row (:data:`RUN_COLUMNS`).
    """
    started = time.perf_counter()
    number = (partition_info or {}).get("number", -1)
    events = as_wgs84(events)
    rows = pd.DataFrame({c: pd.Series(dtype=object) for c in ("id", *COLUMNS)})
    if len(events):
        with session_factory(engine_for(sinks.database_url))() as session:
            rows = partition_rows(session, events, k, tolerance_m, max_range_m)
        if sinks.stage:
            copy_rows(sinks.database_url, sinks.stage, rows)
    file = write_assignments(rows, events.geometry.values, sinks.directory,
                             number) if sinks.directory else ""
    return pd.DataFrame([{
        "partition": number, "events": len(events),
        "outside": int((rows.assignment != "covered").sum()),
        "snapped": int((rows.assignment == "snapped").sum()),
        "with_cameras": int(rows.camera_codes.map(bool).sum()),
        "seconds": round(time.perf_counter() - started, 3), "worker": _worker_name(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "file": file}]).astype(RUN_COLUMNS)


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
