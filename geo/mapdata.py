"""Read-only queries that feed the Folium views in ``layers/`` (GeoDataFrames, EPSG:4326,
geometry column ``geometry``).

Areas are selected by code prefix: a child's code starts with its parent's (district 6 digits
→ street 9 → community 12 → grid 14/15/20), so ``code LIKE '140213001%'`` is a street and
everything below it. Distances and areas are in metres / m² (geography). Functions never
commit and never write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import NotFound, ValidationFailed
from geo.locate import LocateResult
from geo.planning.candidates import CANDIDATES
from geo.planning.changesets import get_changeset

ALARM_SOURCES = ("alarm", "one_click", "一键报警")
"""``events.source`` values that mark a one-click alarm (一键报警)."""

WEDGE_STEPS = 12
"""Arc vertices of a camera view wedge (a 60° FOV gets one vertex every 5°)."""

WEDGE_SQL = f"""
CASE WHEN c.camera_type = 'ptz' OR c.fov_deg >= 360
     THEN geometry(ST_Buffer(geography(c.geom), c.range_m, 'quad_segs=8'))
     ELSE ST_MakePolygon(ST_MakeLine(ARRAY[c.geom] || ARRAY(
          SELECT geometry(ST_Project(geography(c.geom), c.range_m,
                 radians(c.azimuth_deg - c.fov_deg / 2.0 + c.fov_deg * i / {WEDGE_STEPS}.0)))
          FROM generate_series(0, {WEDGE_STEPS}) AS i) || ARRAY[c.geom]))
END"""  # noqa: S608 - constant SQL text; values are always bound parameters
"""SQL: the camera's view as a lon/lat polygon - a geodesic wedge of ``range_m`` metres around
``azimuth_deg`` ± ``fov_deg``/2 (true north, clockwise), or a disc for PTZ / 360° cameras."""


def _frame(session: Session, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gpd.read_postgis(text(sql), session.connection(), geom_col="geom", params=params)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    return gdf.rename_geometry("geometry")


def area_outline(session: Session, code: str) -> tuple[str, str, str]:
    """(code, name, level) of an admin area or current grid; NotFound for an unknown code."""
    row = session.execute(text(
        "SELECT code, name, level FROM admin_areas WHERE code = :c UNION ALL "
        "SELECT code, name, level FROM grids WHERE code = :c AND valid_to IS NULL LIMIT 1"),
        {"c": code}).first()
    if row is None:
        raise NotFound(f"no area or grid has code {code!r}", [{"field": "area", "value": code}])
    return str(row.code), str(row.name), str(row.level)


def area_or_default(session: Session, area: str | None) -> tuple[str, str]:
    """(code, name) of the admin area or current grid ``area``, or of the first district
    when ``area`` is None (:func:`default_area`); NotFound for an unknown code."""
    code, name, _ = area_outline(session, area or default_area(session))
    return code, name


def area_bounds(session: Session, code: str) -> tuple[float, float, float, float]:
    """(minlon, minlat, maxlon, maxlat) of admin area or current grid ``code``."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e"
        " FROM (SELECT geom FROM admin_areas WHERE code = :c UNION ALL SELECT geom FROM grids"
        " WHERE code = :c AND valid_to IS NULL) a) x"), {"c": code}).one()
    if row[0] is None:
        raise NotFound(f"no area or grid has code {code!r}", [{"field": "area", "value": code}])
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def buildings_within(session: Session, code: str, budget: int) -> gpd.GeoDataFrame | None:
    """Buildings (code, households, footprint lon/lat) inside admin area or grid ``code``;
    None when there are more than ``budget`` (the page would be too heavy to draw them)."""
    frame = _frame(session, """
        SELECT b.code, b.households, b.geom FROM buildings b
        JOIN (SELECT geom FROM admin_areas WHERE code = :c UNION ALL SELECT geom FROM grids
              WHERE code = :c AND valid_to IS NULL LIMIT 1) a
          ON b.geom && a.geom AND ST_Intersects(a.geom, b.geom)
        ORDER BY b.code LIMIT :n""", {"c": code, "n": budget + 1})
    return None if len(frame) > budget else frame


