"""What gridlink knows per district: its metric CRS, and the service area of all of them.

**Metric CRS.** Areas and lengths are measured in one projected CRS per district: the
CGCS2000 3-degree Gauss-Kruger zone whose central meridian is nearest the district
(EPSG:4534..4554), or the UTM zone outside China (:func:`geo.crs.metric_crs_for`). It is
chosen when the district's first areas or grids are imported and stored in
``district_crs`` (so later imports never move it). ``GRIDLINK_METRIC_SRID``, when set,
overrides the choice everywhere. Code that measures asks :func:`metric_srid_for`.

A zone's scale error grows with the square of the distance from its central meridian
(k ≈ 1 + (Δλ·cos φ)²/2): 1.5° off, the worst case of the nearest 3° zone, is at most
3.4e-4 in length and 0.07 % in area (at Sanya, 18°N: 0.062 %); a 0.01° cell at Urumqi
measured in the 114°E zone is +11.5 % too large, at Harbin +2.4 % (0.006 % and 0.005 % in
their own zones).

**Service area.** ``GRIDLINK_SERVICE_AREA`` when set; otherwise the extent of the loaded
districts (admin areas and current grids) plus :data:`SERVICE_MARGIN_DEG`, cached per
process for :data:`AREA_CACHE_SECONDS`; mainland China and neighbours while nothing is
loaded. Callers without a session (``/locate`` on its own connection pool) use the extent
last computed in the process (by an import or an event report), else China and
neighbours: set ``GRIDLINK_SERVICE_AREA`` for a service outside China.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_crs_for
from geo.settings import Settings, get_settings

DISTRICT_DIGITS = 6
SERVICE_MARGIN_DEG = 0.5
"""Margin around the loaded districts' extent (degrees, ~50 km) inside the service area."""
CHINA_AND_NEIGHBOURS = (73.0, 3.0, 136.0, 54.0)
AREA_CACHE_SECONDS = 60.0
Bounds = tuple[float, float, float, float]
_area_cache: dict[str, tuple[float, Bounds]] = {}
"""The last computed extent: {"extent": (monotonic time, bounds)}."""


def district_of(code: object) -> str | None:
    """The 6-digit district code that starts an area/grid code, or None."""
    if isinstance(code, str) and len(code) >= DISTRICT_DIGITS and code[:DISTRICT_DIGITS].isdigit():
        return code[:DISTRICT_DIGITS]
    return None


def metric_srid_for(session: Session, area_code: str | None,
                    settings: Settings | None = None) -> int:
    """The EPSG code (metres) to measure the district of ``area_code`` in.

    ``GRIDLINK_METRIC_SRID`` when set explicitly; else the district's stored choice; else
    the same choice made from the district's areas and grids (data loaded before the
    choice was stored); else (no code, no data) ``settings.metric_srid``.
    """
    settings = settings or get_settings()
    if "metric_srid" in settings.model_fields_set:
        return settings.metric_srid
    district = district_of(area_code)
    if district is None:
        return settings.metric_srid
    stored = session.scalar(text("SELECT srid FROM district_crs WHERE district_code = :d"),
                            {"d": district})
    if stored is not None:
        return int(stored)
    centre = session.execute(text(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) AS c "
        "FROM (SELECT geom FROM admin_areas WHERE code LIKE :p UNION ALL SELECT geom FROM "
        "grids WHERE code LIKE :p AND valid_to IS NULL) g) x"), {"p": district + "%"}).one()
    if centre[0] is None:
        return settings.metric_srid
    return int(metric_crs_for(centre[0], centre[1]).to_epsg() or settings.metric_srid)


def with_district_srid(session: Session, area_code: str | None,
                       settings: Settings | None = None) -> Settings:
    """``settings`` whose ``metric_srid`` is the district's (for code that reads it there)."""
    settings = settings or get_settings()
    srid = metric_srid_for(session, area_code, settings)
    if srid == settings.metric_srid:
        return settings
    return settings.model_copy(update={"metric_srid": srid})


def record_district_crs(session: Session, codes: Iterable[object],
                        geoms: np.ndarray) -> dict[str, int]:
    """Choose and store the metric CRS of districts seen for the first time.

    ``codes`` and ``geoms`` (lon/lat, EPSG:4326) are the rows just written; each district's
    CRS comes from the median longitude/latitude of its rows' centroids. Districts already
    stored keep their CRS. Returns the new choices {district: srid}; never commits.
    """
    districts = np.array([district_of(c) or "" for c in codes], dtype=object)
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    if len(centres) != len(districts):
        return {}
    chosen: dict[str, int] = {}
    for district in sorted(set(districts) - {""}):
        here = centres[districts == district]
        epsg = metric_crs_for(here[:, 0], here[:, 1]).to_epsg()
        if epsg is not None:
            chosen[district] = int(epsg)
    if not chosen:
        return {}
    rows = session.execute(text(
        "INSERT INTO district_crs (district_code, srid) "
        "SELECT * FROM unnest(CAST(:d AS text[]), CAST(:s AS integer[])) "
        "ON CONFLICT (district_code) DO NOTHING RETURNING district_code, srid"),
        {"d": list(chosen), "s": list(chosen.values())}).all()
    _area_cache.clear()
    return {r.district_code: int(r.srid) for r in rows}


def service_area(session: Session | None, settings: Settings | None = None) -> Bounds:
    """lon/lat bounds (EPSG:4326) outside which points are refused (see module docstring)."""
    settings = settings or get_settings()
    if settings.service_area is not None:
        return settings.service_area
    cached = _area_cache.get("extent")
    if session is None:
        return cached[1] if cached is not None else CHINA_AND_NEIGHBOURS
    if cached is not None and time.monotonic() - cached[0] < AREA_CACHE_SECONDS:
        return cached[1]
    return loaded_extent(session)


def loaded_extent(session: Session) -> Bounds:
    """The loaded districts' extent plus the margin; China and neighbours when empty."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) "
        "AS e FROM (SELECT geom FROM admin_areas UNION ALL SELECT geom FROM grids "
        "WHERE valid_to IS NULL) g) x")).one()
    if row[0] is None:
        _area_cache.pop("extent", None)
        return CHINA_AND_NEIGHBOURS
    m = SERVICE_MARGIN_DEG
    bounds = (max(-180.0, row[0] - m), max(-90.0, row[1] - m), min(180.0, row[2] + m),
              min(90.0, row[3] + m))
    _area_cache["extent"] = (time.monotonic(), bounds)
    return bounds


def forget_service_area() -> None:
    """Drop the cached extents (after districts were loaded or removed)."""
    _area_cache.clear()
