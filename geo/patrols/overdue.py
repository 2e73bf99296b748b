"""Patrol figures per grid: tasks due on a day, done, and overdue.

For a day ``D`` (China Standard Time): ``due`` counts the tasks whose period contains ``D``,
``done`` those of them checked in, ``open`` the rest; ``overdue`` counts tasks whose period
ended before ``D`` (``due_date < D``) without a check-in before ``D``. Grids with neither due
nor overdue tasks are not listed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

PATROL_FIELDS = ("grid_code", "grid_name", "due", "done", "open", "overdue")

_PER_GRID = """
SELECT t.grid_code, min(g.name) AS grid_name,
       count(*) FILTER (WHERE t.due_date >= :day) AS due,
       count(*) FILTER (WHERE t.due_date >= :day AND c.id IS NOT NULL) AS done,
       count(*) FILTER (WHERE t.due_date >= :day AND c.id IS NULL) AS open,
       count(*) FILTER (WHERE t.due_date < :day AND (c.id IS NULL
                        OR (c.at AT TIME ZONE 'Asia/Shanghai')::date >= :day)) AS overdue
FROM patrol_tasks t
LEFT JOIN patrol_checkins c ON c.task_id = t.id
LEFT JOIN grids g ON g.code = t.grid_code AND g.valid_to IS NULL
WHERE t.period_start <= :day
  AND (CAST(:area AS text) IS NULL OR t.grid_code LIKE CAST(:area AS text) || '%')
GROUP BY t.grid_code
HAVING count(*) FILTER (WHERE t.due_date >= :day) > 0
    OR count(*) FILTER (WHERE t.due_date < :day AND (c.id IS NULL
                        OR (c.at AT TIME ZONE 'Asia/Shanghai')::date >= :day)) > 0
ORDER BY overdue DESC, t.grid_code
"""

_OVERDUE_GRIDS = (
    "SELECT s.grid_code, s.grid_name, s.overdue, ST_X(p) AS lon, ST_Y(p) AS lat FROM ("  # noqa: S608 (constant SQL)
    + _PER_GRID + ") s JOIN LATERAL (SELECT ST_PointOnSurface(geom) AS p FROM grids "
    "WHERE code = s.grid_code AND valid_to IS NULL) g ON true WHERE s.overdue > 0 "
    "ORDER BY s.overdue DESC, s.grid_code")


def patrol_stats(session: Session, day: date, area: str | None = None) -> list[dict[str, Any]]:
    """One row per grid (:data:`PATROL_FIELDS`) for ``day``, grids whose code starts with
    ``area`` (None: all), most overdue first. Read-only."""
    rows = session.execute(text(_PER_GRID), {"day": day, "area": area}).mappings()
    return [dict(r) for r in rows]


def overdue_grids(session: Session, day: date) -> list[dict[str, Any]]:
    """Grids with overdue patrols on ``day``: code, name, ``overdue`` and a point inside the
    grid (lon/lat, WGS 84) to show them on a map (the alarm board). Read-only."""
    rows = session.execute(text(_OVERDUE_GRIDS), {"day": day, "area": None}).mappings()
    return [dict(r) for r in rows]
