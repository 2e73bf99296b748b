"""Coverage with occlusion: what online cameras actually see of each grid's outdoor space.

A grid's **outdoor area** is the grid minus the building footprints in it (a footprint is
never ground a camera sees). Its **seen area** is the part of the outdoor area inside the
current visibility polygon (:mod:`geo.video.views`, no preset) of some online camera; the
rest is its **blind spots**, returned as polygons with their area (pieces under
:data:`MIN_BLIND_M2` are left out of the list, not of the shares). **Uncovered households**
= the grid's households × the blind share of its outdoor area: grids are ranked by it.
Areas are geodesic square metres (``ST_Area`` on geography), like
:func:`geo.mapdata.grid_camera_coverage`, which gives the share without occlusion (view
wedges over the whole grid) for the side-by-side comparison. Cameras without a computed
view see nothing here (run ``gridlink cameras views``).

**Roads and entrances** (layers ``roads``, ``entrances``): a grid's road length is the length
of the roads inside it (a road along the boundary of two grids counts in both; two roads
drawn over each other count twice: they are collected, not dissolved), its seen
length the part inside the union of the online cameras' views; an entrance is seen when it
lies in the view of some online camera (the same polygons /locate reads). Per site and per
road: :mod:`geo.video.road_coverage`.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.exporter import parse_bbox
from geo.locate import LocateResult

MIN_BLIND_M2 = 10.0
"""Blind-spot pieces smaller than this (m²) are not listed."""

AREA_SQL = ("(SELECT geom FROM admin_areas WHERE code = :a UNION ALL SELECT geom FROM grids"
            " WHERE code = :a AND valid_to IS NULL LIMIT 1)")
"""The outline of admin area or grid ``:a``."""

ONLINE_VIEWS_OVER = """(SELECT ST_Union(v.geom) FROM camera_views v JOIN cameras c
  ON c.code = v.camera_code WHERE v.valid_to IS NULL AND v.preset IS NULL
  AND c.status = 'online' AND v.geom && {g} AND ST_Intersects(v.geom, {g}))"""
"""The union of the online cameras' current views over geometry ``{g}`` (NULL: none)."""

ENTRANCE_SEEN_SQL = """EXISTS (SELECT 1 FROM camera_views v JOIN cameras c
  ON c.code = v.camera_code WHERE v.valid_to IS NULL AND v.preset IS NULL
  AND c.status = 'online' AND v.geom && n.geom AND ST_Covers(v.geom, n.geom))"""
"""Entrance ``n`` lies in the current view (no preset) of some online camera."""

GRID_BLIND_SQL = """
WITH x AS (
  SELECT g.code, g.name, g.households, g.geom,
    (SELECT ST_Union(b.geom) FROM buildings b
     WHERE b.geom && g.geom AND ST_Dimension(b.geom) = 2 AND ST_Intersects(b.geom, g.geom))
      AS built,
    """ + ONLINE_VIEWS_OVER.format(g="g.geom") + """ AS seen,
    (SELECT ST_CollectionExtract(ST_Collect(ST_Intersection(r.geom, g.geom)), 2) FROM roads r
     WHERE r.geom && g.geom AND ST_Intersects(r.geom, g.geom)) AS road_lines
  FROM grids g
  WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated' AND g.code LIKE :p),
y AS (SELECT x.*, CASE WHEN built IS NULL THEN geom
                       ELSE ST_Difference(geom, built) END AS outdoor FROM x),
z AS (SELECT y.*, CASE WHEN seen IS NULL THEN outdoor
                       ELSE ST_Difference(outdoor, seen) END AS blind FROM y)
"""  # noqa: S608 - constant pieces
"""Per current ordinary grid under the code pattern ``:p``: footprints, seen and blind."""

GRID_COVERAGE_SQL = GRID_BLIND_SQL + """
SELECT code, name, households, ST_Area(geography(outdoor)) AS outdoor_m2,
       ST_Area(geography(blind)) AS blind_m2,
       CASE WHEN ST_Area(geography(outdoor)) > 0
            THEN 1 - ST_Area(geography(blind)) / ST_Area(geography(outdoor)) ELSE 0 END
         AS seen_share,
       coalesce(ST_Length(geography(road_lines)), 0) AS road_m,
       CASE WHEN road_lines IS NULL OR seen IS NULL THEN 0 ELSE ST_Length(geography(
         ST_CollectionExtract(ST_Intersection(road_lines, seen), 2))) END AS road_seen_m,
       e.entrances, e.entrances_seen, geom
FROM z CROSS JOIN LATERAL (
  SELECT count(*) AS entrances, count(*) FILTER (WHERE """ + ENTRANCE_SEEN_SQL + """)
           AS entrances_seen
  FROM entrances n WHERE n.geom && z.geom AND ST_Covers(z.geom, n.geom)) e
ORDER BY code"""  # noqa: S608 - constant pieces

