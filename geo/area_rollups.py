"""The 30-day trend of a district or street from the per-area daily rollups (migration 0027).

``event_area_daily_counts`` holds, per China Standard Time day × area (each district, street
and community of an event's assignment, with its parent's code) × category, the daily
rollups (geo.rollups) summed over grids and statuses: ``events``, ``valid``, ``handled``,
``due`` and ``closed_on_time``. It is kept on write from the daily rollups, so
:func:`area_trend_counts` answers exactly what :func:`geo.rollups.trend_counts` answers for
a district or a street (and ``/stats/daily``) while reading ~300 rows for a district's 30
days instead of its ~146,000 daily keys (10^6 events). A community's child units are grids,
which this table does not hold: :func:`geo.rollups.trend_counts` serves it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import ValidationFailed
from geo.rollups import ASSIGNED_IN_AREA, RATE_COUNTS, area_source

_SCOPE_SQL = """
SELECT GROUPING(day, category) AS grouping, day, category, sum(events)::int AS events,
       sum(valid)::int AS valid, sum(handled)::int AS handled, sum(due)::int AS due,
       sum(closed_on_time)::int AS closed_on_time
  FROM """ + area_source(":first", ":last", assigned=ASSIGNED_IN_AREA) + """ c
 WHERE area_code = :area AND day BETWEEN :first AND :last
 GROUP BY GROUPING SETS ((day, category), (day)) HAVING sum(events) > 0
 ORDER BY 1, 2, 3
"""
"""Per day × category and per day (``GROUPING`` 0 and 1) of the area itself."""

_CHILDREN_SQL = """
SELECT area_code AS unit, sum(events)::int AS events
  FROM """ + area_source(":first", ":last", assigned=ASSIGNED_IN_AREA) + """ c
 WHERE parent_code = :area AND day BETWEEN :first AND :last
 GROUP BY area_code HAVING sum(events) > 0 ORDER BY area_code
"""
"""Per child area (street of a district, community of a street)."""

AREA_LEVELS = {"district": "street_code", "street": "community_code"}
"""The scopes this table serves and the column of their child units."""


def area_trend_counts(session: Session, area: str, level: str, first_day: date,
                      last_day: date) -> dict[str, list[dict[str, Any]]]:
    """What :func:`geo.rollups.trend_counts` answers for district or street ``area`` (of
    ``level``) from ``first_day`` to ``last_day`` (CST days, both included), its child unit
    column being :data:`AREA_LEVELS` of ``level``: ``by_day_category`` (day, category,
    events), ``by_unit`` (child code, events) and ``by_day`` (day, events and
    :data:`geo.rollups.RATE_COUNTS`). Raises ValidationFailed for another level. Never
    writes."""
    if level not in AREA_LEVELS:
        raise ValidationFailed(f"no per-area daily rollups below a street ({level!r})",
                               [{"field": "level", "allowed": list(AREA_LEVELS)}])
    params = {"area": area, "prefix": prefix_pattern(area), "first": first_day,
              "last": last_day}
    rows = session.execute(text(_SCOPE_SQL), params).mappings().all()
    children = session.execute(text(_CHILDREN_SQL), params).mappings().all()
    return {
        "by_day_category": [{"day": r["day"], "category": r["category"], "events": r["events"]}
                            for r in rows if r["grouping"] == 0],
        "by_unit": [{AREA_LEVELS[level]: r["unit"], "events": r["events"]} for r in children],
        "by_day": [{"day": r["day"], "events": r["events"], **{c: r[c] for c in RATE_COUNTS}}
                   for r in rows if r["grouping"] == 1],
    }
