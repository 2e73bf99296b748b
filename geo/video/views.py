"""Stored visibility: each camera's view polygon (one per PTZ preset too) and the shadow of
every building in its reach, recomputed for the cameras a change affects.

Cameras are measured in their district's metric CRS (:func:`geo.districts.metric_srid_for`).
A camera's azimuth is a true bearing; in the projected CRS it becomes a grid bearing by
adding the grid bearing of true north at the camera (meridian convergence, ~0.45° near
Datong in EPSG:4547), and its reach is multiplied by the CRS's scale at the camera, both
measured by PostGIS from a point 100 m due north on the ellipsoid. A new computation closes
the camera's current view (``valid_to``) and adds a new version; shadows hold only the
current computation. Functions here never commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.districts import district_of, metric_srid_for
from geo.settings import Settings, get_settings
from geo.video.model import TARGET_HEIGHT_M, building_height_sql, height_sql
from geo.video.visibility import (
    GRID_SIZE_M,
    RESOLUTION_DEG,
    Obstacles,
    View,
    Viewpoint,
    compute_view,
)

METRES_PER_DEGREE_LAT_MIN = 110_574.0


@dataclass
class RefreshSummary:
    """What one refresh did: cameras computed, views and shadows written, seconds (wall),
    per-camera compute seconds and the number of buildings each had in reach."""

    cameras: int = 0
    views: int = 0
    shadows: int = 0
    seconds: float = 0.0
    per_camera_s: list[float] = field(default_factory=list)
    buildings_near: list[int] = field(default_factory=list)


CAMERAS_SQL = f"""
SELECT c.code, c.camera_type, c.grid_code, {height_sql("c")} AS height_m, c.azimuth_deg,
       c.fov_deg, c.range_m, ST_X(t.m) AS x, ST_Y(t.m) AS y,
       degrees(ST_Azimuth(t.m, t.n)) AS north_deg, ST_Distance(t.m, t.n) / 100.0 AS scale,
       coalesce((SELECT json_agg(json_build_array(p.name, p.azimuth_deg, p.fov_deg,
                                                  least(coalesce(p.range_m, c.range_m), c.range_m))
                 ORDER BY p.name) FROM camera_presets p WHERE p.camera_code = c.code),
                '[]') AS presets
FROM cameras c CROSS JOIN LATERAL (
  SELECT ST_Transform(c.geom, :srid) AS m,
         ST_Transform(ST_Project(geography(c.geom), 100, 0)::geometry, :srid) AS n) t
WHERE c.code = ANY(:codes)"""  # noqa: S608 - constant fragments, values bound
"""The cameras ``codes`` in EPSG ``srid``: position, height (kind default when empty), grid
bearing of true north (degrees) and the CRS's scale at the camera."""

BUILDINGS_SQL = f"""
SELECT b.code, {building_height_sql("b")} AS height_m,
       ST_AsBinary(ST_Transform(b.geom, :srid)) AS wkb
FROM buildings b
WHERE b.geom && ST_Expand(ST_GeomFromText(:box, 4326), :deg) AND ST_Dimension(b.geom) = 2
ORDER BY b.code"""  # noqa: S608 - constant fragments, values bound
"""Building footprints (points are not obstacles) near a box, in EPSG ``srid``."""


_POLYGONS = ("ST_Multi(ST_CollectionExtract(ST_Transform("
             "ST_GeomFromWKB(:wkb, CAST(:srid AS integer)), 4326), 3))")
INSERT_VIEW_SQL = (
    "INSERT INTO camera_views (camera_code, preset, geom, area_m2, resolution_deg,"  # noqa: S608
    f" target_height_m) VALUES (:camera, :preset, {_POLYGONS}, :area, :res, :target)")
INSERT_SHADOW_SQL = ("INSERT INTO camera_shadows (camera_code, building_code, near_m, geom)"  # noqa: S608
                     f" VALUES (:camera, :building, :near, {_POLYGONS})")
"""Rows from metric WKB parameters (``srid``) stored as EPSG:4326 multipolygons."""


