"""Patrol tasks: generated per grid and period from the rules, assigned to the grid's workers.

:func:`generate_tasks` makes, for a day, one task per unit and rule whose period contains the
day (a daily rule: that day; weekly: its ISO week, Monday to Sunday; monthly: its calendar
month); the task is due on the period's last day. Generating again for any day of the same
period adds nothing (a unique key on unit, frequency and period start).

A task belongs to the unit's grid as stored (``grid_code``, kept current by
:mod:`geo.assign_on_import` and :func:`geo.assign.assign_units`: the smallest current
ordinary grid covering the unit's point on surface) and its micro-grid (buildings: the
stored ``micro_grid_code``; sites: the smallest micro-grid of that grid covering the site);
a unit without a grid gets no task (counted as ``outside``). It is assigned to one worker
of that grid, in this order: the grid's full-time grid worker (专职网格员), the micro-grid's
helper (微网格员), the grid leader (网格长), anyone else bound to the grid; ties by worker
code. A task of a grid without workers is generated unassigned. Any worker of the grid may check in
(:mod:`geo.patrols.checkins`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound, ValidationFailed
from geo.patrols.rules import FREQUENCIES


def period_of(day: date, frequency: str) -> tuple[date, date]:
    """(first day, last day) of the ``frequency`` period containing ``day`` (both inclusive).

    ``daily``: the day; ``weekly``: Monday-Sunday (ISO week); ``monthly``: the calendar month.
    Raises ValidationFailed naming ``frequency`` for another value.
    """
    if frequency == "daily":
        return day, day
    if frequency == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if frequency == "monthly":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    raise ValidationFailed(f"unknown frequency {frequency!r}",
                           [{"field": "frequency", "value": frequency,
                             "allowed": list(FREQUENCIES)}])


@dataclass(frozen=True)
class Generated:
    """What :func:`generate_tasks` did: tasks ``created`` now, tasks that ``existed`` already
    for the same unit and period, and units ``outside`` every ordinary grid (no task)."""

    day: date
    created: int
    existed: int
    outside: int


_GENERATE = """
WITH periods (frequency, period_start, due_date) AS (VALUES
    ('daily', CAST(:daily_start AS date), CAST(:daily_due AS date)),
    ('weekly', CAST(:weekly_start AS date), CAST(:weekly_due AS date)),
    ('monthly', CAST(:monthly_start AS date), CAST(:monthly_due AS date))),
units AS (
    SELECT 'sites' AS layer, code, category, grid_code, NULL AS micro_grid_code, geom
    FROM sites
    UNION ALL SELECT 'buildings', code, '*', grid_code, micro_grid_code, geom FROM buildings),
placed AS MATERIALIZED (
    SELECT DISTINCT u.layer, u.code, p.frequency, p.period_start, p.due_date, u.grid_code,
           COALESCE(u.micro_grid_code, m.code) AS micro_grid_code
    FROM patrol_rules r JOIN periods p USING (frequency)
    JOIN units u ON u.layer = r.layer AND (r.category = '*' OR r.category = u.category)
    LEFT JOIN LATERAL (SELECT min(code) AS code FROM grids WHERE u.layer = 'sites'
        AND valid_to IS NULL AND level = 'micro' AND parent_code = u.grid_code
        AND ST_Covers(geom, ST_PointOnSurface(u.geom))) m ON true
    WHERE CAST(:area AS text) IS NULL OR u.grid_code LIKE CAST(:area AS text) || '%'
       OR u.grid_code IS NULL),
