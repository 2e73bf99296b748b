"""A small named patrol case, drawn in metres (tests.geo.planning.cases) and stored lon/lat.

``school_grid_and_market_grid``: community 140213001001 = 0..400 x 0..100 m; grid 001 =
0..200 (micro-grids 01 = 0..100 and 02 = 100..200), grid 002 = 200..400.

* sites: ``S-SCHOOL`` 向阳小学 (primary_school) at (50, 50) and ``S-OLD`` 向阳老旧小区
  (old_compound) at (150, 50) in grid 001; ``S-MARKET`` (market, no rule) at (250, 50);
* buildings: ``B1`` at (20, 20) in grid 001, ``B2`` at (300, 50) in grid 002, ``B-OUT`` at
  (500, 50) outside every grid;
* workers: grid 001 has leader ``W-LEAD``, full-time worker ``W-WORK`` and micro-grid 02's
  helper ``W-HELP``; grid 002 only its leader ``W-2L``.
"""

from __future__ import annotations

from datetime import date

from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import assign_units
from tests.geo.planning.cases import add_building, add_grid, code, community, lonlat

GRID_1, GRID_2 = code(1), code(2)
MICRO_1, MICRO_2 = code(1, GRID_1), code(2, GRID_1)
WEDNESDAY = date(2026, 12, 9)
"""A Wednesday: week 2026-12-07..13, month 2026-12-01..31."""
SITES = {"S-SCHOOL": ("向阳小学", "primary_school", (50, 50)),
         "S-OLD": ("向阳老旧小区", "old_compound", (150, 50)),
         "S-MARKET": ("向阳农贸市场", "market", (250, 50))}
_GEOD = Geod(ellps="WGS84")


def school_grid_and_market_grid(db: Session) -> None:
    community(db, width=400)
    add_grid(db, GRID_1, box(0, 0, 200, 100))
    add_grid(db, GRID_2, box(200, 0, 400, 100))
    add_grid(db, MICRO_1, box(0, 0, 100, 100), parent=GRID_1)
    add_grid(db, MICRO_2, box(100, 0, 200, 100), parent=GRID_1)
    for site, (name, category, (x, y)) in SITES.items():
        db.execute(text("INSERT INTO sites (code, name, category, geom) VALUES "
                        "(:c, :n, :k, ST_GeomFromText(:w, 4326))"),
                   {"c": site, "n": name, "k": category, "w": lonlat(Point(x, y)).wkt})
    for building, x, y in (("B1", 20, 20), ("B2", 300, 50), ("B-OUT", 500, 50)):
        add_building(db, building, x, y, 30)
    assign_units(db)  # as an import does (geo.assign_on_import)
    for worker, role, grid in (("W-LEAD", "grid_leader", GRID_1),
                               ("W-WORK", "grid_worker", GRID_1),
                               ("W-HELP", "helper", MICRO_2), ("W-2L", "grid_leader", GRID_2)):
        db.execute(text("INSERT INTO workers (code, name, role, grid_code) VALUES "
                        "(:c, :c, :r, :g)"), {"c": worker, "r": role, "g": grid})


def at(x: float, y: float) -> tuple[float, float]:
    """The lon/lat of the local point (x, y) m."""
    point = lonlat(Point(x, y))
    return point.x, point.y


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The WGS 84 geodesic distance (m) between two lon/lat points (pyproj, not PostGIS)."""
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2])


def task_id(db: Session, unit: str, period_start: date) -> int:
    return int(db.execute(text("SELECT id FROM patrol_tasks WHERE unit_code = :u AND "
                               "period_start = :p"), {"u": unit, "p": period_start}).scalar_one())