def refresh_views(session: Session, codes: Iterable[str] | None = None, *,
                  resolution_deg: float = RESOLUTION_DEG,
                  settings: Settings | None = None) -> RefreshSummary:
    """Recompute the views and shadows of cameras ``codes`` (None: every camera).

    Codes of cameras that no longer exist lose their current view and shadows. Returns the
    counts and timings; never commits.
    """
    settings = settings or get_settings()
    clock = time.perf_counter()
    wanted = sorted(set(codes)) if codes is not None else list(
        session.scalars(text("SELECT code FROM cameras ORDER BY code")))
    session.execute(text("UPDATE camera_views SET valid_to = now() WHERE valid_to IS NULL"
                         " AND camera_code = ANY(:codes)"), {"codes": wanted})
    session.execute(text("DELETE FROM camera_shadows WHERE camera_code = ANY(:codes)"),
                    {"codes": wanted})
    summary = RefreshSummary()
    for srid, group in _by_srid(session, wanted, settings).items():
        _refresh_group(session, srid, group, resolution_deg, summary)
    summary.seconds = time.perf_counter() - clock
    return summary


def cameras_near(session: Session, area_wkt: str) -> list[str]:
    """Codes of the cameras whose reach (``range_m``, geodesic) touches ``area_wkt``
    (WKT, EPSG:4326): those a change of buildings there may affect."""
    return list(session.scalars(text(
        "SELECT code FROM cameras WHERE ST_DWithin(geography(geom),"
        " geography(ST_GeomFromText(:w, 4326)), range_m) ORDER BY code"), {"w": area_wkt}))


def refresh_after_import(session: Session, table: str, codes: list[str]) -> RefreshSummary | None:
    """After an import into ``table``: recompute the imported cameras' views, or those of
    the cameras in reach of the imported buildings and of those the buildings shadowed
    before (a building moved away); None for other tables."""
    if table == "cameras" and codes:
        return refresh_views(session, codes)
    if table != "buildings" or not codes:
        return None
    extent = session.scalar(text(
        "SELECT ST_AsText(ST_Envelope(ST_Collect(geom))) FROM buildings WHERE code = ANY(:c)"),
        {"c": codes})
    shadowed = session.scalars(text("SELECT DISTINCT camera_code FROM camera_shadows"
                                    " WHERE building_code = ANY(:c)"), {"c": codes})
    affected = set(shadowed) | set(cameras_near(session, extent) if extent else [])
    return refresh_views(session, affected) if affected else None


def _by_srid(session: Session, codes: list[str], settings: Settings) -> dict[int, list[str]]:
    """The cameras grouped by the metric CRS of their district."""
    rows = session.execute(text("SELECT code, grid_code FROM cameras WHERE code = ANY(:c)"),
                           {"c": codes}).all()
    srids: dict[str | None, int] = {}
    groups: dict[int, list[str]] = {}
    for code, grid_code in rows:
        district = district_of(grid_code)
        if district not in srids:
            srids[district] = metric_srid_for(session, grid_code, settings)
        groups.setdefault(srids[district], []).append(code)
    return groups


def _refresh_group(session: Session, srid: int, codes: list[str], resolution_deg: float,
                   summary: RefreshSummary) -> None:
    """Compute and store the views of ``codes``, all measured in EPSG ``srid``."""
    cameras = session.execute(text(CAMERAS_SQL), {"srid": srid, "codes": codes}).mappings().all()
    if not cameras:
        return
    obstacles = _obstacles_near(session, srid, codes, max(c["range_m"] for c in cameras))
    tree = shapely.STRtree(obstacles.geoms)
    views: list[dict[str, Any]] = []
    shadows: list[dict[str, Any]] = []
    for camera in cameras:
        start = time.perf_counter()
        point = _viewpoint(camera)
        near = tree.query(shapely.Point(point.x, point.y).buffer(point.reach_m * 1.01, 8))
        view = compute_view(point, Obstacles(obstacles.geoms[near], obstacles.heights[near],
                                             obstacles.codes[near]), resolution_deg)
        views += _view_rows(camera, point, view, srid, resolution_deg)
        shadows += [{"camera": camera["code"], "building": code, "near": near_m,
                     "wkb": shapely.to_wkb(shapely.force_2d(geom)), "srid": srid}
                    for code, (near_m, geom) in view.shadows.items() if not geom.is_empty]
        summary.per_camera_s.append(time.perf_counter() - start)
        summary.buildings_near.append(len(near))
    _write(session, views, shadows)
    summary.cameras += len(cameras)
    summary.views += len(views)
    summary.shadows += len(shadows)


