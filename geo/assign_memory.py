"""Bulk assignment computed in memory (numpy + shapely 2, one thread per core) and written
back with COPY: the engine :func:`geo.assign.assign_events` uses from
:data:`MEMORY_FROM_EVENTS` events on (measured in bench/assign.py, see docs/scale.md).

1. the selected events' ids and coordinates come out of PostgreSQL packed into one binary
   value (:data:`_PACKED_SQL`);
2. the current grids over the events' extent, the online cameras that may reach it and
   their building shadows are read once (the grids prepared by GEOS), on a side
   connection while step 1 runs when the job's transaction has written nothing yet
   (:func:`_inputs_beside`: the server packs the events on one core while the grids are
   read and decoded on the other);
3. the events are cut into one spatial slice per thread (equal counts, west to east); each
   thread buckets its slice (:class:`geo.cell_index.CellIndex`) and applies the rules of
   :mod:`geo.assign_arrays` (shapely and numpy release the GIL in their loops);
4. events covered by no ordinary grid get their nearest grid from PostGIS
   (:func:`geo.nearest_grid.nearest_grids_of`, the query of the SQL path; half of them on
   a side connection, :func:`_snapped`);
5. when none of the selected events has a stored assignment and they move most rollup
   keys (a first assignment), their final rows are built in memory
   (:mod:`geo.first_assignment_rows`) and COPYed straight into ``event_assignments`` by
   :func:`geo.event_assignments.write_first_assignment`, which also writes their rollups,
   counted in memory from the rows and the category, status and flags the selection
   brought (:mod:`geo.first_assignment_rollups`; left pending refresh instead,
   geo.rollup_refresh, when a mark was pending already); otherwise (a re-run, a redraw,
   a small first assignment) the stored rows, read before the events, are compared with
   the computed ones in memory
   (:mod:`geo.assign_compare`) and only the changed rows are built the same way, each with
   the rollup key of the stored row it replaces, and stored by
   :func:`geo.event_assignments.write_changed` (a small stage applied by one statement,
   rows another writer rewrote meanwhile left alone; a redraw's rollups counted in memory
   and written with them); a re-run where nothing changed writes nothing. With
   :data:`COMPARE_IN_MEMORY` False, every row goes to UNLOGGED work tables
   (:mod:`geo.assign_stage`) compared by the server (the path before).

Never commits; the work table lives in the caller's transaction and is dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.assign_arrays import (
    NONE,
    CameraArrays,
    Computed,
    GridArrays,
    Owners,
    Selected,
    camera_picks,
    covering_grids,
)
from geo.assign_compare import compare, read_stored, stored_keys
from geo.assign_stage import AssignStage, camera_picks_by_rank
from geo.cell_index import CellIndex
from geo.db import psycopg_connection
from geo.event_assignments import (
    StagedCounts,
    rebuilds_rollups,
    stored_daily_rows,
    write_changed,
    write_first_assignment,
    write_staged,
)
from geo.first_assignment_rollups import (
    FACT_FIELDS,
    FACTS_JOIN,
    FACTS_SQL,
    RollupBase,
    rollup_base,
    rollup_inputs,
)
from geo.first_assignment_rows import first_assignment_rows, run_chains
from geo.nearest_grid import nearest_grids_of

MEMORY_FROM_EVENTS = 20_000
"""From this many selected events on, :func:`geo.assign.assign_events` computes in memory;
below it the SQL steps answer sooner (no grids or cameras to read into Python)."""
COMPARE_IN_MEMORY = True
"""A re-assignment (stored rows exist) compares in memory and sends only its changed rows
(:mod:`geo.assign_compare`); False: every row staged and compared by the server
(:class:`geo.assign_stage.AssignStage` + :func:`geo.event_assignments.write_staged`, the
path before, kept as the tests' and the bench's reference)."""
CELL_DEG = 0.001
"""Cell of the events' bucket index (degrees, ~100 m): a grid or camera box spans a few."""
_PACKED_ROW = np.dtype([("id", ">i8"), ("x", ">f8"), ("y", ">f8"), ("at", ">i8")])
"""One event in the value of :data:`_PACKED_SQL`: id, lon, lat, ``reported_at`` (µs since
2000-01-01 UTC), big-endian."""

