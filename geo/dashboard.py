"""The command-centre dashboard's figures (指挥中心大屏) for one district, street or community.

Every case count comes from one of two places, so the wall equals the API to the unit:

- :func:`geo.rollups.daily_counts` (the on-write daily rollups; API ``/stats/daily``):
  today's cases by status, open alarms, cases per day by category, cases per child unit;
- :func:`geo.stats.unit_stats` (the assessment; API ``/stats``): new in the last 24 h
  (``accepted``, :func:`geo.stats.unit_stats_per_period`), the month's ranking (the same rows
  from the monthly rollups, :func:`geo.month_stats.month_unit_stats`); the handling
  and on-time rates per day come from the rollups' rate counts
  (:func:`geo.rollups.trend_counts`, :func:`geo.stats.day_rates`: equal to a single-day
  ``/stats`` row); the 7-day heat grid counts each grid's events from the rollups.

The rest are read directly: overdue cases now, camera health (the ``status`` of each camera
and the ordinary grid whose polygon covers it) and alarm response times.
Times are timezone-aware; days and months are China Standard Time (:data:`geo.rollups.LOCAL_TZ`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.area_rollups import AREA_LEVELS, area_trend_counts
from geo.codes import prefix_pattern
from geo.db import local_settings
from geo.errors import ValidationFailed
from geo.mapdata import area_outline, default_area
from geo.month_stats import month_start, month_unit_stats
from geo.rollups import LOCAL_TZ, RATE_COUNTS, daily_counts, local_day, trend_counts
from geo.settings import Settings
from geo.stats import day_rates, unit_stats_per_period

CHILD_LEVEL = {"district": "street", "street": "community", "community": "grid"}
"""The units a scope is broken down into (bars, ranking, camera health)."""

OPEN_STATUSES = ("reported", "dispatched", "in_progress")
TREND_DAYS = 30
ALL_TIME = date(1970, 1, 1)


@dataclass(frozen=True)
class Scope:
    """A dashboard's area: an admin area of level district, street or community."""

    code: str
    name: str
    level: str

    @property
    def child_level(self) -> str:
        return CHILD_LEVEL[self.level]

    @property
    def child_column(self) -> str:
        return f"{self.child_level}_code"


def dashboard_scope(session: Session, area: str | None) -> Scope:
    """The scope of ``area`` (default: the first district).

    Raises NotFound for an unknown code, ValidationFailed for a grid (too small a scope).
    """
    code, name, level = area_outline(session, area or default_area(session))
    if level not in CHILD_LEVEL:
        raise ValidationFailed(f"{code} is a {level}: a dashboard shows a district, street "
                               "or community", [{"field": "area", "value": code,
                                                 "allowed": list(CHILD_LEVEL)}])
    return Scope(code, name, level)


def day_start(day: date) -> datetime:
    """The instant a China Standard Time day begins."""
    return datetime.combine(day, time(0), LOCAL_TZ)


def _scope_stats(session: Session, scope: Scope, bounds: list[datetime],
                 settings: Settings) -> list[dict[str, Any] | None]:
    """The /stats row of the scope itself over each period [bounds[i], bounds[i+1]), None
    where it had no event (one query for all periods)."""
    return unit_stats_per_period(session, scope.level, scope.code, bounds, settings=settings)


def today_panel(session: Session, scope: Scope, now: datetime,
                settings: Settings) -> dict[str, Any]:
    """Today's cases by status, new in the 24 h before ``now``, overdue cases, open alarms."""
    day = local_day(now)
    [last_24h] = _scope_stats(session, scope, [now - timedelta(hours=24), now], settings)
    alarms = daily_counts(session, scope.code, ALL_TIME, day, ("status",), category="alarm")
    return {
        "day": day.isoformat(),
        "by_status": daily_counts(session, scope.code, day, day, ("status",)),
        "new_24h": last_24h["accepted"] if last_24h else 0,
        "open_alarms": sum(r["events"] for r in alarms if r["status"] in OPEN_STATUSES),
        "overdue": overdue_cases(session, scope, now),
    }


