"""The assignment of one partition of events, in memory: the rules of :mod:`geo.assign`.

Grid chain (the same rule as :mod:`geo.locate` and :mod:`geo.assign`): the owner is the
smallest covering current ordinary grid code (``ST_Covers``: the boundary belongs to every
grid sharing it), the micro-grid the smallest covering micro-grid code of the owner, the
dedicated grids every covering dedicated grid (sorted). Events inside no ordinary grid get
their nearest grid from PostGIS (:func:`geo.nearest_grid.nearest_grids_of`, the query the
single-machine path runs). Cameras: every online camera within range and facing the spot,
by the vectorised twins of the SQL rule in :mod:`geo.cameras`
(:func:`~geo.cameras.geodesic_bearing_distance`, :func:`~geo.cameras.is_facing`,
:func:`~geo.cameras.covers`), the ``k`` nearest by (geodesic distance, code).

Inputs are GeoDataFrames in lon/lat (EPSG:4326); distances are geodesic metres on WGS 84.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.assign import EQUATOR_METRES_PER_DEGREE, METRES_PER_DEGREE_LAT_MIN
from geo.cameras import covers, geodesic_bearing_distance, is_facing

RANGE_MARGIN = (1.01, 1.0)
"""A camera's candidate box spans ``range_m * 1.01 + 1`` m (as in :mod:`geo.assign`)."""


def covering_grids(events: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Owner grid, its community, micro-grid and dedicated grids of each event (by position
    in ``events``; index ``e``). ``grids`` has ``code, level, kind, parent_code,
    community_code`` and the current geometries. Events covered by no ordinary grid have
    ``grid_code`` None."""
    tree = shapely.STRtree(grids.geometry.values)
    ev_i, g_i = tree.query(events.geometry.values, predicate="covered_by")
    hits = pd.DataFrame({"e": ev_i, "code": grids.code.values[g_i],
                         "cls": grid_classes(grids)[g_i],
                         "parent": grids.parent_code.values[g_i],
                         "community": grids.community_code.values[g_i]})
    out = pd.DataFrame(index=pd.RangeIndex(len(events), name="e"))
    owners = hits[hits.cls == 0].sort_values(["e", "code"]).drop_duplicates("e").set_index("e")
    out["grid_code"] = owners.code
    out["community_code"] = owners.community
    micro = hits[hits.cls == 1]
    of_owner = micro.loc[micro.parent.values == out.grid_code.reindex(micro.e).values]
    out["micro_grid_code"] = of_owner.groupby("e").code.min()
    out["dedicated_grid_codes"] = (hits[hits.cls == 2].groupby("e").code
                                   .agg(lambda codes: sorted(set(codes))))
    return out.astype(object).where(out.notna(), None)


def grid_classes(grids: gpd.GeoDataFrame) -> np.ndarray:
    """0 ordinary grid, 1 micro-grid, 2 dedicated grid (as ``geo.assign`` numbers them)."""
    return np.where(grids.level.values == "micro", 1,
                    np.where(grids.kind.values == "dedicated", 2, 0))


def camera_picks(events: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame, k: int,
                 shadows: gpd.GeoDataFrame | None = None) -> list[list[str]]:
    """The ``k`` nearest cameras covering each event (codes, nearest first; ties by code).

    ``cameras`` has ``code, camera_type, azimuth_deg, fov_deg, range_m, status`` and points.
    Candidates come from a lon/lat box that contains each camera's range on the ellipsoid;
    every candidate is then tested exactly (geodesic distance and bearing, :mod:`geo.cameras`).
    ``shadows`` (``camera_code`` and polygons, ``camera_shadows``): a pair whose event lies in
    a shadow of that camera is left out, as ``geo.assign`` does (GEOS ``covers``, the
    predicate of PostGIS ``ST_Covers``).
    """
    picks: list[list[str]] = [[] for _ in range(len(events))]
    if k == 0 or len(cameras) == 0 or len(events) == 0:
        return picks
    cx, cy = shapely.get_x(cameras.geometry.values), shapely.get_y(cameras.geometry.values)
    r = cameras.range_m.to_numpy(float) * RANGE_MARGIN[0] + RANGE_MARGIN[1]
    dlat = r / METRES_PER_DEGREE_LAT_MIN
    dlon = r / (EQUATOR_METRES_PER_DEGREE
                * np.cos(np.radians(np.minimum(89.0, np.abs(cy) + dlat))))
    boxes = shapely.box(cx - dlon, cy - dlat, cx + dlon, cy + dlat)
    points = events.geometry.values
    cam_i, ev_i = shapely.STRtree(points).query(boxes)
    ex, ey = shapely.get_x(points[ev_i]), shapely.get_y(points[ev_i])
    bearing, dist = geodesic_bearing_distance(cx[cam_i], cy[cam_i], ex, ey)
    facing = is_facing(bearing, cameras.azimuth_deg.values[cam_i],
                       cameras.fov_deg.values[cam_i], cameras.camera_type.values[cam_i])
    ok = covers(dist, cameras.range_m.values[cam_i], facing, cameras.status.values[cam_i])
    pairs = pd.DataFrame({"e": ev_i[ok], "d": dist[ok], "code": cameras.code.values[cam_i][ok]})
    if shadows is not None and len(shadows):
        pairs = pairs[~pairs.set_index(["e", "code"]).index.isin(_hidden(points, shadows))]
    pairs = pairs.sort_values(["e", "d", "code"])
    pairs = pairs[pairs.groupby("e").cumcount() < k]
    for e, codes in zip(pairs.e.to_numpy(), pairs.code.to_numpy(), strict=True):
        picks[e].append(str(codes))
    return picks


def _hidden(points: np.ndarray, shadows: gpd.GeoDataFrame) -> pd.MultiIndex:
    """(event position, camera code) of every event point a camera's shadow covers."""
    shadow_i, ev_i = shapely.STRtree(points).query(shadows.geometry.values, predicate="covers")
    return pd.MultiIndex.from_arrays([ev_i, shadows.camera_code.values[shadow_i]],
                                     names=["e", "code"])


def snapped(owners: pd.DataFrame, nearest: list[Any], tolerance_m: float) -> pd.DataFrame:
    """``owners`` (:func:`covering_grids`) with the events outside every ordinary grid
    completed from ``nearest`` (rows ``id, code, community_code, d, micro`` of
    :func:`geo.nearest_grid.nearest_grids_of`, ``id`` = position in the partition): ``snapped``
    to the nearest grid within ``tolerance_m`` metres, else ``unassigned``; the others
    ``covered``."""
    out = owners.copy()
    out["assignment"] = np.where(out.grid_code.notna(), "covered", "unassigned")
    out["nearest_grid_code"] = None
    out["nearest_distance_m"] = None
    for row in nearest:
        near = row.d <= tolerance_m
        out.loc[row.id, ["nearest_grid_code", "nearest_distance_m", "micro_grid_code"]] = (
            row.code, float(row.d), row.micro)
        if near:
            out.loc[row.id, ["assignment", "grid_code", "community_code"]] = (
                "snapped", row.code, row.community_code)
    return out