_PACKED_SQL = ("SELECT string_agg(int8send(e.id) || float8send(ST_X(e.geom))"
               " || float8send(ST_Y(e.geom)) || timestamptz_send(e.reported_at){facts},"
               " ''::bytea) FROM events e{facts_join} WHERE {where} GROUP BY e.id >> 24")
"""The selected events packed by the server into ``bytea`` values (32 bytes an event), read
as a few binary values: 0.55–0.76 s for 10^6 events instead of 1.3–1.9 s for a binary
``COPY``, whose one message per row costs a Python iteration each (load ~4). One value per
2^24 ids (at most 512 MB; a ``bytea`` holds at most 1 GB), so any selection fits; the
``reported_at`` lets a first assignment skip the join with ``events``
(:mod:`geo.first_assignment_rows`); ``{facts}`` and ``{facts_join}``: a first assignment's
rollup facts (:data:`geo.first_assignment_rollups.FACTS_SQL`, ``FACTS_JOIN``) or empty."""
_FACTS_ROW = np.dtype(_PACKED_ROW.descr + FACT_FIELDS)


def select_events(session: Session, where: str, params: dict[str, Any],
                  rollups: RollupBase | None = None) -> Selected:
    """Ids and coordinates of ``events e`` matching the SQL condition ``where`` (code-made,
    ``:name`` placeholders bound from ``params``), packed by the server into one binary
    value (:data:`_PACKED_SQL`; table order: the writer sorts by id); with ``rollups``,
    their rollup facts too (:mod:`geo.first_assignment_rollups`)."""
    sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", _PACKED_SQL.format(
        where=where, facts=FACTS_SQL if rollups else "",
        facts_join=FACTS_JOIN if rollups else ""))
    bound = {**params, **rollups.params()} if rollups else params
    cur = psycopg_connection(session).cursor(binary=True)
    packed = b"".join(part for (part,) in cur.execute(sql, bound or None).fetchall())
    rows = np.frombuffer(packed, dtype=_FACTS_ROW if rollups else _PACKED_ROW)
    return Selected(rows["id"].astype(np.int64), rows["x"].astype(np.float64),
                    rows["y"].astype(np.float64), rows["at"].astype(np.int64),
                    rows[[name for name, _ in FACT_FIELDS]] if rollups else None)


ESTIMATE_MARGIN = 2
"""How many times the planner's estimate of a selection may undercount it (the gate of
:func:`_may_rebuild`)."""
BASE_GATED_FROM = 50_000
"""From this many stored daily rollup rows (:func:`geo.event_assignments.stored_daily_rows`)
on, a first assignment reads them only when :func:`_may_rebuild` says its selection may
rebuild the rollups."""


def _may_rebuild(session: Session, where: str, params: dict[str, Any]) -> bool:
    """Whether a first assignment of ``events e`` matching ``where`` should read the stored
    daily rollup rows to count its own (:func:`geo.first_assignment_rollups.rollup_base`:
    every stored row is read and held, ~1-2 s at 10^6 rows). Always below
    :data:`BASE_GATED_FROM` stored rows (cheap); from there on, only when
    :data:`ESTIMATE_MARGIN` times the planner's row estimate of the selection reaches the
    rebuild share (:func:`geo.event_assignments.rebuilds_rollups`): a first assignment of a
    day's import on a city of many rollup rows moves them in place instead. An estimate off
    by more than the margin costs time, never exactness (the rollups are then left pending
    refresh, or the stored rows read for nothing)."""
    if stored_daily_rows(session) < BASE_GATED_FROM:
        return True
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM events e WHERE {where}"),  # noqa: S608
                           params).scalar_one()
    return rebuilds_rollups(session, ESTIMATE_MARGIN * int(plan[0]["Plan"]["Plan Rows"]))


def _any_assigned(session: Session, where: str, params: dict[str, Any]) -> bool:
    """Whether any event matching ``where`` (see :func:`select_events`) has a stored
    assignment (one probe: stops at the first)."""
    return bool(session.execute(text(
        "SELECT EXISTS (SELECT FROM events e JOIN event_assignments a ON a.event_id = e.id"  # noqa: S608
        f" WHERE {where})"), params).scalar_one())


Box = tuple[float, float, float, float]
"""West, south, east, north (lon/lat degrees)."""