def overdue_cases(session: Session, scope: Scope, now: datetime) -> list[dict[str, Any]]:
    """Open valid cases of the scope past their due time at ``now``, most overdue first:
    id, category, grid code and name, unit (escalated department, else community), hours."""
    rows = session.execute(text(
        "SELECT e.id, e.category, e.grid_code, g.name AS grid_name,"
        " coalesce(e.department, c.name, e.community_code) AS unit,"
        " round((extract(epoch FROM :now - e.due_at) / 3600)::numeric, 1)::float AS hours"
        " FROM events_with_assignment e"
        " LEFT JOIN grids g ON g.code = e.grid_code AND g.valid_to IS NULL"
        " LEFT JOIN admin_areas c ON c.code = e.community_code"
        " WHERE e.grid_code LIKE :prefix AND :area IN (e.district_code, e.street_code,"
        " e.community_code) AND e.valid AND e.status = ANY(:open) AND e.due_at < :now"
        " ORDER BY e.due_at, e.id"),
        {"now": now, "prefix": prefix_pattern(scope.code), "area": scope.code,
         "open": list(OPEN_STATUSES)}).mappings().all()
    return [dict(r) for r in rows]


def trend_panel(session: Session, scope: Scope, now: datetime,
                settings: Settings) -> dict[str, Any]:
    """The 30 days up to today: cases per day by category and per child unit, and per day the
    handling and on-time rates of the scope (those of the /stats row of that day), from the
    per-area daily rollups for a district or street (:func:`geo.area_rollups.area_trend_counts`)
    or one read of the daily rollups for a community (:func:`geo.rollups.trend_counts`): the
    same figures."""
    last = local_day(now)
    first = last - timedelta(days=TREND_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(TREND_DAYS)]
    counts = (area_trend_counts(session, scope.code, scope.level, first, last)
              if scope.level in AREA_LEVELS
              else trend_counts(session, scope.code, first, last, scope.child_column))
    per_day = {r["day"]: day_rates(*(r[c] for c in RATE_COUNTS)) for r in counts["by_day"]}
    none = {"handling_rate": None, "on_time_rate": None}
    return {
        "first_day": first.isoformat(), "last_day": last.isoformat(),
        "days": [d.isoformat() for d in days],
        "by_day_category": [{**r, "day": r["day"].isoformat()}
                            for r in counts["by_day_category"]],
        "by_unit": _named(session, counts["by_unit"], scope.child_column),
        "rates": [{"day": day.isoformat(), **per_day.get(day, none)} for day in days],
    }


def _named(session: Session, rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """``rows`` as {unit, name, events}, the name from admin areas or current grids."""
    codes = [r[column] for r in rows]
    names = {str(code): str(name) for code, name in session.execute(text(
        "SELECT code, name FROM admin_areas WHERE code = ANY(:c) UNION ALL "
        "SELECT code, name FROM grids WHERE code = ANY(:c) AND valid_to IS NULL"),
        {"c": codes}).all()}
    return [{"unit": r[column], "name": names.get(r[column], r[column]), "events": r["events"]}
            for r in rows]


def ranking_panel(session: Session, scope: Scope, now: datetime,
                  settings: Settings) -> dict[str, Any]:
    """The month's assessment of the scope's child units (the /stats rows of level
    ``child_level`` from the month's first instant to ``now``, read from the monthly
    rollups by :func:`geo.month_stats.month_unit_stats`), best score first (None last)."""
    rows = month_unit_stats(session, scope.child_level, scope.code, now, settings=settings)
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["unit"]))
    return {"level": scope.child_level, "since": month_start(now).isoformat(),
            "until": now.isoformat(), "units": rows}


PLACED_CAMERAS = """
placed AS (SELECT DISTINCT ON (c.code) c.code, c.status, g.code AS grid_code
             FROM cameras c JOIN grids g ON ST_Covers(g.geom, c.geom)
            WHERE g.code LIKE :prefix AND g.level = 'grid' AND g.kind <> 'dedicated'
              AND g.valid_to IS NULL ORDER BY c.code, g.code)"""
"""Each camera placed in the current ordinary grid whose polygon covers it (GiST on grids;
on a shared edge, the smaller code)."""

CAMERA_UNITS_SQL = f"""
WITH {PLACED_CAMERAS},
     units AS (SELECT code, name FROM admin_areas WHERE parent_code = :area UNION ALL
               SELECT code, name FROM grids WHERE community_code = :area AND level = 'grid'
               AND kind <> 'dedicated' AND valid_to IS NULL AND :level = 'community'),
     lengths AS (SELECT DISTINCT length(code) AS n FROM units)
SELECT u.code AS unit, u.name, p.status, count(*)::int AS cameras
  FROM placed p CROSS JOIN lengths l JOIN units u ON u.code = left(p.grid_code, l.n)
 GROUP BY 1, 2, 3 ORDER BY 1, 3
"""  # noqa: S608 (constant SQL fragments only)
"""Cameras per child unit and status (grid codes cut to each unit-code length, hash join)."""

