"""What the camera page draws for one camera (read-only; lon/lat EPSG:4326, metres).

:func:`camera_page_data` gathers the camera (its wedge from :func:`geo.mapdata.camera_wedges`),
its current visibility polygon, the shadows of the buildings that block it (with their
footprints and heights), its PTZ presets as their stored views (geo.video.views: the preset's
sector clipped by the same shadows) and the grids its view covers, with the area seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.mapdata import camera_wedges
from geo.video.model import building_height_sql

SHADOWS_SQL = f"""
SELECT s.building_code, round(s.near_m::numeric, 1)::float8 AS near_m,
       round(ST_Area(geography(s.geom))::numeric)::float8 AS area_m2,
       b.name AS building_name, {building_height_sql("b")} AS height_m, s.geom
FROM camera_shadows s LEFT JOIN buildings b ON b.code = s.building_code
WHERE s.camera_code = :c ORDER BY s.near_m, s.building_code"""  # noqa: S608 - constant
"""The camera's building shadows: where each starts (m), its area (m²), the building."""
FOOTPRINTS_SQL = f"""
SELECT b.code, b.name, b.floors, {building_height_sql("b")} AS height_m, b.geom
FROM buildings b WHERE b.code IN (SELECT building_code FROM camera_shadows
                                  WHERE camera_code = :c) ORDER BY b.code"""  # noqa: S608
"""Footprints of the buildings that block the camera (height NULL: unknown, 2D)."""
PRESET_VIEWS_SQL = """
SELECT v.preset, p.azimuth_deg AS pan_deg, p.tilt_deg, p.fov_deg, p.zoom, p.range_m,
       round(v.area_m2::numeric)::float8 AS area_m2, v.geom
FROM camera_views v JOIN camera_presets p ON p.camera_code = v.camera_code
                                         AND p.name = v.preset
WHERE v.camera_code = :c AND v.valid_to IS NULL ORDER BY v.preset"""
"""Each preset's stored view with its pan, tilt, FOV, zoom and range."""
GRIDS_SEEN_SQL = """
WITH v AS (SELECT geom FROM camera_views WHERE camera_code = :c AND valid_to IS NULL
           AND preset IS NULL)
SELECT g.code, g.name, g.kind,
       round(ST_Area(geography(ST_Intersection(g.geom, v.geom)))::numeric)::float8 AS seen_m2,
       g.geom
FROM grids g, v WHERE g.valid_to IS NULL AND g.level = 'grid' AND ST_Intersects(g.geom, v.geom)
ORDER BY seen_m2 DESC, g.code"""
"""Current grids the camera's view covers, with the area seen (m², geodesic)."""


@dataclass
class CameraPageData:
    """The camera page's layers (GeoDataFrames in EPSG:4326, ``geometry`` columns)."""

    camera: dict[str, Any]
    wedge: gpd.GeoDataFrame
    view: gpd.GeoDataFrame
    shadows: gpd.GeoDataFrame
    footprints: gpd.GeoDataFrame
    presets: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame


def camera_page_data(session: Session, code: str) -> CameraPageData:
    """Everything the page of camera ``code`` draws; raises NotFound for an unknown code."""
    wedge = camera_wedges(session, codes=[code])
    if wedge.empty:
        raise NotFound(f"no camera {code}", [{"field": "code", "value": code}])
    camera = {k: v for k, v in wedge.iloc[0].items() if k != "geometry"}
    params = {"c": code}
    view = _frame(session, "SELECT area_m2, geom FROM camera_views WHERE camera_code = :c"
                  " AND valid_to IS NULL AND preset IS NULL", params)
    return CameraPageData(camera, wedge, view, _frame(session, SHADOWS_SQL, params),
                          _frame(session, FOOTPRINTS_SQL, params),
                          _frame(session, PRESET_VIEWS_SQL, params),
                          _frame(session, GRIDS_SEEN_SQL, params))


def _frame(session: Session, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gpd.read_postgis(text(sql), session.connection(), geom_col="geom", params=params)
    return (gdf if gdf.crs is not None else gdf.set_crs(4326)).rename_geometry("geometry")