def _columns(session: Session, sql: str, box: Box, width: int) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (generated SQL; ``%(x0)s``..``%(y1)s``: ``box``) as ``width``
    column tuples, read by psycopg's binary loaders in the session's transaction (no
    SQLAlchemy row per grid or camera: ~10^5 of each at a province's scale)."""
    rows = psycopg_connection(session).cursor(binary=True).execute(
        sql, dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))).fetchall()
    return list(zip(*rows, strict=True)) if rows else [()] * width


def read_grids(session: Session, box: Box) -> GridArrays:
    """Current grids whose box meets ``box`` (lon/lat degrees), sorted by code."""
    codes, levels, kinds, parents, communities, wkb = _columns(session, (
        "SELECT code, level, kind, parent_code, community_code, ST_AsBinary(geom)"
        " FROM grids WHERE valid_to IS NULL"
        " AND geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326) ORDER BY code"),
        box, 6)
    position = {code: i for i, code in enumerate(codes)}
    return GridArrays(
        codes=np.array(codes, dtype=object),
        cls=np.array([1 if level == "micro" else 2 if kind == "dedicated" else 0
                      for level, kind in zip(levels, kinds, strict=True)], dtype=np.int8),
        parent=np.array([position.get(code, NONE) for code in parents], dtype=np.int64),
        community=np.array(communities, dtype=object),
        geoms=shapely.from_wkb(np.array(wkb, dtype=object)))


def read_cameras(session: Session, box: Box) -> CameraArrays:
    """Online cameras whose range may reach ``box`` (lon/lat degrees) and their shadows."""
    reach = "(range_m * 1.01 + 1.0) / 110574.0"
    near = (f"status = 'online' AND ST_Expand(geom, {reach} / cos(radians(least(89.0,"
            f" abs(ST_Y(geom)) + {reach})))) && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s,"
            " %(y1)s, 4326)")
    codes, x, y, azimuth, fov, range_m, sees_all = _columns(session, (
        "SELECT code, ST_X(geom), ST_Y(geom), azimuth_deg, fov_deg, range_m,"  # noqa: S608
        f" camera_type = 'ptz' OR fov_deg >= 360 FROM cameras WHERE {near} ORDER BY code"),
        box, 7)
    shadow_codes, shadow_wkb = _columns(session, (
        "SELECT s.camera_code, ST_AsBinary(s.geom) FROM camera_shadows s"  # noqa: S608
        f" WHERE s.camera_code IN (SELECT code FROM cameras WHERE {near})"), box, 2)
    position = {code: i for i, code in enumerate(codes)}
    return CameraArrays(
        codes=np.array(codes, dtype=object), x=np.array(x, dtype=float),
        y=np.array(y, dtype=float), azimuth=np.array(azimuth, dtype=float),
        fov=np.array(fov, dtype=float), sees_all=np.array(sees_all, dtype=bool),
        range_m=np.array(range_m, dtype=float),
        shadow_geoms=shapely.from_wkb(np.array(shadow_wkb, dtype=object)).reshape(-1),
        shadow_camera=np.array([position[code] for code in shadow_codes], dtype=np.int64))


Inputs = tuple[GridArrays, CameraArrays]


def read_inputs(session: Session, box: Box) -> Inputs:
    """The grids and cameras of ``box`` (:func:`read_grids`, :func:`read_cameras`)."""
    return read_grids(session, box), read_cameras(session, box)


_READS_BESIDE_SQL = ("SELECT pg_current_xact_id_if_assigned() IS NULL"
                     " AND current_setting('transaction_isolation') = 'read committed'")
"""Whether another connection reads what this transaction would: it has written nothing yet,
and each of its statements reads the latest committed rows anyway (READ COMMITTED)."""
_EXTENT_SQL = ("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)"
               " FROM (SELECT ST_Extent(e.geom) AS b FROM events e WHERE {where}) x")


def _side_engine(session: Session) -> Engine | None:
    """The engine of side connections that read what this transaction would read
    (:data:`_READS_BESIDE_SQL`), or None."""
    return session.get_bind().engine if session.execute(text(_READS_BESIDE_SQL)
                                                         ).scalar_one() else None