BLIND_GRIDS_SQL = f"""
WITH {PLACED_CAMERAS}
SELECT g.code, g.name FROM grids g WHERE g.code LIKE :prefix AND g.level = 'grid'
   AND g.kind <> 'dedicated' AND g.valid_to IS NULL
   AND g.code NOT IN (SELECT grid_code FROM placed WHERE status = 'online')
 ORDER BY g.code
"""  # noqa: S608 (constant SQL fragments only)
"""Current ordinary grids without an online camera inside."""


def camera_panel(session: Session, scope: Scope) -> dict[str, Any]:
    """Cameras per child unit by status (online/offline/fault/...), each camera placed in the
    current ordinary grid covering it, and the scope's ordinary grids with no online camera
    (dedicated grids, e.g. schools, overlap ordinary ones and are left out)."""
    params = {"area": scope.code, "level": scope.level, "prefix": prefix_pattern(scope.code)}
    per_unit = session.execute(text(CAMERA_UNITS_SQL), params).mappings().all()
    blind = session.execute(text(BLIND_GRIDS_SQL), params).mappings().all()
    return {"by_unit": [dict(r) for r in per_unit],
            "grids_without_camera": [dict(r) for r in blind]}


RESPONSE_BUCKETS_MIN = (5, 15, 30, 60)
"""Upper bounds (minutes) of the alarm-response histograms; the last bucket is open."""

ALARM_RESPONSE_SQL = """
SELECT count(*)::int AS alarms,
       count(dispatch)::int AS dispatched,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY dispatch) AS median_min,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY dispatch) AS p90_min,
       array_agg(dispatch) FILTER (WHERE dispatch IS NOT NULL) AS dispatch_minutes,
       count(first_view)::int AS viewed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_view) AS view_median_min,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_view) AS view_p90_min,
       array_agg(first_view) FILTER (WHERE first_view IS NOT NULL) AS view_minutes
  FROM (SELECT extract(epoch FROM e.dispatched_at - e.reported_at) / 60 AS dispatch,
               extract(epoch FROM v.first_at - e.reported_at) / 60 AS first_view
          FROM events_with_assignment e
          LEFT JOIN LATERAL (SELECT min(viewed_at) AS first_at FROM event_camera_views
                              WHERE event_id = e.id AND viewed_at < :now) v ON true
         WHERE e.category = 'alarm' AND e.grid_code LIKE :prefix
           AND :area IN (e.district_code, e.street_code, e.community_code)
           AND e.reported_at >= :since AND e.reported_at < :now) a
"""
"""Per alarm of the period: minutes to dispatch and to the first camera view before ``now``."""


def alarm_panel(session: Session, scope: Scope, now: datetime) -> dict[str, Any]:
    """Alarms reported in the 30 days before ``now``: minutes from alarm to dispatch and from
    alarm to the first camera view opened for it (:mod:`geo.camera_views`) - count, median,
    p90 and a histogram over :data:`RESPONSE_BUCKETS_MIN` (each bucket: ``alarms``
    dispatched and ``viewed`` first within it)."""
    row = session.execute(text(ALARM_RESPONSE_SQL), {
        "prefix": prefix_pattern(scope.code), "area": scope.code, "now": now,
        "since": now - timedelta(days=TREND_DAYS)}).mappings().one()
    dispatch = _histogram(row["dispatch_minutes"])
    view = _histogram(row["view_minutes"])
    return {"alarms": row["alarms"], "dispatched": row["dispatched"],
            "median_min": _one_decimal(row["median_min"]), "p90_min": _one_decimal(row["p90_min"]),
            "viewed": row["viewed"], "view_median_min": _one_decimal(row["view_median_min"]),
            "view_p90_min": _one_decimal(row["view_p90_min"]),
            "buckets": [{"label": label, "alarms": d, "viewed": v}
                        for (label, d), (_, v) in zip(dispatch, view, strict=True)]}


