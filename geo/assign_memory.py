"""Bulk assignment computed in memory (numpy + shapely 2, one thread per core) and written
back with COPY: the engine :func:`geo.assign.assign_events` uses from
:data:`MEMORY_FROM_EVENTS` events on (measured in bench/assign.py, see docs/scale.md).

1. the selected events' ids and coordinates come out of PostgreSQL as one binary COPY;
2. the current grids over the events' extent, the online cameras that may reach it and
   their building shadows are read once (the grids prepared by GEOS);
3. the events are cut into one spatial slice per thread (equal counts, west to east); each
   thread buckets its slice (:class:`geo.cell_index.CellIndex`) and applies the rules of
   :mod:`geo.assign_arrays` (shapely and numpy release the GIL in their loops);
4. events covered by no ordinary grid get their nearest grid from PostGIS
   (:func:`geo.nearest_grid.nearest_grids_of`, the query of the SQL path);
5. the rows are COPYed into an UNLOGGED work table and stored by the one writer
   (:func:`geo.event_assignments.write_staged`): changed rows updated, new rows inserted.

Never commits; the work table lives in the caller's transaction and is dropped.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign_arrays import (
    NONE,
    CameraArrays,
    GridArrays,
    Owners,
    camera_picks,
    covering_grids,
)
from geo.cell_index import CellIndex
from geo.event_assignments import StagedCounts, write_staged
from geo.nearest_grid import nearest_grids_of

MEMORY_FROM_EVENTS = 20_000
"""From this many selected events on, :func:`geo.assign.assign_events` computes in memory;
below it the SQL steps answer sooner (no grids or cameras to read into Python)."""
CELL_DEG = 0.001
"""Cell of the events' bucket index (degrees, ~100 m): a grid or camera box spans a few."""
_BINARY_ROW = np.dtype([("n", ">i2"), ("l0", ">i4"), ("id", ">i8"), ("l1", ">i4"),
                        ("x", ">f8"), ("l2", ">i4"), ("y", ">f8")])
"""One row of ``COPY (SELECT id, x, y) TO STDOUT (FORMAT binary)``."""


@dataclass
class Selected:
    """The selected events: ids and WGS 84 lon/lat (degrees)."""

    ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]


