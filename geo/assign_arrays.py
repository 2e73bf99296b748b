"""The rules of :mod:`geo.assign` on numpy arrays: the in-memory engine of bulk runs.

Same rules as :mod:`geo.locate` and the SQL steps of :mod:`geo.assign`:

* **grid chain**: the owner is the smallest covering current ordinary grid code (a point on a
  shared edge is covered by every grid sharing it: GEOS ``intersects`` of a point, the
  predicate of PostGIS ``ST_Covers``), the micro-grid the smallest covering micro-grid code of
  the owner, the dedicated grids every covering one;
* **cameras**: every online camera within ``range_m`` (geodesic, inclusive) whose view wedge
  holds the geodesic bearing (PTZ and 360° see all around), unless the spot lies in one of the
  camera's building shadows; the ``k`` nearest by (geodesic distance, code).

Candidates come from a :class:`geo.cell_index.CellIndex` of the events (grid bounding boxes;
camera boxes that contain the range on the ellipsoid, as in :mod:`geo.assign`). Bearings and
distances are first computed with :func:`geo.short_geodesic.short_bearing_distance`; every
pair whose decision the approximation's error bound could flip is recomputed exactly
(:func:`geo.cameras.geodesic_bearing_distance`, GeographicLib, as PostGIS), so the answer is
the exact rule's. Coordinates are WGS 84 lon/lat degrees; distances metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.cameras import angle_off_axis, geodesic_bearing_distance
from geo.cell_index import CellIndex
from geo.short_geodesic import (
    bearing_error_deg,
    distance_error_m,
    outside_validity,
    short_bearing_distance,
)

NONE = -1
"""Index meaning "no grid" / "no camera" in the integer results."""
METRES_PER_DEGREE_LAT_MIN = 110_574.0
EQUATOR_METRES_PER_DEGREE = 111_319.49
RANGE_MARGIN = (1.01, 1.0)
"""A camera's candidate box spans ``range_m * 1.01 + 1`` m (as in :mod:`geo.assign`)."""

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass
class GridArrays:
    """Current grids sorted by code: ``cls`` 0 ordinary, 1 micro, 2 dedicated; ``parent``
    the position of the parent grid (or :data:`NONE`); ``geoms`` prepared polygons."""

    codes: NDArray[np.object_]
    cls: NDArray[np.int8]
    parent: IntArray
    community: NDArray[np.object_]
    geoms: NDArray[np.object_]

    def __post_init__(self) -> None:
        shapely.prepare(self.geoms)
        self.bounds = shapely.bounds(self.geoms).T


@dataclass
class CameraArrays:
    """Online cameras sorted by code (position = rank in code order); lon/lat degrees,
    azimuth/FOV degrees, range metres. ``shadow_geoms``/``shadow_camera``: the building
    shadows (prepared polygons) and the position of their camera."""

    codes: NDArray[np.object_]
    x: FloatArray
    y: FloatArray
    azimuth: FloatArray
    fov: FloatArray
    sees_all: NDArray[np.bool_]
    range_m: FloatArray
    shadow_geoms: NDArray[np.object_]
    shadow_camera: IntArray

    def __post_init__(self) -> None:
        shapely.prepare(self.shadow_geoms)
        order = np.argsort(self.shadow_camera, kind="stable")
        self.shadow_geoms, self.shadow_camera = self.shadow_geoms[order], self.shadow_camera[order]
        self.shadow_count = np.bincount(self.shadow_camera, minlength=len(self.codes))
        self.shadow_start = np.cumsum(self.shadow_count) - self.shadow_count


@dataclass
class Owners:
    """Per event (position in the index's points): owner grid, micro-grid (grid positions,
    :data:`NONE` when none) and the dedicated grids' positions of the events that have any."""

    grid: IntArray
    micro: IntArray
    dedicated: dict[int, list[int]]


@dataclass
class Selected:
    """The selected events: ids, WGS 84 lon/lat (degrees) and ``reported_at`` (µs since
    2000-01-01 UTC, PostgreSQL's binary ``timestamptz``); for a first assignment that counts
    its rollups, each event's rollup facts (geo.first_assignment_rollups.FACT_FIELDS)."""

    ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    reported_us: NDArray[np.int64]
    facts: NDArray[Any] | None = None


@dataclass
class Computed:
    """Per selected event (position): owner and micro-grid positions, dedicated grids, and
    the camera picks as (event position, camera position) sorted nearest first."""

    owners: Owners
    pick_event: NDArray[np.int64]
    pick_camera: NDArray[np.int64]


