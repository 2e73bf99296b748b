"""Small hand-made planning cases, drawn in metres and stored lon/lat.

Geometries are drawn in local metres (x east, y north) from an origin in Datong (113.30°E,
40.08°N) in EPSG:4547 and stored in EPSG:4326, so areas in m² come back (almost) exactly.
Community 140213001001 is the rectangle 0..200 x 0..100 m unless a case says otherwise.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.planning.changesets import open_changeset, publish
from geo.planning.operations import split_by_line

ORIGIN = (113.30, 40.08)
_FWD = Transformer.from_crs(4326, 4547, always_xy=True)
_INV = Transformer.from_crs(4547, 4326, always_xy=True)
E0, N0 = _FWD.transform(*ORIGIN)

DISTRICT, STREET, COMMUNITY = "140213", "140213001", "140213001001"
NEIGHBOUR_COMMUNITY = "140213001002"


def code(n: int, parent: str = COMMUNITY) -> str:
    """Grid code ``n`` of a community (3-digit sequence) or micro-grid of a grid (2 digits)."""
    return f"{parent}{n:03d}" if len(parent) == 12 else f"{parent}{n:02d}"


def lonlat(geom: Any) -> Any:
    """A geometry drawn in local metres, in lon/lat EPSG:4326."""
    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = _INV.transform(xy[:, 0] + E0, xy[:, 1] + N0)
        return np.column_stack([lon, lat])
    return shapely.transform(geom, move)


def metres(geom: Any) -> Any:
    """A lon/lat geometry in local metres (the inverse of :func:`lonlat`)."""
    def move(xy: np.ndarray) -> np.ndarray:
        x, y = _FWD.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x) - E0, np.asarray(y) - N0])
    return shapely.transform(geom, move)


def geojson(geom_m: Any) -> dict[str, Any]:
    """GeoJSON (lon/lat) of a geometry drawn in metres."""
    return shapely.geometry.mapping(lonlat(geom_m))


def add_area(db: Session, code_: str, level: str, parent: str | None, geom_m: Any) -> None:
    db.execute(text(
        "INSERT INTO admin_areas (code, name, level, parent_code, geom) "
        "VALUES (:c, :n, :l, :p, ST_Multi(ST_GeomFromText(:w, 4326)))"),
        {"c": code_, "n": f"area {code_}", "l": level, "p": parent, "w": lonlat(geom_m).wkt})


def add_grid(db: Session, code_: str, geom_m: Any, parent: str = COMMUNITY,
             households: int = 0, kind: str = "urban") -> None:
    """Insert a current grid (parent = a community) or micro-grid (parent = a grid code)."""
    level = "grid" if len(parent) == 12 else "micro"
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, changed_by, geom) VALUES (:c, :n, :k, :l, :p, :cc, :h, 0, 1,"
        " 'test', ST_Multi(ST_GeomFromText(:w, 4326)))"),
        {"c": code_, "n": f"grid {code_[-3:]}", "k": kind, "l": level, "p": parent,
         "cc": parent[:12], "h": households, "w": lonlat(geom_m).wkt})


def add_building(db: Session, code_: str, x: float, y: float, households: int) -> None:
    db.execute(text(
        "INSERT INTO buildings (code, name, households, population, geom) "
        "VALUES (:c, :c, :h, :p, ST_GeomFromText(:w, 4326))"),
        {"c": code_, "h": households, "p": households * 3, "w": lonlat(Point(x, y)).wkt})


def community(db: Session, width: float = 200, height: float = 100) -> Polygon:
    """District, street and community 140213001001 as the rectangle 0..width x 0..height m."""
    shape = box(0, 0, width, height)
    add_area(db, DISTRICT, "district", None, box(-1000, -1000, 1000, 1000))
    add_area(db, STREET, "street", DISTRICT, box(-1000, -1000, 1000, 1000))
    add_area(db, COMMUNITY, "community", STREET, shape)
    return shape


def grids_of(case: dict[str, Any]) -> list[Any]:
    return [g for c, g in sorted(case.items()) if c != COMMUNITY]


def two_grids_sharing_an_edge(db: Session) -> dict[str, Any]:
    """A valid tiling: west 0..100 and east 100..200."""
    shape = community(db)
    grids = {code(1): box(0, 0, 100, 100), code(2): box(100, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def two_grids_with_a_1m_gap(db: Session) -> dict[str, Any]:
    """West 0..100, east 101..200: a 1 m x 100 m gap (100 m²) between them."""
    shape = community(db)
    grids = {code(1): box(0, 0, 100, 100), code(2): box(101, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def overlapping_grids(db: Session) -> dict[str, Any]:
    """West 0..102 and east 100..200 overlap by 2 m x 100 m (200 m²)."""
    shape = community(db)
    grids = {code(1): box(0, 0, 102, 100), code(2): box(100, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def gap_on_outer_boundary(db: Session) -> dict[str, Any]:
    """West 0..100 x 0..97 leaves a 100 m x 3 m strip (300 m²) along the north boundary.

    The east grid has a vertex at (100, 97), so the two grids' shared edges match exactly.
    """
    shape = community(db)
    east = Polygon([(100, 0), (200, 0), (200, 100), (100, 100), (100, 97)])
    grids = {code(1): box(0, 0, 100, 97), code(2): east}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def sliver_grid(db: Session) -> dict[str, Any]:
    """A valid tiling whose third grid is a 0.5 m x 100 m strip (50 m²) on the east edge."""
    shape = community(db)
    grids = {code(1): box(0, 0, 100, 100), code(2): box(100, 0, 199.5, 100),
             code(3): box(199.5, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def bow_tie_grid(db: Session) -> dict[str, Any]:
    """West grid drawn as a bow-tie (self-intersecting at 50,50); east grid fine."""
    shape = community(db)
    grids = {code(1): Polygon([(0, 0), (100, 100), (100, 0), (0, 100)]),
             code(2): box(100, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def grid_poking_outside(db: Session) -> dict[str, Any]:
    """East grid reaches 100..210: 10 m x 100 m (1,000 m²) outside the community."""
    shape = community(db)
    grids = {code(1): box(0, 0, 100, 100), code(2): box(100, 0, 210, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def four_grids_with_buildings(db: Session) -> dict[str, Any]:
    """Community 0..400 x 0..100, grids 001-004 of 100 m each; one building per grid centre.

    Households: 300, 300, 150, 450 (the third under the 200-400 band, the fourth over).
    """
    shape = community(db, width=400)
    grids = {code(i + 1): box(100 * i, 0, 100 * (i + 1), 100) for i in range(4)}
    for i, (c, g) in enumerate(grids.items()):
        add_grid(db, c, g)
        add_building(db, f"B{i + 1}", 100 * i + 50, 50, (300, 300, 150, 450)[i])
    return {COMMUNITY: shape, **grids}


def snake(length: float = 400, width: float = 5) -> Polygon:
    return LineString([(0, 0), (length, 0)]).buffer(width / 2, cap_style="flat")


def straight_edge_split_by_grids(db: Session, notch: bool = False) -> dict[str, Any]:
    """Community 0..2000 x 0..500 m stored with one lon/lat segment per side (its 2 km south
    edge is one segment); four 500 m grids drawn in metres split that edge at x = 500, 1000,
    1500, so their vertices lie up to ~7 cm off the lon/lat segment (no real gap).

    With ``notch``, grid 003 leaves a true gap of 1 m x 0.5 m (0.5 m²) at its south edge.
    """
    shape = community(db, width=2000, height=500)
    grids: dict[str, Any] = {code(i + 1): box(500 * i, 0, 500 * (i + 1), 500) for i in range(4)}
    if notch:
        grids[code(3)] = Polygon([(1000, 0), (1200, 0), (1200, 0.5), (1201, 0.5), (1201, 0),
                                  (1500, 0), (1500, 500), (1000, 500)])
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


def hairline_gap(db: Session) -> dict[str, Any]:
    """West 0..100, east 100.005..200: a 5 mm x 100 m gap (0.5 m²), thinner than 1 cm."""
    shape = community(db)
    grids = {code(1): box(0, 0, 100, 100), code(2): box(100.005, 0, 200, 100)}
    for c, g in grids.items():
        add_grid(db, c, g)
    return {COMMUNITY: shape, **grids}


SPLIT_EVENTS = (  # client id, reported (UTC), x, status, stored grid: see split_grid_history
    ("west-june", "2026-06-01T02:00:00Z", 50, "closed", 1),
    ("east-june", "2026-06-01T03:00:00Z", 130, "closed", 2),
    ("far-east-june", "2026-06-01T04:00:00Z", 180, "closed", 2),
    ("far-east-open", "2026-06-02T04:00:00Z", 180, "reported", 2),
)


def add_event(db: Session, client_id: str, reported_at: Any, x: float, status: str,
              grid: str) -> None:
    """An event at (x, 50) m reported at ``reported_at``, stored as assigned to ``grid``."""
    event_id = db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, handling_level,"
        " postponements, reworks, valid, geom) VALUES (:c, 'garbage', :at, :s, 'normal',"
        " 'grid', 0, 0, true, ST_GeomFromText(:w, 4326)) RETURNING id"),
        {"c": client_id, "at": reported_at, "s": status,
         "w": lonlat(Point(x, 50)).wkt}).scalar_one()
    db.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                    " VALUES (:e, :g, 'covered')"), {"e": event_id, "g": grid})


def split_grid_history(db: Session) -> Any:
    """A split grid's history; returns the split's publication time.

    West 0..100 and east 100..200 exist since 2026-01-01; in June four events are reported
    (x = 50 west; 130, 180 and 180 east; the last one still open). East is then split at
    x = 160 into east (100..160) and 003 "East 2" (160..200), published now, which
    re-assigns the open event to 003; an hour after the split one more event is reported
    at x = 180 (003).
    """
    two_grids_sharing_an_edge(db)
    db.execute(text("UPDATE grids SET valid_from = '2026-01-01T00:00:00Z'"))
    for client_id, at, x, status, grid in SPLIT_EVENTS:
        add_event(db, client_id, at, x, status, code(grid))
    cs = open_changeset(db, COMMUNITY, "split the east grid", "planner-li").id
    split_by_line(db, cs, "planner-li", code(2), geojson(LineString([(160, -10), (160, 110)])),
                  code(3), "East 2")
    at = publish(db, cs, "planner-li").published_at
    add_event(db, "far-east-after", at + timedelta(hours=1), 180, "reported", code(3))
    return at