def _histogram(minutes: list[Any] | None) -> list[tuple[str, int]]:
    """(label, how many of ``minutes``) per bucket of :data:`RESPONSE_BUCKETS_MIN`."""
    values = [float(m) for m in minutes or []]
    bounds = [0, *RESPONSE_BUCKETS_MIN]
    counts = [(f"{lo}-{hi} 分钟", sum(lo <= m < hi for m in values))
              for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return [*counts, (f"≥{bounds[-1]} 分钟", sum(m >= bounds[-1] for m in values))]


def _one_decimal(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


HEAT_CELLS = (24, 12)
"""Columns × rows of the 7-day heat grid over the scope's bounding box (lon/lat)."""
HEAT_DAYS = 7


def heat_panel(session: Session, scope: Scope, now: datetime) -> dict[str, Any]:
    """Events of the 7 China Standard Time days up to the day of ``now`` (today included)
    counted per cell of a :data:`HEAT_CELLS` grid over the scope's bounding box (EPSG:4326
    degrees): each grid's count from the daily rollups (``/stats/daily?by=grid_code``), in
    the cell of a point inside the grid (``ST_PointOnSurface`` of its latest version)."""
    nx, ny = HEAT_CELLS
    last = local_day(now)
    first = last - timedelta(days=HEAT_DAYS - 1)
    per_grid = {r["grid_code"]: r["events"]
                for r in daily_counts(session, scope.code, first, last, ("grid_code",))}
    box = session.execute(text(
        "SELECT ST_XMin(geom) AS west, ST_YMin(geom) AS south, ST_XMax(geom) AS east,"
        " ST_YMax(geom) AS north FROM admin_areas WHERE code = :area"),
        {"area": scope.code}).mappings().one()
    cells: dict[tuple[int, int], int] = {}
    for code, lon, lat in _grid_points(session, list(per_grid)):
        if box["west"] <= lon <= box["east"] and box["south"] <= lat <= box["north"]:
            cell = (_cell(lon, box["west"], box["east"], nx),
                    _cell(lat, box["south"], box["north"], ny))
            cells[cell] = cells.get(cell, 0) + per_grid[code]
    return {"bounds": [box["west"], box["south"], box["east"], box["north"]],
            "size": [nx, ny], "since": day_start(first).isoformat(),
            "cells": [{"x": x, "y": y, "events": n} for (x, y), n in sorted(cells.items())]}


def _cell(value: float, low: float, high: float, cells: int) -> int:
    """The index of the cell of ``value`` among ``cells`` equal cells from ``low`` to
    ``high`` (``high`` itself in the last one)."""
    return min(int((value - low) / (high - low) * cells), cells - 1)


def _grid_points(session: Session, codes: list[str]) -> list[tuple[str, float, float]]:
    """(code, lon, lat) of a point inside each grid of ``codes`` (its latest version)."""
    return [(str(c), float(x), float(y)) for c, x, y in session.execute(text(
        "SELECT DISTINCT ON (code) code, ST_X(p), ST_Y(p) FROM grids"
        " CROSS JOIN LATERAL ST_PointOnSurface(geom) p"
        " WHERE code = ANY(:codes) ORDER BY code, version DESC"), {"codes": codes}).all()]


def cycle_scopes(session: Session, scope: Scope) -> list[dict[str, str]]:
    """The scopes a wall screen cycles through: ``scope`` then its child admin areas."""
    rows = session.execute(text(
        "SELECT code, name FROM admin_areas WHERE parent_code = :c ORDER BY code"),
        {"c": scope.code}).mappings().all()
    return [{"code": scope.code, "name": scope.name}, *[dict(r) for r in rows]]


PANEL_PARTS: dict[str, Callable[[Session, Scope, datetime, Settings], dict[str, Any]]] = {
    "today": today_panel,
    "trend": trend_panel,
    "ranking": ranking_panel,
    "cameras": lambda session, scope, _now, _settings: camera_panel(session, scope),
    "alarms": lambda session, scope, now, _settings: alarm_panel(session, scope, now),
    "heat": lambda session, scope, now, _settings: heat_panel(session, scope, now),
}
"""Each part of the figures and the function computing it (one part per chart's CSV)."""


RANDOM_PAGE_COST = "1.1"
"""The planner's cost of a random page for the dashboard's reads (transaction-local; default
4). The figures read one day to one month of events and their assignments, cached in memory:
at the default the planner joins them by scanning every assignment (0.08 s for one day at
200,000 events) where an index probe per event takes 0.01 s (bench/RESULTS.md, Dashboard)."""


def dashboard_figures(session: Session, scope: Scope, now: datetime, settings: Settings,
                      parts: Sequence[str] = tuple(PANEL_PARTS)) -> dict[str, Any]:
    """The panels ``parts`` (default: all) of the dashboard of ``scope`` at ``now``, with the
    scope, ``now`` and the wall screen's cycle (JSON-ready). Never writes; sets
    :data:`RANDOM_PAGE_COST` for its reads (restored after)."""
    with local_settings(session, {"random_page_cost": RANDOM_PAGE_COST}):
        return {
            "scope": {"code": scope.code, "name": scope.name, "level": scope.level,
                      "child_level": scope.child_level},
            "now": now.isoformat(),
            **{part: PANEL_PARTS[part](session, scope, now, settings) for part in parts},
            "cycle": cycle_scopes(session, scope),
        }
