"""The oracle: geopandas/shapely/pyproj in memory, one core, the rules written the plain way.

``sjoin`` (covers) for grids, micro-grids and dedicated grids; ``sjoin_nearest`` in the
metric CRS (EPSG ``srid``) for points outside every grid; an STRtree ``dwithin`` query (metric
CRS) for camera candidates, GeographicLib bearing/distance for every candidate pair
(geo/cameras.py), building shadows by ``covers``; the ``k`` nearest by (distance, code).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from bench.assign_city import EngineInputs
from geo.cameras import geodesic_bearing_distance, is_facing

NAME = "geopandas (oracle)"


def version() -> str:
    return f"geopandas {gpd.__version__}, shapely {shapely.__version__}"


def run(inputs: EngineInputs, k: int, tolerance_m: float, srid: int) -> pd.DataFrame:
    """The job on ``inputs``; columns as bench/peers/sql_job.py :func:`finish`."""
    ev = inputs.events
    pts = gpd.GeoDataFrame({"eid": np.arange(len(ev))},
                           geometry=shapely.points(ev.x.values, ev.y.values), crs=4326)
    g = inputs.grids
    ordinary = g[(g.level == "grid") & (g.kind != "dedicated")][["code", "community_code",
                                                                  "geometry"]]
    micro = g[g.level == "micro"][["code", "parent_code", "geometry"]]
    out = pd.DataFrame({"id": ev.id.values})
    out["grid_code"] = _smallest_code(_covering(pts, ordinary), len(out))
    out["assignment"] = np.where(out.grid_code.isna(), None, "covered")
    hit = _covering(pts, micro)
    own = out.grid_code.to_numpy(dtype=object)[hit.eid.to_numpy(dtype=int)]
    out["micro_grid_code"] = _smallest_code(
        hit.loc[hit.parent_code.to_numpy(dtype=object) == own], len(out))
    ded = _covering(pts, g[g.kind == "dedicated"][["code", "geometry"]])
    out["dedicated"] = ded.groupby("eid")["code"].agg(lambda s: sorted(set(s))).reindex(
        out.index)
    _nearest(out, pts, ordinary, micro, srid, tolerance_m)
    out["camera_codes"] = _cameras(pts, inputs, k, srid)
    return out


def _covering(pts: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> pd.DataFrame:
    """(eid, polygon columns) where the polygon covers the point (edges included)."""
    return pd.DataFrame(gpd.sjoin(polygons, pts, predicate="covers", how="inner")
                        .drop(columns="geometry"))


def _smallest_code(hit: pd.DataFrame, n: int) -> np.ndarray:
    first = hit.sort_values(["eid", "code"]).drop_duplicates("eid")
    codes = np.full(n, None, dtype=object)
    codes[first.eid.to_numpy()] = first.code.to_numpy(dtype=object)
    return codes


def _nearest(out: pd.DataFrame, pts: gpd.GeoDataFrame, ordinary: gpd.GeoDataFrame,
             micro: gpd.GeoDataFrame, srid: int, tolerance_m: float) -> None:
    """Points outside every grid: nearest grid (metric CRS), snapped within tolerance."""
    out["nearest_grid_code"] = None
    out["nearest_distance_m"] = np.nan
    lost = pts[out.grid_code.isna().values]
    if lost.empty:
        return
    near = gpd.sjoin_nearest(lost.to_crs(srid), ordinary.to_crs(srid), distance_col="d")
    near = near.sort_values(["eid", "d", "code"]).drop_duplicates("eid")
    idx = near.eid.to_numpy()
    out.loc[idx, "nearest_grid_code"] = near.code.to_numpy()
    out.loc[idx, "nearest_distance_m"] = near.d.to_numpy()
    snapped = idx[near.d.to_numpy() <= tolerance_m]
    out.loc[out.grid_code.isna(), "assignment"] = "unassigned"
    out.loc[snapped, "assignment"] = "snapped"
    out.loc[snapped, "grid_code"] = out.loc[snapped, "nearest_grid_code"]
    if len(snapped):
        mm = micro[micro.parent_code.isin(set(out.loc[snapped, "grid_code"]))].to_crs(srid)
        pairs = gpd.sjoin_nearest(pts.iloc[snapped].to_crs(srid), mm, distance_col="d")
        pairs = pairs[pairs.parent_code.values == out.grid_code.values[pairs.eid.values]]
        best = pairs.sort_values(["eid", "d", "code"]).drop_duplicates("eid")
        out.loc[best.eid.to_numpy(), "micro_grid_code"] = best.code.to_numpy()


def _cameras(pts: gpd.GeoDataFrame, inputs: EngineInputs, k: int,
             srid: int) -> list[list[str]]:
    cams = inputs.cameras
    cam_pts = gpd.GeoSeries(shapely.points(cams.x.values, cams.y.values), crs=4326)
    reach = float(cams.range_m.max()) * 1.01 + 1.0
    ev_i, cam_i = shapely.STRtree(cam_pts.to_crs(srid).values).query(
        pts.geometry.to_crs(srid).values, predicate="dwithin", distance=reach)
    ex, ey = shapely.get_x(pts.geometry.values), shapely.get_y(pts.geometry.values)
    bearing, dist = geodesic_bearing_distance(cams.x.values[cam_i], cams.y.values[cam_i],
                                              ex[ev_i], ey[ev_i])
    face = is_facing(bearing, cams.azimuth_deg.values[cam_i], cams.fov_deg.values[cam_i],
                     cams.camera_type.values[cam_i])
    ok = face & (dist <= cams.range_m.values[cam_i])
    pick = pd.DataFrame({"eid": ev_i[ok], "d": dist[ok], "code": cams.code.values[cam_i[ok]]})
    sh = inputs.shadows
    if len(sh):
        s_i, e_i = shapely.STRtree(pts.geometry.values).query(sh.geometry.values,
                                                              predicate="covers")
        hidden = pd.MultiIndex.from_arrays([e_i, sh.camera_code.values[s_i]])
        pick = pick[~pd.MultiIndex.from_arrays([pick.eid, pick.code]).isin(hidden)]
    pick = pick.sort_values(["eid", "d", "code"])
    pick = pick[pick.groupby("eid").cumcount().to_numpy() < k]
    lists: list[list[str]] = [[] for _ in range(len(pts))]
    for eid, code in zip(pick.eid.to_numpy(), pick.code.to_numpy(dtype=object), strict=True):
        lists[eid].append(code)
    return lists
