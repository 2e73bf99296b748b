"""Per-grid counts, one computation for every view: map, preview, validation and /stats.

A unit belongs to the grid whose shape covers its point (a building's or site's point on
surface, a camera's or event's point), the rule :func:`geo.assign.assign_units` stores.
Counted per grid: buildings, their households and population, sites, cameras, workers (by
their ``grid_code``) and open events (not closed or rejected). Grids are the published ones,
or those a draft changeset would publish (:data:`geo.planning.candidates.CANDIDATES`), so a
draft's "after" uses the same rule as the published "before". Ordinary and dedicated grids
are counted alike; micro-grids count what lies in them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.planning.candidates import CANDIDATES
from geo.rollups import daily_source

COUNT_KINDS = ("buildings", "households", "population", "sites", "cameras", "workers",
               "open_events")

COUNTS_OF = """
SELECT gr.id, b.buildings, b.households, b.population,
  (SELECT count(*) FROM sites s WHERE s.geom && gr.geom AND ST_Covers(gr.geom,
     CASE WHEN ST_GeometryType(s.geom) = 'ST_Point' THEN s.geom
          ELSE ST_PointOnSurface(s.geom) END)) AS sites,
  (SELECT count(*) FROM cameras k WHERE k.geom && gr.geom AND ST_Covers(gr.geom, k.geom))
     AS cameras,
  (SELECT count(*) FROM workers w WHERE w.grid_code = gr.code) AS workers,
  (SELECT count(*) FROM events e WHERE e.geom && gr.geom AND ST_Covers(gr.geom, e.geom)
     AND e.status NOT IN ('closed', 'rejected')) AS open_events
FROM ({grids}) gr
CROSS JOIN LATERAL (
  SELECT count(*) AS buildings, COALESCE(sum(b.households), 0) AS households,
         COALESCE(sum(b.population), 0) AS population
    FROM buildings b WHERE b.geom && gr.geom AND ST_Covers(gr.geom,
      CASE WHEN ST_GeometryType(b.geom) = 'ST_Point' THEN b.geom
           ELSE ST_PointOnSurface(b.geom) END)) b
"""
"""Counts per row of ``{grids}`` (a query with ``id``, ``code`` and lon/lat ``geom``); each
grid's buildings are probed once for their three figures."""

_SQL = COUNTS_OF.format(grids=f"""
    SELECT c.code AS id, c.code, c.geom FROM ({CANDIDATES}) c WHERE c.code = ANY(:codes)""")  # noqa: S608


def grid_counts(session: Session, codes: list[str], changeset_id: int | None = None
                ) -> dict[str, dict[str, int]]:
    """Counts (:data:`COUNT_KINDS`) of the grids ``codes``, as published or as draft
    ``changeset_id`` would publish them; codes without a (current or draft) grid are left
    out. Never writes."""
    rows = session.execute(text(_SQL), {"codes": list(codes), "cs": changeset_id}).mappings()
    return {r["id"]: {k: int(r[k]) for k in COUNT_KINDS} for r in rows}


def area_grid_codes(session: Session, prefix: str) -> list[str]:
    """Codes of the current grids and micro-grids whose code starts with ``prefix``."""
    return list(session.scalars(text(
        "SELECT code FROM grids WHERE valid_to IS NULL AND starts_with(code, :p) ORDER BY code"),
        {"p": prefix}).all())


_STORED_SQL = """
WITH wanted AS (SELECT DISTINCT g.code FROM grids g
                 WHERE g.valid_to IS NULL AND g.code = ANY(:codes)),
b AS (SELECT grid_code AS code, count(*) AS buildings,
             COALESCE(sum(households), 0) AS households,
             COALESCE(sum(population), 0) AS population
        FROM buildings WHERE grid_code = ANY(:codes) GROUP BY 1),
s AS (SELECT grid_code AS code, count(*) AS n FROM sites
       WHERE grid_code = ANY(:codes) GROUP BY 1),
k AS (SELECT grid_code AS code, count(*) AS n FROM cameras
       WHERE grid_code = ANY(:codes) GROUP BY 1),
w AS (SELECT grid_code AS code, count(*) AS n FROM workers
       WHERE grid_code = ANY(:codes) GROUP BY 1),
o AS (SELECT grid_code AS code, sum(events) AS n
        FROM """ + daily_source(assigned="a.grid_code = ANY(:codes)") + """ c
       WHERE grid_code = ANY(:codes) AND status NOT IN ('closed', 'rejected') GROUP BY 1)
SELECT x.code AS id, coalesce(b.buildings, 0) AS buildings,
       coalesce(b.households, 0) AS households, coalesce(b.population, 0) AS population,
       coalesce(s.n, 0) AS sites, coalesce(k.n, 0) AS cameras, coalesce(w.n, 0) AS workers,
       coalesce(o.n, 0) AS open_events
  FROM wanted x LEFT JOIN b USING (code) LEFT JOIN s USING (code) LEFT JOIN k USING (code)
  LEFT JOIN w USING (code) LEFT JOIN o USING (code)
"""  # noqa: S608 (constant SQL fragments: geo.rollups.daily_source)
"""Per current grid of ``:codes``: the units whose stored ``grid_code`` it is and its open
events (not closed or rejected) by their stored assignment, from the daily rollups."""


def stored_grid_counts(session: Session, codes: list[str]) -> dict[str, dict[str, int]]:
    """Counts (:data:`COUNT_KINDS`) of the current grids ``codes`` by the **stored** rule:
    buildings, households, population, sites and cameras whose ``grid_code`` is the grid
    (:func:`geo.assign.assign_units`: the smallest covering ordinary grid), workers by
    their ``grid_code``, and the open events whose stored assignment is the grid (read from
    the daily rollups, geo.rollups; a snapped event counts for the grid it was snapped to,
    a never-assigned one for none). What ``/stats?level=grid`` shows next to its figures,
    which count events by the same stored grid.

    It differs from :func:`grid_counts` (what the grid's shape covers: maps, preview,
    validation, drafts) only for what lies on an edge shared by two grids (stored: the
    lower code; shape: both), for events outside every grid (stored: the nearest grid;
    shape: none) and for dedicated grids (stored: never a unit's grid). At 10^5 grids it
    reads each table once (seconds) where the shape probes took minutes (bench/RESULTS.md,
    issue #18). Codes without a current grid are left out. Never writes.
    """
    rows = session.execute(text(_STORED_SQL), {"codes": list(codes)}).mappings()
    return {r["id"]: {k: int(r[k]) for k in COUNT_KINDS} for r in rows}
