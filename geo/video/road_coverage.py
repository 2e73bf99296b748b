"""Which roads and entrances online cameras see, per road piece, per entrance and per site.

The rule is the one of :mod:`geo.video.coverage`: ground is seen when it lies in the current
visibility polygon (no preset) of some online camera, buildings already cut out of it
(:mod:`geo.video.visibility`). A road is split into its **seen** and **unseen** pieces
(geodesic lengths in metres); an entrance is seen or not. A **site**'s coverage is its
entrances seen out of its entrances and, for a site drawn as a polygon, the seen share of
its outdoor area (the polygon minus building footprints; NaN for a point site). Sites are
ranked by unseen entrances (most first), then by code. Areas are given by an admin area or
grid code: roads crossing it, entrances and sites inside it (EPSG:4326 throughout).
"""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.video.coverage import ENTRANCE_SEEN_SQL, sql_frame

AREA_SQL = ("(SELECT geom FROM admin_areas WHERE code = :a UNION ALL SELECT geom FROM grids"
            " WHERE code = :a AND valid_to IS NULL LIMIT 1)")
"""The outline of admin area or grid ``:a``."""

ONLINE_VIEWS_OVER = """(SELECT ST_Union(v.geom) FROM camera_views v JOIN cameras c
  ON c.code = v.camera_code WHERE v.valid_to IS NULL AND v.preset IS NULL
  AND c.status = 'online' AND v.geom && {g} AND ST_Intersects(v.geom, {g}))"""
"""The union of the online cameras' current views over geometry ``{g}`` (NULL: none)."""

ROAD_PIECES_SQL = f"""
WITH area AS (SELECT {AREA_SQL} AS geom),
r AS (SELECT r.code, r.name, r.kind, r.geom, {ONLINE_VIEWS_OVER.format(g="r.geom")} AS seen
      FROM roads r, area WHERE r.geom && area.geom AND ST_Intersects(r.geom, area.geom)),
p AS (SELECT code, name, kind, true AS seen,
             ST_CollectionExtract(ST_Intersection(geom, seen), 2) AS geom
      FROM r WHERE seen IS NOT NULL
      UNION ALL
      SELECT code, name, kind, false, CASE WHEN seen IS NULL THEN geom
             ELSE ST_CollectionExtract(ST_Difference(geom, seen), 2) END FROM r)
SELECT code, name, kind, seen, ST_Length(geography(geom)) AS length_m, geom
FROM p WHERE NOT ST_IsEmpty(geom) ORDER BY code, seen DESC"""  # noqa: S608 - constant pieces

ENTRANCES_SQL = f"""
SELECT n.code, n.name, n.site_code, n.kind, {ENTRANCE_SEEN_SQL} AS seen, n.geom
FROM entrances n, (SELECT {AREA_SQL} AS geom) area
WHERE n.geom && area.geom AND ST_Covers(area.geom, n.geom) ORDER BY n.code"""  # noqa: S608 - constant pieces

SITE_COVERAGE_SQL = f"""
SELECT s.code, s.name, s.category, s.grid_code, e.entrances, e.entrances_seen,
       e.unseen_codes,
       CASE WHEN ST_Dimension(s.geom) < 2 THEN NULL
            WHEN ST_Area(geography(o.outdoor)) <= 0 THEN 0
            ELSE coalesce(ST_Area(geography(ST_Intersection(o.outdoor,
              {ONLINE_VIEWS_OVER.format(g="s.geom")}))), 0) / ST_Area(geography(o.outdoor))
       END AS seen_share, s.geom
FROM sites s
CROSS JOIN LATERAL (
  SELECT count(*) AS entrances, count(*) FILTER (WHERE seen) AS entrances_seen,
         coalesce(array_agg(code ORDER BY code) FILTER (WHERE NOT seen), '{{}}')
           AS unseen_codes
  FROM (SELECT n.code, {ENTRANCE_SEEN_SQL} AS seen FROM entrances n
        WHERE n.site_code = s.code) q) e
CROSS JOIN LATERAL (
  SELECT CASE WHEN ST_Dimension(s.geom) < 2 THEN NULL ELSE coalesce(ST_Difference(s.geom,
    (SELECT ST_Union(b.geom) FROM buildings b WHERE b.geom && s.geom
     AND ST_Dimension(b.geom) = 2 AND ST_Intersects(b.geom, s.geom))), s.geom) END AS outdoor) o
WHERE s.grid_code LIKE :p
ORDER BY e.entrances - e.entrances_seen DESC, s.code"""  # noqa: S608


def road_pieces(session: Session, area: str) -> gpd.GeoDataFrame:
    """The roads crossing admin area or grid ``area`` cut into seen and unseen pieces:
    code, name, kind, seen (bool), length_m (geodesic m), geometry (lines, EPSG:4326);
    by code, seen piece first."""
    return sql_frame(session, ROAD_PIECES_SQL, {"a": area})


def entrance_states(session: Session, area: str) -> gpd.GeoDataFrame:
    """The entrances inside ``area``: code, name, site_code, kind, seen (bool), point."""
    return sql_frame(session, ENTRANCES_SQL, {"a": area})


def site_coverage(session: Session, code: str) -> gpd.GeoDataFrame:
    """The sites in the grids under ``code`` (by their ``grid_code``): entrances,
    entrances_seen, unseen_codes (list), seen_share of a polygon site's outdoor area (NaN
    for a point site); ranked by unseen entrances (most first), then code."""
    return sql_frame(session, SITE_COVERAGE_SQL, {"p": prefix_pattern(code)})
