"""The nearest current ordinary grid of points outside every grid: one query shared by the
SQL steps of :mod:`geo.assign` and the in-memory engines (:mod:`geo.assign_memory`,
:mod:`geo.distributed`), so every path snaps the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

NEAREST_GRIDS = """
    SELECT e.id, n.code, n.community_code, n.d,
      CASE WHEN n.d <= :tol THEN (
        SELECT m.code FROM grids m WHERE m.valid_to IS NULL AND m.level = 'micro'
          AND m.parent_code = n.code
        ORDER BY ST_Distance(geography(m.geom), geography(e.geom)), m.code LIMIT 1)
      END AS micro
    FROM (<points>) e CROSS JOIN LATERAL (
      SELECT code, community_code, d FROM (
        SELECT g.code, g.community_code,
               ST_Distance(geography(g.geom), geography(e.geom)) AS d
        FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid'
          AND g.kind <> 'dedicated'
        ORDER BY geography(g.geom) <-> geography(e.geom) LIMIT 8) c
      ORDER BY d, code LIMIT 1) n"""
"""``(id, code, community_code, d, micro)``: for each point ``(id, geom)`` of ``<points>``
(SQL filled in by the caller), the nearest current ordinary grid (geodesic m, ties by
code) and, within ``:tol`` m, the nearest micro-grid of it (the snapping step of
:mod:`geo.assign`, :func:`nearest_grids_of`)."""


def nearest_grids_of(session: Session, ids: list[int], lons: list[float], lats: list[float],
                     tolerance_m: float) -> list[Any]:
    """The nearest-grid rows of :data:`NEAREST_GRIDS` for WGS 84 points (degrees) ``ids``:
    what :func:`assign_events` stores for events outside every ordinary grid (snapped within
    ``tolerance_m`` metres, else unassigned). A point gets no row when there is no grid at
    all. Read-only."""
    points = ("SELECT p.id, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326) AS geom FROM"
              " unnest(CAST(:ids AS bigint[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]))"
              " AS p(id, x, y)")
    return list(session.execute(text(NEAREST_GRIDS.replace("<points>", points)),
                                {"ids": ids, "xs": lons, "ys": lats, "tol": tolerance_m}).all())