def _raw(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session (same transaction)."""
    conn = session.connection().connection.driver_connection
    assert isinstance(conn, psycopg.Connection)
    return conn


def select_events(session: Session, where: str, params: dict[str, Any]) -> Selected:
    """Ids and coordinates of ``events e`` matching the SQL condition ``where`` (code-made,
    values bound client-side by psycopg from ``params``), as one binary COPY (table order:
    the writer sorts by id)."""
    sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s",
                 "COPY (SELECT e.id, ST_X(e.geom), ST_Y(e.geom) FROM events e WHERE "  # noqa: S608
                 f"{where}) TO STDOUT (FORMAT binary)")
    cur = psycopg.ClientCursor(_raw(session))
    with cur.copy(sql, params or None) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    rows = np.frombuffer(data, dtype=_BINARY_ROW, offset=19,
                         count=(len(data) - 21) // _BINARY_ROW.itemsize)
    return Selected(rows["id"].astype(np.int64), rows["x"].astype(np.float64),
                    rows["y"].astype(np.float64))


def read_grids(session: Session, box: tuple[float, float, float, float]) -> GridArrays:
    """Current grids whose box meets ``box`` (lon/lat degrees), sorted by code."""
    rows = session.execute(text(
        "SELECT code, level, kind, parent_code, community_code, ST_AsBinary(geom) AS wkb"
        " FROM grids WHERE valid_to IS NULL"
        " AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) ORDER BY code"),
        dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))).all()
    codes = np.array([r.code for r in rows], dtype=object)
    position = {code: i for i, code in enumerate(codes)}
    return GridArrays(
        codes=codes,
        cls=np.array([1 if r.level == "micro" else 2 if r.kind == "dedicated" else 0
                      for r in rows], dtype=np.int8),
        parent=np.array([position.get(r.parent_code, NONE) for r in rows], dtype=np.int64),
        community=np.array([r.community_code for r in rows], dtype=object),
        geoms=shapely.from_wkb(np.array([bytes(r.wkb) for r in rows], dtype=object)))


def read_cameras(session: Session, box: tuple[float, float, float, float]) -> CameraArrays:
    """Online cameras whose range may reach ``box`` (lon/lat degrees) and their shadows."""
    params = dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))
    reach = "(range_m * 1.01 + 1.0) / 110574.0"
    near = (f"status = 'online' AND ST_Expand(geom, {reach} / cos(radians(least(89.0,"
            f" abs(ST_Y(geom)) + {reach})))) && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
    cams = session.execute(text(
        "SELECT code, ST_X(geom) AS x, ST_Y(geom) AS y, azimuth_deg, fov_deg, range_m,"  # noqa: S608
        f" camera_type = 'ptz' OR fov_deg >= 360 AS sees_all FROM cameras WHERE {near}"
        " ORDER BY code"), params).all()
    shadows = session.execute(text(
        "SELECT s.camera_code, ST_AsBinary(s.geom) AS wkb FROM camera_shadows s"  # noqa: S608
        f" WHERE s.camera_code IN (SELECT code FROM cameras WHERE {near})"), params).all()
    position = {c.code: i for i, c in enumerate(cams)}

    def column(name: str, dtype: Any) -> NDArray[Any]:
        return np.array([getattr(c, name) for c in cams], dtype=dtype)

    return CameraArrays(
        codes=column("code", object), x=column("x", float), y=column("y", float),
        azimuth=column("azimuth_deg", float), fov=column("fov_deg", float),
        sees_all=column("sees_all", bool), range_m=column("range_m", float),
        shadow_geoms=shapely.from_wkb(np.array([bytes(s.wkb) for s in shadows],
                                               dtype=object)).reshape(-1),
        shadow_camera=np.array([position[s.camera_code] for s in shadows], dtype=np.int64))


@dataclass
class Computed:
    """Per selected event (position): owner and micro-grid positions, dedicated grids, and
    the camera picks as (event position, camera position) sorted nearest first."""

    owners: Owners
    pick_event: NDArray[np.int64]
    pick_camera: NDArray[np.int64]


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
                     tolerance_m: float, lap: Callable[..., None]) -> StagedCounts:
    """Assign the events matching ``where`` (see :func:`select_events`) in memory and store
    the rows through the one writer; ``lap(step)`` is called after each of six steps (the
    first time with the number of events too)."""
    events = select_events(session, where, params)
    lap("select", len(events.ids))
    box = ((float(events.x.min()), float(events.y.min()), float(events.x.max()),
            float(events.y.max())) if len(events.ids) else (0.0, 0.0, 0.0, 0.0))
    grids, cams = read_grids(session, box), read_cameras(session, box)
    lap("inputs")
    computed = compute(events, grids, cams, k)
    lap("compute")
    outside = np.flatnonzero(computed.owners.grid == NONE)
    nearest = nearest_grids_of(session, outside.tolist(), events.x[outside].tolist(),
                               events.y[outside].tolist(), tolerance_m)
    lap("snap")
    stage = _Stage(session, k)
    stage.lists(grids, cams, [r.community_code for r in nearest])
    stage.covered(events, computed)
    stage.others(events, computed, {int(r.id): r for r in nearest}, tolerance_m)
    lap("stage")
    counts = write_staged(session, stage.source(), recheck_events=False)
    stage.drop()
    lap("write")
    return counts


class _Stage:
    """The run's work tables (names generated here, never from input) and the SQL that
    decodes them into ``event_assignments`` rows.

    ``{p}_grid(i, code, community_code, street_code, district_code)`` and
    ``{p}_camera(i, code)`` number the grids and cameras as the arrays do; the covered events
    go in as integers through a binary COPY (``{p}_covered(id, g, m, c1..ck)``, -1 for
    none), their dedicated grids and the events outside every grid as text rows.
    """

    def __init__(self, session: Session, k: int) -> None:
        self.session, self.k = session, k
        self.grid_codes: NDArray[np.object_] = np.array([], dtype=object)
        self.p = f"assign_{uuid.uuid4().hex[:12]}"
        self.made: list[str] = []

    def _create(self, name: str, sql: str, params: dict[str, Any] | None = None) -> str:
        table = f"{self.p}_{name}"
        self.session.execute(text(f"CREATE UNLOGGED TABLE {table} {sql}"), params or {})
        self.made.append(table)
        return table

    def lists(self, grids: GridArrays, cams: CameraArrays, more: list[str]) -> None:
        """The numbered grids (with their admin chain) and cameras."""
        self.grid_codes = grids.codes
        self._create("grid", """AS SELECT (u.o - 1)::int AS i, u.code, u.community_code,
              s.code AS street_code, d.code AS district_code
            FROM unnest(CAST(:codes AS text[]), CAST(:communities AS text[]))
                 WITH ORDINALITY AS u(code, community_code, o)
            LEFT JOIN admin_areas c ON c.code = u.community_code
            LEFT JOIN admin_areas s ON s.code = c.parent_code
            LEFT JOIN admin_areas d ON d.code = s.parent_code""",
                     {"codes": grids.codes.tolist(), "communities": grids.community.tolist()})
        self._create("camera", "AS SELECT (o - 1)::int AS i, code FROM"
                     " unnest(CAST(:codes AS text[])) WITH ORDINALITY AS u(code, o)",
                     {"codes": cams.codes.tolist()})
        self._create("chain", """AS SELECT c.code AS community_code, s.code AS street_code,
              d.code AS district_code FROM admin_areas c
            LEFT JOIN admin_areas s ON s.code = c.parent_code
            LEFT JOIN admin_areas d ON d.code = s.parent_code WHERE c.code = ANY(:more)""",
                     {"more": sorted({c for c in more if c is not None})})
        for name in ("grid", "camera"):
            self.session.execute(text(f"ALTER TABLE {self.p}_{name} ADD PRIMARY KEY (i)"))

    def covered(self, events: Selected, computed: Computed) -> None:
        """The covered events as integers: id, grid, micro-grid, k camera positions."""
        cams = ", ".join(f"c{j} int" for j in range(1, self.k + 1))
        table = self._create("covered", f"(id bigint, g int, m int{', ' if cams else ''}{cams})")
        mine = np.flatnonzero(computed.owners.grid != NONE)
        picks = np.full((len(events.ids), self.k), NONE, dtype=np.int64)
        if self.k and len(computed.pick_event):
            first = np.searchsorted(computed.pick_event, computed.pick_event, "left")
            rank = np.arange(len(computed.pick_event)) - first
            picks[computed.pick_event, rank] = computed.pick_camera
        fields = [("n", ">i2"), ("l0", ">i4"), ("id", ">i8"), ("l1", ">i4"), ("g", ">i4"),
                  ("l2", ">i4"), ("m", ">i4")]
        for j in range(self.k):
            fields += [(f"lc{j}", ">i4"), (f"c{j}", ">i4")]
        rows = np.zeros(len(mine), dtype=np.dtype(fields))
        rows["n"], rows["l0"] = 3 + self.k, 8
        rows["id"], rows["g"], rows["m"] = (events.ids[mine], computed.owners.grid[mine],
                                            computed.owners.micro[mine])
        rows["l1"] = rows["l2"] = 4
        for j in range(self.k):
            rows[f"lc{j}"], rows[f"c{j}"] = 4, picks[mine, j]
        with _raw(self.session).cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff")

    def others(self, events: Selected, computed: Computed, nearest: dict[int, Any],
               tolerance_m: float) -> None:
        """Dedicated grids of covered events, and the full rows of the events outside
        every ordinary grid (snapped or unassigned)."""
        owners = computed.owners
        ded = self._create("dedicated", "(id bigint, codes text[])")
        with _raw(self.session).cursor().copy(f"COPY {ded} FROM STDIN") as cp:
            for p, grids in owners.dedicated.items():
                if owners.grid[p] != NONE:
                    cp.write_row((int(events.ids[p]), self._codes(grids)))
        out = self._create("outside", "(id bigint, grid_code text, micro_grid_code text,"
                           " community_code text, dedicated_grid_codes text[], assignment text,"
                           " nearest_grid_code text, nearest_distance_m float8, cams int[])")
        with _raw(self.session).cursor().copy(f"COPY {out} FROM STDIN") as cp:
            for p in np.flatnonzero(owners.grid == NONE).tolist():
                cp.write_row(self._outside_row(p, events, computed, nearest.get(p),
                                               tolerance_m))
        for table in self.made[-4:]:
            self.session.execute(text(f"ANALYZE {table}"))

    def _codes(self, positions: list[int]) -> list[str]:
        return [str(self.grid_codes[g]) for g in positions]

    def _outside_row(self, p: int, events: Selected, computed: Computed, near: Any,
                     tolerance_m: float) -> tuple[Any, ...]:
        lo, hi = np.searchsorted(computed.pick_event, [p, p + 1])
        cams = computed.pick_camera[lo:hi].tolist()
        ded = computed.owners.dedicated.get(p)
        dedicated = self._codes(ded) if ded else None
        if near is None:
            return (int(events.ids[p]), None, None, None, dedicated, "unassigned", None, None,
                    cams)
        snapped = near.d <= tolerance_m
        return (int(events.ids[p]), near.code if snapped else None, near.micro,
                near.community_code if snapped else None, dedicated,
                "snapped" if snapped else "unassigned", near.code, float(near.d), cams)

    def source(self) -> str:
        """SQL of the decoded rows (``id`` + :data:`COLUMNS`), for the one writer."""
        p = self.p
        cams = ", ".join(f"c{j}.code" for j in range(1, self.k + 1))
        joins = "".join(f" LEFT JOIN {p}_camera c{j} ON c{j}.i = s.c{j}"
                        for j in range(1, self.k + 1))
        return f"""(
            SELECT s.id, g.district_code, g.street_code, g.community_code, g.code AS grid_code,
                   m.code AS micro_grid_code, d.codes AS dedicated_grid_codes,
                   'covered'::text AS assignment, NULL::text AS nearest_grid_code,
                   NULL::float8 AS nearest_distance_m,
                   array_remove(ARRAY[{cams or 'NULL'}]::text[], NULL) AS camera_codes
            FROM {p}_covered s JOIN {p}_grid g ON g.i = s.g
            LEFT JOIN {p}_grid m ON m.i = s.m LEFT JOIN {p}_dedicated d ON d.id = s.id{joins}
            UNION ALL
            SELECT o.id, h.district_code, h.street_code, o.community_code, o.grid_code,
                   o.micro_grid_code, o.dedicated_grid_codes, o.assignment,
                   o.nearest_grid_code, o.nearest_distance_m,
                   ARRAY(SELECT c.code FROM unnest(o.cams) WITH ORDINALITY AS u(i, n)
                         JOIN {p}_camera c ON c.i = u.i ORDER BY u.n) AS camera_codes
            FROM {p}_outside o LEFT JOIN {p}_chain h ON h.community_code = o.community_code)"""  # noqa: S608

    def drop(self) -> None:
        for table in reversed(self.made):
            self.session.execute(text(f"DROP TABLE IF EXISTS {table}"))