def _obstacles_near(session: Session, srid: int, codes: list[str], reach_m: float) -> Obstacles:
    """Footprints of the buildings within ``reach_m`` of the cameras' extent (EPSG srid)."""
    box = session.scalar(text("SELECT ST_AsText(ST_Extent(geom)) FROM cameras"
                              " WHERE code = ANY(:c)"), {"c": codes})
    return obstacles_in(session, srid, str(box), reach_m)


def obstacles_in(session: Session, srid: int, area_wkt: str, margin_m: float) -> Obstacles:
    """Footprints (EPSG ``srid``), heights and codes of the buildings whose box comes
    within ``margin_m`` metres of the bounding box of ``area_wkt`` (WKT, EPSG:4326)."""
    lat = session.scalar(text("SELECT greatest(abs(ST_YMin(g)), abs(ST_YMax(g)))"
                              " FROM (SELECT ST_GeomFromText(:w, 4326) AS g) x"), {"w": area_wkt})
    deg = margin_m * 1.05 / (METRES_PER_DEGREE_LAT_MIN * np.cos(np.radians(min(89.0, lat + 1))))
    rows = session.execute(text(BUILDINGS_SQL),
                           {"srid": srid, "box": area_wkt, "deg": deg}).all()
    return Obstacles(
        np.asarray(shapely.from_wkb([bytes(r.wkb) for r in rows]), dtype=object).reshape(-1),
        np.array([np.nan if r.height_m is None else r.height_m for r in rows], dtype=float),
        np.array([r.code for r in rows], dtype=object))


def _viewpoint(camera: Any) -> Viewpoint:
    """The camera in the metric CRS: grid bearing = true azimuth + grid bearing of north."""
    sees_all = camera["camera_type"] == "ptz" or camera["fov_deg"] >= 360
    return Viewpoint(float(camera["x"]), float(camera["y"]), float(camera["height_m"]),
                     float(camera["azimuth_deg"]) + float(camera["north_deg"]),
                     360.0 if sees_all else float(camera["fov_deg"]),
                     float(camera["range_m"]) * float(camera["scale"]))


def _view_rows(camera: Any, point: Viewpoint, view: View, srid: int,
               resolution_deg: float) -> list[dict[str, Any]]:
    """The camera's view row, and for a PTZ camera one row per preset (its view clipped to
    the preset's sector: its pan, FOV and range, geo.video.presets)."""
    rows = [(None, view.visible)]
    for name, azimuth, fov, range_m in (camera["presets"] if camera["camera_type"] == "ptz"
                                        else []):
        sector = compute_view(Viewpoint(point.x, point.y, point.height_m,
                                        azimuth + float(camera["north_deg"]), fov,
                                        float(range_m) * float(camera["scale"])),
                              Obstacles.none(), resolution_deg)
        rows.append((name, shapely.intersection(view.visible, sector.visible,
                                                grid_size=GRID_SIZE_M)))
    return [{"camera": camera["code"], "preset": preset, "area": float(geom.area),
             "wkb": shapely.to_wkb(shapely.force_2d(geom)), "srid": srid,
             "res": resolution_deg, "target": TARGET_HEIGHT_M} for preset, geom in rows]


def _write(session: Session, views: list[dict[str, Any]], shadows: list[dict[str, Any]]) -> None:
    """Insert the computed rows (metric WKB → EPSG:4326 multipolygons, polygons only)."""
    if views:
        session.execute(text(INSERT_VIEW_SQL), views)
    if shadows:
        session.execute(text(INSERT_SHADOW_SQL), shadows)