WORLD: Box = (-180.0, -90.0, 180.0, 90.0)
"""The box of a selection of every event: every current grid and online camera."""


def _inputs_beside(side: Engine | None, where: str, params: dict[str, Any],
                   pool: ThreadPoolExecutor, *, whole: bool = False
                   ) -> Future[tuple[Box, Inputs] | None] | None:
    """Start reading, on a ``side`` connection (in ``pool``), the extent of the events
    matching ``where`` and the grids and cameras over it, while the job's own connection
    selects the events (the server packs them, ~1.4 s at 10^6 events, while the side's
    rows are decoded here): the future of (extent, (grids, cameras)), or of None when
    nothing matches. None without a side engine (:func:`_side_engine`): read them after
    the selection, in the job's transaction. The caller uses them only when the extent
    covers the selected events' box (:func:`_covers`: an event reported in between may
    fall outside it). ``whole``: the selection is every event (bar reassigned cases), so
    every current grid and online camera is read (:data:`WORLD`), without the extent's scan
    of the events (~0.5 s at 10^6: the same grids and cameras, as the city's events cover
    it)."""
    if side is None:
        return None

    def read() -> tuple[Box, Inputs] | None:
        with Session(side) as reader, reader.begin():
            if whole:
                return WORLD, read_inputs(reader, WORLD)
            extent = reader.execute(text(_EXTENT_SQL.format(where=where)), params).one()
            if extent[0] is None:
                return None
            box = (float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3]))
            return box, read_inputs(reader, box)

    return pool.submit(read)


def _inputs(session: Session, beside: Future[tuple[Box, Inputs] | None] | None,
            box: Box) -> Inputs:
    """The grids and cameras of ``box``: those read ``beside`` when their extent covers it,
    else read now in the job's transaction."""
    read = beside.result() if beside is not None else None
    if read is not None and _covers(read[0], box):
        return read[1]
    return read_inputs(session, box)


SNAP_SPLIT_FROM = 200
"""From this many events outside every grid on, half of them are snapped on a side
connection (:func:`_snapped`)."""


def _snapped(session: Session, side: Engine | None, events: Selected,
             outside: NDArray[np.int64], tolerance_m: float) -> list[Any]:
    """The nearest-grid rows of the events at positions ``outside``
    (:func:`geo.nearest_grid.nearest_grids_of`: ~0.4 ms an event, geodesic distances), the
    first half on a ``side`` connection while this one answers the second (two server
    processes) when there is one and :data:`SNAP_SPLIT_FROM` events or more."""
    def rows(reader: Session, part: NDArray[np.int64]) -> list[Any]:
        return nearest_grids_of(reader, part.tolist(), events.x[part].tolist(),
                                events.y[part].tolist(), tolerance_m)

    if side is None or len(outside) < SNAP_SPLIT_FROM:
        return rows(session, outside)
    first, second = np.array_split(outside, 2)

    def aside() -> list[Any]:
        with Session(side) as reader, reader.begin():
            return rows(reader, first)

    with ThreadPoolExecutor(1) as pool:
        half = pool.submit(aside)
        mine = rows(session, second)  # before waiting for the side's half
        return half.result() + mine


