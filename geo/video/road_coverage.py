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

import math
from typing import Any

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import ValidationFailed
from geo.mapdata import area_or_default, grid_camera_coverage
from geo.video.coverage import (
    AREA_SQL,
    ENTRANCE_SEEN_SQL,
    ONLINE_VIEWS_OVER,
    grid_coverage,
    seen_share,
    sql_frame,
)

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

AREA_ROADS_SQL = f"""
WITH area AS (SELECT {AREA_SQL} AS geom),
r AS (SELECT ST_CollectionExtract(ST_Intersection(r.geom, area.geom), 2) AS geom,
             {ONLINE_VIEWS_OVER.format(g="r.geom")} AS seen
      FROM roads r, area WHERE r.geom && area.geom AND ST_Intersects(r.geom, area.geom))
SELECT coalesce(sum(ST_Length(geography(geom))), 0) AS road_m,
       coalesce(sum(CASE WHEN seen IS NULL THEN 0 ELSE ST_Length(geography(
         ST_CollectionExtract(ST_Intersection(geom, seen), 2))) END), 0) AS road_seen_m
FROM r"""  # noqa: S608 - constant pieces
"""Road length inside area ``:a`` and its seen part (geodesic m), each road counted once."""

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


MAX_COVERAGE_GRIDS = 300
"""Largest area (ordinary grids) :func:`area_coverage` computes: a street (~70 grids) took
5 s, the demo district (1,200) 91-111 s on the dev machine (bench/RESULTS.md)."""


def area_coverage(session: Session, code: str | None, top: int,
                  max_grids: int = MAX_COVERAGE_GRIDS) -> dict[str, Any]:
    """The coverage answer of admin area or grid ``code`` (None: the first district):
    totals over its ordinary grids (outdoor area seen with occlusion), over its roads
    (length inside the area and seen, each road once) and its sites' entrances (seen); the
    ``top`` grids by uncovered households (with the share seen without occlusion: view
    wedges) and the ``top`` sites by unseen entrances (see
    :func:`geo.video.coverage.grid_coverage`, :func:`site_coverage`).

    Raises NotFound for an unknown code, ValidationFailed (field ``area``) for an area of
    more than ``max_grids`` ordinary grids (``gridlink cameras coverage`` has no limit).
    Shares are 0-1; None where there is nothing to share (no roads, a point site).
    """
    code, name = area_or_default(session, code)
    grids_in = int(session.scalar(text(
        "SELECT count(*) FROM grids WHERE valid_to IS NULL AND level = 'grid'"
        " AND kind <> 'dedicated' AND code LIKE :p"), {"p": prefix_pattern(code)}) or 0)
    if grids_in > max_grids:
        raise ValidationFailed(
            f"area {code} holds {grids_in} grids; the coverage answer is computed for at most"
            f" {max_grids} (a street or smaller; `gridlink cameras coverage {code}` has no"
            " limit)", [{"field": "area", "value": code, "grids": grids_in,
                         "max_grids": max_grids}])
    grids = grid_coverage(session, code)
    plain = grid_camera_coverage(session, code).set_index("code")["covered_share"]
    sites = site_coverage(session, code)
    outdoor = float(grids["outdoor_m2"].sum())
    road, road_seen = (float(v) for v in session.execute(text(AREA_ROADS_SQL),
                                                         {"a": code}).one())
    return {
        "area": code, "name": name, "grids_count": len(grids), "sites_count": len(sites),
        "outdoor_seen_share": _rounded(seen_share(outdoor - float(grids["blind_m2"].sum()),
                                                  outdoor)),
        "road_m": round(road, 1),
        "road_seen_share": _rounded(seen_share(road_seen, road)),
        "entrances": int(sites["entrances"].sum()),
        "entrances_seen": int(sites["entrances_seen"].sum()),
        "grids": [_grid_row(r, plain) for r in grids.head(top).itertuples()],
        "sites": [_site_row(r) for r in sites.head(top).itertuples()]}


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)


def _grid_row(r: Any, plain: Any) -> dict[str, Any]:
    return {"code": r.code, "name": r.name, "households": int(r.households),
            "outdoor_m2": round(float(r.outdoor_m2), 1), "seen_share": round(r.seen_share, 4),
            "seen_share_without_occlusion": round(float(plain.get(r.code, 0.0)), 4),
            "road_m": round(float(r.road_m), 1), "road_seen_share": _rounded(r.road_seen_share),
            "entrances": int(r.entrances), "entrances_seen": int(r.entrances_seen),
            "uncovered_households": float(r.uncovered_households)}


def _site_row(r: Any) -> dict[str, Any]:
    share = None if r.seen_share is None or math.isnan(r.seen_share) else round(r.seen_share, 4)
    return {"code": r.code, "name": r.name, "category": r.category,
            "grid_code": r.grid_code, "entrances": int(r.entrances),
            "entrances_seen": int(r.entrances_seen),
            "unseen_entrances": list(r.unseen_codes), "seen_share": share}