def admin_areas_under(session: Session, code: str) -> gpd.GeoDataFrame:
    """The admin area ``code`` and every area below it (code, name, level, parent_code,
    households, population, geom), plus its ancestors so the chain can be drawn."""
    return _frame(session, """
        SELECT code, name, level, parent_code, households, population, geom FROM admin_areas
        WHERE code LIKE :p OR :c LIKE code || '%' ORDER BY code""",
        {"p": prefix_pattern(code), "c": code})


def grids_under(session: Session, code: str) -> gpd.GeoDataFrame:
    """Current grids and micro-grids whose code starts with ``code`` (any kind)."""
    return _frame(session, """
        SELECT code, name, kind, level, parent_code, community_code, households, population,
               geom FROM grids WHERE valid_to IS NULL AND code LIKE :p ORDER BY code""",
        {"p": prefix_pattern(code)})


def feature_counts(session: Session, code: str) -> dict[str, int]:
    """How many features the area's map pages would draw: ``grids`` (current ordinary grids
    under ``code``), ``micro_grids`` and ``cameras`` (inside the area's polygon, as
    :func:`camera_wedges` selects them)."""
    row = session.execute(text("""
        SELECT count(*) FILTER (WHERE level = 'grid' AND kind <> 'dedicated') AS grids,
               count(*) FILTER (WHERE level = 'micro') AS micro_grids,
               (SELECT count(*) FROM cameras c WHERE ST_Intersects(c.geom, (
                    SELECT geom FROM admin_areas WHERE code = :c UNION ALL SELECT geom
                    FROM grids WHERE code = :c AND valid_to IS NULL LIMIT 1))) AS cameras
        FROM grids WHERE valid_to IS NULL AND code LIKE :p"""),
        {"c": code, "p": prefix_pattern(code)}).mappings().one()
    return {k: int(v) for k, v in row.items()}


def grids_by_code(session: Session, codes: list[str]) -> gpd.GeoDataFrame:
    """Current grids/micro-grids with the given codes (unknown codes are ignored)."""
    return _frame(session, """
        SELECT code, name, kind, level, parent_code, community_code, households, population,
               geom FROM grids WHERE valid_to IS NULL AND code = ANY(:codes) ORDER BY code""",
        {"codes": list(codes)})


def admin_areas_by_code(session: Session, codes: list[str]) -> gpd.GeoDataFrame:
    """Admin areas with the given codes (unknown codes are ignored)."""
    return _frame(session, """
        SELECT code, name, level, parent_code, households, population, geom FROM admin_areas
        WHERE code = ANY(:codes) ORDER BY code""", {"codes": list(codes)})