BLIND_SPOTS_SQL = GRID_BLIND_SQL + """
SELECT z.code AS grid_code, ST_Area(geography(d.geom)) AS area_m2, d.geom
FROM z CROSS JOIN LATERAL ST_Dump(ST_CollectionExtract(z.blind, 3)) d
WHERE ST_Area(geography(d.geom)) >= :min_m2
ORDER BY z.code, area_m2 DESC"""


def seen_share(seen: float, total: float) -> float | None:
    """The share (0-1) of ``total`` that is ``seen`` (any unit, clamped to 0-1); None when
    ``total`` is not positive (nothing to see: no roads, no outdoor area)."""
    return None if total <= 0 else min(1.0, max(0.0, seen / total))


def grid_coverage(session: Session, code: str) -> gpd.GeoDataFrame:
    """Ordinary current grids under admin area or grid ``code`` with ``outdoor_m2``,
    ``blind_m2`` (m²), ``seen_share`` (0-1), the road length ``road_m`` and its seen part
    ``road_seen_m`` (geodesic metres) with ``road_seen_share`` (None without roads), the
    ``entrances`` and ``entrances_seen`` counts, ``uncovered_households`` and their polygon
    (EPSG:4326), ranked by uncovered households (most first), then code."""
    frame = sql_frame(session, GRID_COVERAGE_SQL, {"p": prefix_pattern(code)})
    frame["uncovered_households"] = (frame["households"] * (1 - frame["seen_share"])).round(1)
    frame["road_seen_share"] = pd.Series(
        [seen_share(seen, total) for seen, total in zip(frame["road_seen_m"], frame["road_m"],
                                                         strict=True)],
        index=frame.index, dtype=object)
    return frame.sort_values(["uncovered_households", "code"], ascending=[False, True],
                             ignore_index=True)


def blind_spots(session: Session, code: str, min_m2: float = MIN_BLIND_M2) -> gpd.GeoDataFrame:
    """The blind spots (polygons, EPSG:4326) of the grids under ``code``: ``grid_code``,
    ``area_m2``; largest first within a grid."""
    return sql_frame(session, BLIND_SPOTS_SQL, {"p": prefix_pattern(code), "min_m2": min_m2})


def views_frame(session: Session, *, codes: list[str] | None = None,
                area: str | None = None) -> gpd.GeoDataFrame:
    """Current visibility polygons (no preset) of cameras ``codes`` or of the cameras
    inside admin area/grid ``area``: camera_code, status, area_m2, geom (EPSG:4326)."""
    where = ("c.code = ANY(:codes)" if codes is not None else
             f"ST_Intersects(c.geom, {AREA_SQL})")
    return sql_frame(session,
                  "SELECT v.camera_code, c.status, v.area_m2, v.geom FROM camera_views v"  # noqa: S608
                  " JOIN cameras c ON c.code = v.camera_code WHERE v.valid_to IS NULL"
                  f" AND v.preset IS NULL AND {where} ORDER BY v.camera_code",
                  {"codes": codes, "a": area})


def views_of(session: Session, found: LocateResult) -> gpd.GeoDataFrame:
    """The views of the cameras a locate answer lists (:func:`views_frame`)."""
    return views_frame(session, codes=[c.code for c in (*found.cameras, *found.other_cameras)])


def sql_frame(session: Session, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """The rows of ``sql`` as a GeoDataFrame (EPSG:4326, geometry column ``geometry``)."""
    gdf = gpd.read_postgis(text(sql), session.connection(), geom_col="geom", params=params)
    return (gdf if gdf.crs is not None else gdf.set_crs(4326)).rename_geometry("geometry")


def views_geojson(session: Session, bbox: str, limit: int) -> dict[str, Any]:
    """Current views (presets included) of existing cameras intersecting ``bbox``
    (west,south,east,north, WGS 84) as an RFC 7946 FeatureCollection, at most ``limit``
    features, by camera code.
    Raises ValidationFailed for a bad box."""
    box = parse_bbox(bbox) or (0.0, 0.0, 0.0, 0.0)
    body = session.scalar(text(
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce("
        " json_agg(json_build_object('type', 'Feature', 'geometry',"
        " ST_AsGeoJSON(v.geom, 7)::json, 'properties', json_build_object("
        " 'camera_code', v.camera_code, 'preset', v.preset, 'area_m2', round(v.area_m2::numeric,"
        " 1), 'computed_at', v.valid_from)) ORDER BY v.camera_code, v.preset NULLS FIRST),"
        " '[]'))::text FROM (SELECT * FROM camera_views w WHERE valid_to IS NULL"
        " AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
        " AND EXISTS (SELECT 1 FROM cameras c WHERE c.code = w.camera_code)"
        " ORDER BY camera_code, preset NULLS FIRST LIMIT :limit) v"),
        dict(zip(("w", "s", "e", "n"), box, strict=True)) | {"limit": limit})
    return dict(json.loads(str(body)))
