"""The assignment of one partition of events, in memory: the rules of :mod:`geo.assign`.

Grid chain (the same rule as :mod:`geo.locate` and :mod:`geo.assign`): the owner is the
smallest covering current ordinary grid code (``ST_Covers``: the boundary belongs to every
grid sharing it), the micro-grid the smallest covering micro-grid code of the owner, the
dedicated grids every covering dedicated grid (sorted). Events inside no ordinary grid get
their nearest grid from PostGIS (:func:`geo.nearest_grid.nearest_grids_of`, the query the
single-machine path runs). Cameras: every online camera within range and facing the spot,
not hidden by a building shadow, the ``k`` nearest by (geodesic distance, code). Both are
computed by the single machine's in-memory engine (:mod:`geo.assign_arrays`): these
functions only adapt a partition's GeoDataFrames to it.

Inputs are GeoDataFrames in lon/lat (EPSG:4326); distances are geodesic metres on WGS 84.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.assign_arrays import NONE, CameraArrays, GridArrays
from geo.assign_arrays import camera_picks as nearest_cameras
from geo.assign_arrays import covering_grids as grid_chain
from geo.assign_memory import CELL_DEG
from geo.cell_index import CellIndex

RANGE_MARGIN = (1.01, 1.0)
"""A camera's candidate box spans ``range_m * 1.01 + 1`` m (as in :mod:`geo.assign`)."""


def _index(events: gpd.GeoDataFrame) -> CellIndex:
    points = events.geometry.values
    return CellIndex(shapely.get_x(points), shapely.get_y(points), CELL_DEG)


def covering_grids(events: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Owner grid, its community, micro-grid and dedicated grids of each event (by position
    in ``events``; index ``e``). ``grids`` has ``code, level, kind, parent_code,
    community_code`` and the current geometries. Events covered by no ordinary grid have
    ``grid_code`` None. The rules of :func:`geo.assign_arrays.covering_grids`."""
    grids = grids.sort_values("code")
    codes = grids.code.to_numpy(dtype=object)
    position = {code: i for i, code in enumerate(codes)}
    arrays = GridArrays(codes=codes, cls=grid_classes(grids).astype(np.int8),
                        parent=np.array([position.get(p, NONE) for p in grids.parent_code],
                                        dtype=np.int64),
                        community=grids.community_code.to_numpy(dtype=object),
                        geoms=grids.geometry.to_numpy())
    owners = grid_chain(_index(events), arrays)
    lookup = np.array([*codes, None], dtype=object)  # NONE (-1) → None
    out = pd.DataFrame(index=pd.RangeIndex(len(events), name="e"))
    out["grid_code"] = lookup[owners.grid]
    out["community_code"] = np.array([*arrays.community, None], dtype=object)[owners.grid]
    out["micro_grid_code"] = lookup[owners.micro]
    out["dedicated_grid_codes"] = pd.Series(
        {e: [str(codes[g]) for g in gs] for e, gs in owners.dedicated.items()}, dtype=object)
    return out.astype(object).where(out.notna(), None)


def grid_classes(grids: gpd.GeoDataFrame) -> np.ndarray:
    """0 ordinary grid, 1 micro-grid, 2 dedicated grid (as ``geo.assign`` numbers them)."""
    return np.where(grids.level.values == "micro", 1,
                    np.where(grids.kind.values == "dedicated", 2, 0))


def camera_picks(events: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame, k: int,
                 shadows: gpd.GeoDataFrame | None = None) -> list[list[str]]:
    """The ``k`` nearest cameras covering each event (codes, nearest first; ties by code).

    ``cameras`` has ``code, camera_type, azimuth_deg, fov_deg, range_m, status`` and points;
    ``shadows`` (``camera_code`` and polygons, ``camera_shadows``) hide spots from their
    camera. The rules of :func:`geo.assign_arrays.camera_picks`.
    """
    cams = cameras[cameras.status == "online"].sort_values("code")
    position = {code: i for i, code in enumerate(cams.code)}
    sh = shadows if shadows is not None else gpd.GeoDataFrame(
        {"camera_code": []}, geometry=gpd.GeoSeries([]))
    sh = sh[sh.camera_code.isin(position)]
    arrays = CameraArrays(
        codes=cams.code.to_numpy(dtype=object), x=shapely.get_x(cams.geometry.values),
        y=shapely.get_y(cams.geometry.values), azimuth=cams.azimuth_deg.to_numpy(float),
        fov=cams.fov_deg.to_numpy(float),
        sees_all=((cams.camera_type == "ptz") | (cams.fov_deg >= 360)).to_numpy(bool),
        range_m=cams.range_m.to_numpy(float), shadow_geoms=sh.geometry.to_numpy(),
        shadow_camera=np.array([position[c] for c in sh.camera_code], dtype=np.int64))
    picks: list[list[str]] = [[] for _ in range(len(events))]
    if len(events):
        for e, c in zip(*nearest_cameras(_index(events), arrays, k), strict=True):
            picks[e].append(str(arrays.codes[c]))
    return picks


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