def covering_grids(index: CellIndex, grids: GridArrays) -> Owners:
    """The grid chain of every point of ``index`` (see the module)."""
    n = len(index.x)
    box, ev = index.pairs_in_boxes(*grids.bounds)
    hit = shapely.intersects_xy(grids.geoms[box], index.x[ev], index.y[ev])
    ev, g = ev[hit], box[hit]
    cls = grids.cls[g]
    big = np.iinfo(np.int64).max
    owner = np.full(n, big, dtype=np.int64)
    np.minimum.at(owner, ev[cls == 0], g[cls == 0])
    of_owner = (cls == 1) & (grids.parent[g] == owner[ev])
    micro = np.full(n, big, dtype=np.int64)
    np.minimum.at(micro, ev[of_owner], g[of_owner])
    dedicated: dict[int, list[int]] = {}
    ded = cls == 2
    for e, gg in sorted(set(zip(ev[ded].tolist(), g[ded].tolist(), strict=True))):
        dedicated.setdefault(e, []).append(gg)
    return Owners(np.where(owner == big, NONE, owner), np.where(micro == big, NONE, micro),
                  dedicated)


def camera_picks(index: CellIndex, cams: CameraArrays, k: int) -> tuple[IntArray, IntArray]:
    """(point, camera position) of the ``k`` cameras covering each point, sorted by point
    then nearest first (ties by code); see the module."""
    if k == 0 or len(cams.codes) == 0 or len(index.x) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    r = cams.range_m * RANGE_MARGIN[0] + RANGE_MARGIN[1]
    dlat = r / METRES_PER_DEGREE_LAT_MIN
    dlon = r / (EQUATOR_METRES_PER_DEGREE
                * np.cos(np.radians(np.minimum(89.0, np.abs(cams.y) + dlat))))
    cam, ev = index.pairs_in_boxes(cams.x - dlon, cams.y - dlat, cams.x + dlon, cams.y + dlat)
    dist, ok = _covering(cams, cam, index.x[ev], index.y[ev])
    cam, ev, dist = cam[ok], ev[ok], dist[ok]
    seen = ~_hidden(cams, cam, index.x[ev], index.y[ev])
    cam, ev, dist = cam[seen], ev[seen], dist[seen]
    dist = _exact_near_ties(cams, cam, ev, dist, index)
    order = np.lexsort((cam, dist, ev))
    cam, ev = cam[order], ev[order]
    starts = np.flatnonzero(np.r_[True, ev[1:] != ev[:-1]])
    rank = np.arange(len(ev)) - np.repeat(starts, np.diff(np.r_[starts, len(ev)]))
    keep = rank < k
    return ev[keep], cam[keep]


def _covering(cams: CameraArrays, cam: IntArray, x: FloatArray,
              y: FloatArray) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Distance (m) and the covering test of each candidate pair, exact where it matters."""
    bearing, dist = short_bearing_distance(cams.x[cam], cams.y[cam], x, y)
    half = cams.fov[cam] / 2.0
    sees_all = cams.sees_all[cam]
    off = np.abs(angle_off_axis(bearing, cams.azimuth[cam]))
    doubt = (outside_validity(dist, cams.y[cam], y)
             | (np.abs(dist - cams.range_m[cam]) <= distance_error_m(dist))
             | (~sees_all & (np.abs(off - half) <= bearing_error_deg(dist))))
    if doubt.any():
        b, d = geodesic_bearing_distance(cams.x[cam[doubt]], cams.y[cam[doubt]], x[doubt],
                                         y[doubt])
        dist[doubt], off[doubt] = d, np.abs(angle_off_axis(b, cams.azimuth[cam[doubt]]))
    ok = (dist <= cams.range_m[cam]) & (sees_all | (off <= half))
    return dist, ok


def _hidden(cams: CameraArrays, cam: IntArray, x: FloatArray, y: FloatArray
            ) -> NDArray[np.bool_]:
    """Pairs whose spot lies in one of the camera's shadows (edges included)."""
    counts = cams.shadow_count[cam]
    hidden = np.zeros(len(cam), dtype=bool)
    if not counts.any():
        return hidden
    pair = np.repeat(np.arange(len(cam)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    shadow = np.repeat(cams.shadow_start[cam], counts) + (np.arange(len(pair)) - first)
    inside = shapely.intersects_xy(cams.shadow_geoms[shadow], x[pair], y[pair])
    hidden[pair[inside]] = True
    return hidden


def _exact_near_ties(cams: CameraArrays, cam: IntArray, ev: IntArray, dist: FloatArray,
                     index: CellIndex) -> FloatArray:
    """``dist`` with the exact distance of every pair whose order among its point's cameras
    the approximation could get wrong (another camera within the error bound)."""
    order = np.lexsort((dist, ev))
    e, d = ev[order], dist[order]
    close = (e[1:] == e[:-1]) & (d[1:] - d[:-1] <= distance_error_m(d[1:]) * 2)
    doubt = np.zeros(len(d), dtype=bool)
    doubt[1:] |= close
    doubt[:-1] |= close
    if not doubt.any():
        return dist
    pick = order[doubt]
    _, exact = geodesic_bearing_distance(cams.x[cam[pick]], cams.y[cam[pick]],
                                         index.x[ev[pick]], index.y[ev[pick]])
    dist = dist.copy()
    dist[pick] = exact
    return dist