def _covers(outer: Box, inner: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def compute(events: Selected, grids: GridArrays, cams: CameraArrays, k: int,
            threads: int | None = None) -> Computed:
    """The grid chain and camera picks of every event, one spatial slice per thread."""
    threads = max(1, min(threads or os.cpu_count() or 1, len(events.ids) // 10_000 or 1))
    order = np.argsort(events.x, kind="stable")
    slices = np.array_split(order, threads)

    def run(part: NDArray[np.int64]) -> tuple[Owners, NDArray[np.int64], NDArray[np.int64]]:
        index = CellIndex(events.x[part], events.y[part], CELL_DEG)
        owners = covering_grids(index, grids)
        ev, cam = camera_picks(index, cams, k)
        return owners, ev, cam

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(run, slices))
    n = len(events.ids)
    grid, micro = np.full(n, NONE, np.int64), np.full(n, NONE, np.int64)
    dedicated: dict[int, list[int]] = {}
    for part, (owners, _, _) in zip(slices, results, strict=True):
        grid[part], micro[part] = owners.grid, owners.micro
        dedicated.update({int(part[e]): g for e, g in owners.dedicated.items()})
    pick_event = np.concatenate([part[ev] for part, (_, ev, _) in zip(slices, results,
                                                                      strict=True)])
    pick_camera = np.concatenate([cam for _, _, cam in results])
    order = np.argsort(pick_event, kind="stable")
    return Computed(Owners(grid, micro, dedicated), pick_event[order], pick_camera[order])


def assign_in_memory(session: Session, where: str, params: dict[str, Any], k: int,
                     tolerance_m: float, lap: Callable[..., None], *,
                     every_event: bool = False) -> StagedCounts:
    """Assign the events matching ``where`` (see :func:`select_events`) in memory and store
    the rows through the one writer; ``lap(step)`` is called after each of six steps (the
    first time with the number of events too). ``every_event``: ``where`` keeps every event
    but those a dispatcher reassigned, so a re-run reads the stored rows whole (no join)."""
    assigned = _any_assigned(session, where, params)
    stored = (read_stored(session, None if every_event else where, params, k)  # first:
              if COMPARE_IN_MEMORY and assigned else None)
    base = None if assigned or not _may_rebuild(session, where, params) \
        else rollup_base(session)
    with ThreadPoolExecutor(1) as pool:
        side = _side_engine(session)
        beside = _inputs_beside(side, where, params, pool, whole=every_event)
        events = select_events(session, where, params, base)
        lap("select", len(events.ids))
        box = ((float(events.x.min()), float(events.y.min()), float(events.x.max()),
                float(events.y.max())) if len(events.ids) else (0.0, 0.0, 0.0, 0.0))
        grids, cams = _inputs(session, beside, box)
    lap("inputs")
    computed = compute(events, grids, cams, k)
    lap("compute")
    outside = np.flatnonzero(computed.owners.grid == NONE)
    nearest = _snapped(session, side, events, outside, tolerance_m)
    lap("snap")
    near = {int(r.id): r for r in nearest}
    if not assigned and rebuilds_rollups(session, len(events.ids)):
        rows = first_assignment_rows(session, events, grids, cams, computed,
                                     camera_picks_by_rank(computed, len(events.ids), k), near,
                                     tolerance_m)
        rollups = (rollup_inputs(session, base, rows, events.facts[rows.order],
                                 events.reported_us[rows.order])
                   if base is not None and events.facts is not None else None)
        lap("stage")  # a first assignment: COPYed straight into event_assignments
        counts = write_first_assignment(session, rows, rollups)
    elif COMPARE_IN_MEMORY:
        counts = _write_compared(session, stored, events, grids, cams, computed, near,
                                 tolerance_m, k, lap)
    else:
        stage = AssignStage(session, k)
        stage.lists(grids, cams, [r.community_code for r in nearest])
        stage.covered(events, computed)
        stage.others(events, computed, near, tolerance_m)
        lap("stage")
        counts = write_staged(session, stage.source(), recheck_events=False)
        stage.drop()
    lap("write")
    return counts


def _write_compared(session: Session, stored: pa.Table | None, events: Selected,
                    grids: GridArrays, cams: CameraArrays, computed: Computed,
                    near: dict[int, Any], tolerance_m: float, k: int,
                    lap: Callable[..., None]) -> StagedCounts:
    """Compare the computed rows with the ``stored`` ones in memory
    (:mod:`geo.assign_compare`; None: nothing stored) and write only the changed rows
    (:func:`geo.event_assignments.write_changed`); counts of every selected event."""
    chains = run_chains(session, grids, near)
    picks = camera_picks_by_rank(computed, len(events.ids), k)
    stored = stored if stored is not None else read_stored(session, "FALSE", {}, k)
    found = compare(stored, events, grids, cams, computed, picks, near, tolerance_m, chains)
    rows = first_assignment_rows(session, events, grids, cams, computed, picks, near,
                                 tolerance_m, only=found.changed, chains=chains,
                                 seen_xmin=found.seen_xmin,
                                 stored_keys=stored_keys(stored, found))
    lap("stage")  # the compare and the changed rows built
    written = write_changed(session, rows)
    return StagedCounts(len(events.ids), written.changed, found.covered, found.snapped,
                        found.unassigned, found.with_cameras, written.rollups_pending,
                        written.superseded)