def camera_wedges(session: Session, code: str | None = None,
                  codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """Cameras with their view wedge polygon (``geom``) and position (``lon``, ``lat``).

    Selected by area (``code``: cameras inside that admin area's or grid's polygon) or by
    camera ``codes``. Columns: code, name, camera_type, azimuth_deg, fov_deg, range_m (m),
    status, stream_url, grid_code, lon, lat, geom (EPSG:4326 polygon, see :data:`WEDGE_SQL`).
    """
    params: dict[str, Any]
    if codes is not None:
        where, params = "c.code = ANY(:codes)", {"codes": list(codes)}
    elif code is not None:
        where = ("ST_Intersects(c.geom, (SELECT geom FROM admin_areas WHERE code = :c UNION ALL"
                 " SELECT geom FROM grids WHERE code = :c AND valid_to IS NULL LIMIT 1))")
        params = {"c": code}
    else:
        raise ValidationFailed("camera_wedges needs an area code or camera codes",
                               [{"field": "area"}])
    return _frame(session, f"""
        SELECT c.code, c.name, c.camera_type, c.azimuth_deg, c.fov_deg, c.range_m, c.status,
               c.stream_url, c.grid_code, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
               {WEDGE_SQL} AS geom
        FROM cameras c WHERE {where} ORDER BY c.code""", params)  # noqa: S608 - constant pieces


SEEN_BY_ONLINE_CAMERAS_SQL = f"""
    CROSS JOIN (SELECT coalesce(max(range_m), 0) / 60000.0 AS deg FROM cameras) pad
    CROSS JOIN LATERAL (
        SELECT ST_Union(ST_Intersection(g.geom, w.wedge)) AS seen
        FROM (SELECT {WEDGE_SQL} AS wedge FROM cameras c
              WHERE c.status = 'online' AND c.geom && ST_Expand(g.geom, pad.deg)) w
        WHERE ST_Intersects(g.geom, w.wedge)) s"""  # noqa: S608 - constant SQL pieces
"""Joins ``s.seen`` to each grid ``g``: the union of the online cameras' view wedges over it
(cameras within the largest range of the grid, by the cameras' GiST index; ``max(range_m) /
60,000`` degrees, safe up to 57° N). Shared by the coverage page and its vector tiles."""

COVERED_SHARE_SQL = ("least(1.0, coalesce(ST_Area(geography(s.seen)), 0)"
                     " / nullif(ST_Area(geography(g.geom)), 0))")
"""The share of grid ``g`` that ``s.seen`` covers, in [0, 1] (geodesic areas)."""


def grid_camera_coverage(session: Session, code: str) -> gpd.GeoDataFrame:
    """Ordinary current grids under ``code`` with the share of their area that some online
    camera sees (``covered_share`` in [0, 1], geodesic areas; ``covered_m2``, ``area_m2``).

    Driven from the grids side: each grid fetches the online cameras whose position lies
    within the largest camera range of it (bounding-box prefilter on the cameras' GiST index,
    ``max(range_m) / 60,000`` degrees, safe up to 57° N), then intersects their wedges.
    """
    return _frame(session, f"""
        SELECT g.code, g.name, g.households, ST_Area(geography(g.geom)) AS area_m2,
               coalesce(ST_Area(geography(s.seen)), 0) AS covered_m2,
               {COVERED_SHARE_SQL} AS covered_share,
               g.geom
        FROM grids g {SEEN_BY_ONLINE_CAMERAS_SQL}
        WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated'
          AND g.code LIKE :p
        ORDER BY g.code""",  # noqa: S608 - constant SQL pieces; values are bound
        {"p": prefix_pattern(code)})


def events_in(session: Session, code: str, start: datetime, end: datetime,
              category: str | None = None, limit: int = 5000) -> gpd.GeoDataFrame:
    """Events reported in [start, end) whose grid code starts with ``code`` (newest first,
    at most ``limit``): id, category, description, reported_at, status, grid_code, geom."""
    return _frame(session, """
        SELECT id, category, description, reported_at, status, grid_code, geom
        FROM events_with_assignment
        WHERE reported_at >= :start AND reported_at < :end AND grid_code LIKE :p
          AND (CAST(:cat AS text) IS NULL OR category = :cat)
        ORDER BY reported_at DESC, id DESC LIMIT :limit""",
        {"start": start, "end": end, "p": prefix_pattern(code), "cat": category,
         "limit": limit})


def event_counts(session: Session, code: str, start: datetime, end: datetime,
                 category: str | None = None, bin_days: int = 1) -> pd.DataFrame:
    """Events per grid and time bin (``bin_days`` days from ``start``, UTC): grid_code,
    bin_start (datetime), category, count. Only grids under ``code``."""
    rows = session.execute(text("""
        SELECT grid_code, category,
               CAST(:start AS timestamptz) + make_interval(days => CAST(:bin AS int) * CAST(
                   floor(extract(epoch FROM reported_at - CAST(:start AS timestamptz))
                         / (86400.0 * :bin)) AS int)) AS bin_start,
               count(*) AS count
        FROM events_with_assignment
        WHERE reported_at >= :start AND reported_at < :end AND grid_code LIKE :p
          AND (CAST(:cat AS text) IS NULL OR category = :cat)
        GROUP BY 1, 2, 3 ORDER BY 3, 1, 2"""),
        {"start": start, "end": end, "p": prefix_pattern(code), "cat": category,
         "bin": bin_days}).mappings().all()
    return pd.DataFrame(rows, columns=["grid_code", "category", "bin_start", "count"])


def event_categories(session: Session, code: str) -> list[str]:
    """Distinct event categories seen under ``code``, sorted."""
    return list(session.scalars(text(
        "SELECT DISTINCT category FROM events_with_assignment WHERE grid_code LIKE :p"
        " ORDER BY 1"),
        {"p": prefix_pattern(code)}).all())


def alarms_after(session: Session, after_id: int = 0, limit: int = 50,
                 area: str | None = None) -> list[dict[str, Any]]:
    """One-click alarms (``source`` in :data:`ALARM_SOURCES`) with id > ``after_id``, oldest
    first, at most ``limit``: id, category, description, reporter, reported_at, status,
    grid_code, lon, lat. ``area``: only alarms assigned to a grid inside that area (a key's
    area); None: all."""
    rows = session.execute(text("""
        SELECT id, category, description, reporter, reported_at, status, grid_code,
               ST_X(geom) AS lon, ST_Y(geom) AS lat FROM events_with_assignment
        WHERE source = ANY(:sources) AND id > :after
          AND (CAST(:area AS text) IS NULL OR grid_code LIKE :prefix)
        ORDER BY id LIMIT :limit"""),
        {"sources": list(ALARM_SOURCES), "after": after_id, "limit": limit, "area": area,
         "prefix": prefix_pattern(area or "")}).mappings().all()
    return [dict(r) for r in rows]


def search_units(session: Session, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Admin areas and current grids whose code starts with ``query`` or whose name contains
    it (case-insensitive): code, name, level, area_code (the area whose view shows it)."""
    q = query.strip()
    if not q:
        return []
    rows = session.execute(text("""
        SELECT code, name, level, code AS area_code FROM admin_areas
        WHERE code LIKE :p OR name ILIKE :n
        UNION ALL
        SELECT code, name, level, community_code AS area_code FROM grids
        WHERE valid_to IS NULL AND (code LIKE :p OR name ILIKE :n)
        ORDER BY code LIMIT :limit"""),
        {"p": prefix_pattern(q), "n": "%" + prefix_pattern(q)[:-1] + "%",
         "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def top_areas(session: Session) -> list[dict[str, Any]]:
    """Districts and streets (code, name, level) for the index page, by code."""
    rows = session.execute(text(
        "SELECT code, name, level FROM admin_areas WHERE level IN ('district', 'street')"
        " ORDER BY code")).mappings().all()
    return [dict(r) for r in rows]


def incident_frames(session: Session, found: LocateResult
                    ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, tuple[float, float]]]:
    """What the incident view draws for a locate answer (or stored assignment) ``found``:
    the polygons of its grid chain (admin areas, then grid and micro-grid; column ``level``;
    the other grids of its boundary doubt with level ``candidate``),
    the wedges of its cameras (:func:`camera_wedges`) and its sites' positions (lon, lat)."""
    chain_codes = [r.code for r in (found.district, found.street, found.community) if r]
    grid_codes = [r.code for r in (found.grid, found.micro_grid) if r]
    doubtful = [c.code for c in found.boundary.candidates if c.code not in grid_codes]
    chain = pd.concat([admin_areas_by_code(session, chain_codes),
                       grids_by_code(session, grid_codes),
                       grids_by_code(session, doubtful).assign(level="candidate")],
                      ignore_index=True)
    cameras = camera_wedges(session, codes=[c.code for c in (*found.cameras,
                                                             *found.other_cameras)])
    return chain, cameras, site_points(session, [s.code for s in found.sites])


def site_points(session: Session, codes: list[str]) -> dict[str, tuple[float, float]]:
    """Site code → (lon, lat) of a point on the site (its point, or a point on its polygon)."""
    rows = session.execute(text(
        "SELECT code, ST_X(p) AS lon, ST_Y(p) AS lat FROM"
        " (SELECT code, ST_PointOnSurface(geom) AS p FROM sites WHERE code = ANY(:codes)) s"),
        {"codes": list(codes)}).all()
    return {str(r.code): (float(r.lon), float(r.lat)) for r in rows}


def default_area(session: Session) -> str:
    """The code of the first district (or any admin area); NotFound when there is none."""
    code = session.scalar(text(
        "SELECT code FROM admin_areas ORDER BY (level = 'district') DESC, code LIMIT 1"))
    if code is None:
        raise NotFound("no admin area is loaded yet", [{"field": "area"}])
    return str(code)


def moved_buildings(session: Session, changeset_id: int) -> gpd.GeoDataFrame:
    """Buildings whose ordinary grid changes if draft ``changeset_id`` is published.

    Each building is placed by its point (point-on-surface for a polygon) in the smallest-code
    grid covering it before (the published shapes the draft replaces) and after (the draft's
    shapes). Columns: code, name, households, from_code, to_code, geometry (point, lon/lat).
    """
    return _frame(session, """
        WITH after AS (SELECT code, geom FROM plan_draft_grids
                       WHERE changeset_id = :cs AND geom IS NOT NULL AND level = 'grid'
                         AND kind <> 'dedicated'),
        before AS (SELECT g.code, g.geom FROM grids g JOIN plan_draft_grids d
                   ON g.code = d.previous_code AND g.valid_to IS NULL
                   WHERE d.changeset_id = :cs AND g.level = 'grid' AND g.kind <> 'dedicated'),
        area AS (SELECT ST_Union(geom) AS g FROM (SELECT geom FROM after UNION ALL
                                                  SELECT geom FROM before) x),
        pts AS (SELECT b.code, b.name, b.households,
                       CASE WHEN ST_GeometryType(b.geom) = 'ST_Point' THEN b.geom
                            ELSE ST_PointOnSurface(b.geom) END AS geom
                FROM buildings b, area WHERE ST_Intersects(area.g, b.geom)),
        placed AS (SELECT p.*,
            (SELECT code FROM before WHERE ST_Covers(before.geom, p.geom)
             ORDER BY code LIMIT 1) AS from_code,
            (SELECT code FROM after WHERE ST_Covers(after.geom, p.geom)
             ORDER BY code LIMIT 1) AS to_code FROM pts p)
        SELECT code, name, households, from_code, to_code, geom FROM placed
        WHERE from_code IS DISTINCT FROM to_code ORDER BY code""", {"cs": changeset_id})


def changeset_context(session: Session, changeset_id: int) -> gpd.GeoDataFrame:
    """Current ordinary grids of the changeset's area that the draft does not touch
    (code, name, geometry): the unchanged neighbourhood drawn around a changeset."""
    return _frame(session, """
        SELECT g.code, g.name, g.geom FROM grids g, plan_changesets c
        WHERE c.id = :cs AND g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated'
          AND g.code LIKE replace(replace(c.area_code, '%', '\\%'), '_', '\\_') || '%'
          AND NOT EXISTS (SELECT 1 FROM plan_draft_grids d WHERE d.changeset_id = :cs
                          AND g.code IN (d.code, d.previous_code))
        ORDER BY g.code""", {"cs": changeset_id})


def draft_grids(session: Session, changeset_id: int) -> gpd.GeoDataFrame:
    """Ordinary grids (level grid) of a changeset's area as its draft would publish them:
    code, name, households, geometry (lon/lat). NotFound for an unknown changeset."""
    area = get_changeset(session, changeset_id).area_code
    return _frame(session, f"""
        SELECT code, name, households, geom FROM ({CANDIDATES}) c
        WHERE level = 'grid' AND kind <> 'dedicated' AND code LIKE :p
        ORDER BY code""",  # noqa: S608 - CANDIDATES is constant SQL; values are bound
        {"cs": changeset_id, "p": prefix_pattern(area)})
