"""A worker's route for a day: the grid's due units in a short walking order.

The stops are the units (sites, buildings) of the grid - or micro-grid - with a task not yet
checked in whose period has started by the day: due that day, later in the week or month, or
overdue from an earlier period (flagged). A unit with several such tasks is one stop. The
order is :func:`geo.patrols.tour.shortest_tour` on straight lines measured in the district's
projected CRS (metres, :func:`geo.districts.metric_srid_for`), starting at the westernmost
stop (ties: the lower code). gridlink holds no road network (no ``roads`` table), so legs
are straight lines; docs/patrols.md says what a road graph would change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.districts import metric_srid_for
from geo.errors import NotFound
from geo.patrols.tour import distance_matrix, shortest_tour
from geo.settings import Settings


@dataclass
class PatrolRoute:
    """The day's walk of one grid: ``stops`` in order, each with ``order`` (1-based),
    ``leg_m`` (from the previous stop, 0 for the first) and ``overdue``; ``length_m`` the
    whole walk (m); ``srid`` the CRS the metres were measured in."""

    grid_code: str
    grid_name: str
    day: date
    srid: int
    stops: list[dict[str, Any]] = field(default_factory=list)
    length_m: float = 0.0


_DUE_UNITS = """
WITH due AS (
    SELECT layer, unit_code AS code,
           array_agg(DISTINCT frequency ORDER BY frequency) AS frequencies,
           min(due_date) AS due_date, bool_or(due_date < :day) AS overdue,
           array_agg(id ORDER BY id) AS task_ids
    FROM patrol_tasks t
    WHERE :grid IN (grid_code, micro_grid_code) AND period_start <= :day
      AND NOT EXISTS (SELECT 1 FROM patrol_checkins c WHERE c.task_id = t.id)
    GROUP BY layer, unit_code)
SELECT d.*, COALESCE(s.name, b.name, d.code) AS name,
       COALESCE(s.category, 'building') AS category,
       ST_X(p.spot) AS lon, ST_Y(p.spot) AS lat,
       ST_X(ST_Transform(p.spot, :srid)) AS x, ST_Y(ST_Transform(p.spot, :srid)) AS y
FROM due d
LEFT JOIN sites s ON d.layer = 'sites' AND s.code = d.code
LEFT JOIN buildings b ON d.layer = 'buildings' AND b.code = d.code
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(COALESCE(s.geom, b.geom)) AS spot) p
WHERE p.spot IS NOT NULL
ORDER BY lon, d.code
"""


def day_route(session: Session, grid: str, day: date,
              settings: Settings | None = None) -> PatrolRoute:
    """The route of ``grid`` (a current grid or micro-grid code) on ``day``.

    Raises NotFound naming ``grid`` when no current grid has that code. A grid with nothing
    due gets an empty route. Read-only.
    """
    found = session.execute(text(
        "SELECT code, name FROM grids WHERE code = :g AND valid_to IS NULL"), {"g": grid}).first()
    if found is None:
        raise NotFound(f"no current grid has code {grid!r}", [{"field": "grid", "value": grid}])
    srid = metric_srid_for(session, grid, settings)
    rows = [dict(r) for r in session.execute(
        text(_DUE_UNITS), {"grid": grid, "day": day, "srid": srid}).mappings()]
    route = PatrolRoute(str(found.code), str(found.name), day, srid)
    if not rows:
        return route
    xy = np.array([(r.pop("x"), r.pop("y")) for r in rows], dtype=float)
    order = shortest_tour(xy, start=0)  # rows come westernmost first
    dist = distance_matrix(xy)
    for n, (prev, here) in enumerate(zip([order[0], *order], order, strict=False), start=1):
        route.stops.append({**rows[here], "order": n, "leg_m": round(float(dist[prev, here]), 1)})
    route.length_m = round(sum(s["leg_m"] for s in route.stops), 1)
    return route