made AS (
    INSERT INTO patrol_tasks (layer, unit_code, frequency, period_start, due_date, grid_code,
                              micro_grid_code, worker_code)
    SELECT w.layer, w.code, w.frequency, w.period_start, w.due_date, w.grid_code,
           w.micro_grid_code, k.code FROM placed w
    LEFT JOIN LATERAL (SELECT code FROM workers
        WHERE grid_code IN (w.grid_code, w.micro_grid_code)
        ORDER BY CASE WHEN role = 'grid_worker' AND grid_code = w.grid_code THEN 0
                      WHEN role = 'helper' AND grid_code = w.micro_grid_code THEN 1
                      WHEN role = 'grid_leader' THEN 2 ELSE 3 END, code LIMIT 1) k ON true
    WHERE w.grid_code IS NOT NULL
    ON CONFLICT (layer, unit_code, frequency, period_start) DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM made) AS created,
       (SELECT count(*) FROM placed WHERE grid_code IS NOT NULL) AS wanted,
       (SELECT count(*) FROM placed WHERE grid_code IS NULL) AS outside
"""


def generate_tasks(session: Session, day: date, area: str | None = None) -> Generated:
    """Create the tasks of every rule for the periods containing ``day`` (idempotent).

    ``area``: only units whose grid code starts with it (a district, street, community or
    grid code; codes nest by prefix); None: everywhere. Units outside every ordinary grid
    are counted as ``outside`` (with an ``area``, they are counted too: they belong to no
    area). One set-based statement; never commits.
    """
    params: dict[str, Any] = {"area": area}
    for frequency in FREQUENCIES:
        start, due = period_of(day, frequency)
        params[f"{frequency}_start"], params[f"{frequency}_due"] = start, due
    row = session.execute(text(_GENERATE), params).one()
    return Generated(day=day, created=int(row.created),
                     existed=int(row.wanted) - int(row.created), outside=int(row.outside))


TASK_COLUMNS = """
t.id, t.layer, t.unit_code, COALESCE(s.name, b.name, t.unit_code) AS unit_name,
COALESCE(s.category, 'building') AS category, t.frequency, t.period_start, t.due_date,
t.grid_code, t.micro_grid_code, t.worker_code, c.at AS checked_in_at, c.distance_m,
ST_X(ST_PointOnSurface(COALESCE(s.geom, b.geom))) AS lon,
ST_Y(ST_PointOnSurface(COALESCE(s.geom, b.geom))) AS lat
"""
TASK_SOURCE = """
patrol_tasks t
LEFT JOIN sites s ON t.layer = 'sites' AND s.code = t.unit_code
LEFT JOIN buildings b ON t.layer = 'buildings' AND b.code = t.unit_code
LEFT JOIN patrol_checkins c ON c.task_id = t.id
"""
"""Columns and joins of a task row: its unit's name, category and point, its check-in."""


def list_tasks(session: Session, day: date, area: str | None = None,
               worker: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Tasks whose period contains ``day`` of grids whose code starts with ``area`` and
    assigned to ``worker`` (None: any), with their check-in (``checked_in_at`` None: not
    yet); ordered by grid, due date, layer and unit. Read-only."""
    rows = session.execute(text(
        f"SELECT {TASK_COLUMNS} FROM {TASK_SOURCE} "  # noqa: S608 (constant SQL)
        "WHERE t.period_start <= :day AND t.due_date >= :day "
        "AND (CAST(:area AS text) IS NULL OR t.grid_code LIKE CAST(:area AS text) || '%') "
        "AND (CAST(:worker AS text) IS NULL OR t.worker_code = CAST(:worker AS text)) "
        "ORDER BY t.grid_code, t.due_date, t.layer DESC, t.unit_code LIMIT :limit"),
        {"day": day, "area": area, "worker": worker, "limit": limit}).mappings()
    return [dict(r) for r in rows]


def get_task(session: Session, task_id: int) -> dict[str, Any]:
    """One task row (as :func:`list_tasks`); NotFound naming the id."""
    row = session.execute(text(
        f"SELECT {TASK_COLUMNS} FROM {TASK_SOURCE} WHERE t.id = :id"),  # noqa: S608
        {"id": task_id}).mappings().first()
    if row is None:
        raise NotFound(f"no patrol task {task_id}", [{"field": "task_id", "value": task_id}])
    return dict(row)
