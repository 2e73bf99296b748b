"""A small named city for the map tests, near Datong (lon 113.30-113.32, lat 40.08-40.09).

``small_city``: district 140213 平城区 = street 140213001 = two communities side by side.
West community 140213001001 has four grids in a 2×2 block, the south-east one cut short so a
**gap** of 0.005° × 0.0015° (~425 m × 167 m) stays uncovered; east community 140213001002 has
two grids. Grid 001 has two micro-grids and a dedicated school grid inside it.

Cameras: ``cam_facing_incident`` (south of the incident spot, azimuth 0°, 60°, 100 m) sees it;
``cam_facing_away`` (north of the spot, azimuth 0°) does not; ``cam_offline`` is offline; the
east community has no camera at all (0 % coverage). Six events over three days, one alarm.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

INCIDENT = (113.3025, 40.0868)
"""The incident spot (lon, lat): inside grid 140213001001001, 89 m north of a camera."""

GAP_CENTRE = (113.3075, 40.08425)
GRID_CENTRES = {"140213001001001": (113.3025, 40.0875), "140213001001002": (113.3075, 40.0875),
                "140213001001003": (113.3025, 40.0825), "140213001001004": (113.3075, 40.0818),
                "140213001002001": (113.3125, 40.085), "140213001002002": (113.3175, 40.085)}

CAM_FACING_INCIDENT = "14021300081310000001"
CAM_FACING_AWAY = "14021300081310000002"
CAM_OFFLINE = "14021300081310000003"

EVENT_DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


XS = (113.300, 113.3005, 113.3015, 113.3025, 113.305, 113.3075, 113.310, 113.3125, 113.315,
      113.3175, 113.320)
YS = (40.080, 40.0825, 40.0835, 40.085, 40.0875, 40.0885, 40.0895, 40.090)
"""Every x/y where some polygon has a corner: each edge gets a vertex at each of them, so
neighbours share vertices exactly (also after projecting to EPSG:4547, where a straight
lon/lat edge would bow away from a subdivided neighbour)."""


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    south = [(x, y0) for x in XS if x0 <= x < x1]
    east = [(x1, y) for y in YS if y0 <= y < y1]
    north = [(x, y1) for x in reversed(XS) if x0 < x <= x1]
    west = [(x0, y) for y in reversed(YS) if y0 < y <= y1]
    ring = [*south, *east, *north, *west, south[0]]
    return "MULTIPOLYGON(((" + ",".join(f"{x} {y}" for x, y in ring) + ")))"


AREAS = [
    ("140213", "平城区", "district", None, _box(113.300, 40.080, 113.320, 40.090)),
    ("140213001", "新建南路街道", "street", "140213", _box(113.300, 40.080, 113.320, 40.090)),
    ("140213001001", "向阳社区", "community", "140213001", _box(113.300, 40.080, 113.310, 40.090)),
    ("140213001002", "东风社区", "community", "140213001", _box(113.310, 40.080, 113.320, 40.090)),
]

GRIDS = [  # code, name, kind, level, parent, community, households, geometry
    ("140213001001001", "向阳一网格", "urban", "grid", "140213001001", "140213001001", 150,
     _box(113.300, 40.085, 113.305, 40.090)),
    ("140213001001002", "向阳二网格", "urban", "grid", "140213001001", "140213001001", 250,
     _box(113.305, 40.085, 113.310, 40.090)),
    ("140213001001003", "向阳三网格", "urban", "grid", "140213001001", "140213001001", 350,
     _box(113.300, 40.080, 113.305, 40.085)),
    ("140213001001004", "向阳四网格", "urban", "grid", "140213001001", "140213001001", 450,
     _box(113.305, 40.080, 113.310, 40.0835)),
    ("140213001002001", "东风一网格", "urban", "grid", "140213001002", "140213001002", 300,
     _box(113.310, 40.080, 113.315, 40.090)),
    ("140213001002002", "东风二网格", "urban", "grid", "140213001002", "140213001002", 120,
     _box(113.315, 40.080, 113.320, 40.090)),
    ("140213001001901", "第一小学专属网格", "dedicated", "grid", "140213001001", "140213001001",
     0, _box(113.3005, 40.0885, 113.3015, 40.0895)),
    ("14021300100100101", "向阳一网格一微网格", "urban", "micro", "140213001001001",
     "140213001001", 70, _box(113.300, 40.085, 113.3025, 40.090)),
    ("14021300100100102", "向阳一网格二微网格", "urban", "micro", "140213001001001",
     "140213001001", 80, _box(113.3025, 40.085, 113.305, 40.090)),
]

CAMERAS = [  # code, name, type, azimuth, fov, range, status, lon, lat, grid
    (CAM_FACING_INCIDENT, "向阳路北口", "fixed", 0.0, 60.0, 100.0, "online", 113.3025, 40.0860,
     "140213001001001"),
    (CAM_FACING_AWAY, "向阳路中段", "fixed", 0.0, 60.0, 100.0, "online", 113.3025, 40.0876,
     "140213001001001"),
    (CAM_OFFLINE, "小学东门", "dome", 270.0, 90.0, 80.0, "offline", 113.3035, 40.0868,
     "140213001001001"),
]

EVENTS = [  # client_id, category, day, hour, lon, lat, grid, source
    ("e1", "占道经营", 0, 9, 113.3022, 40.0872, "140213001001001", "patrol"),
    ("e2", "占道经营", 0, 10, 113.3028, 40.0865, "140213001001001", "patrol"),
    ("e3", "垃圾暴露", 1, 11, 113.3070, 40.0870, "140213001001002", "patrol"),
    ("e4", "垃圾暴露", 1, 15, 113.3120, 40.0850, "140213001002001", "hotline"),
    ("e5", "占道经营", 2, 8, 113.3024, 40.0878, "140213001001001", "patrol"),
    ("a1", "alarm", 2, 9, 113.3030, 40.0830, "140213001001003", "alarm"),
]


def seed_small_city(conn: Connection) -> None:
    """Insert :mod:`small_city` (the caller commits or rolls back)."""
    for code, name, level, parent, geom in AREAS:
        conn.execute(text(
            "INSERT INTO admin_areas (code, name, level, parent_code, households, population,"
            " geom) VALUES (:c, :n, :l, :p, 0, 0, ST_GeomFromText(:g, 4326))"),
            {"c": code, "n": name, "l": level, "p": parent, "g": geom})
    for code, name, kind, level, parent, community, hh, geom in GRIDS:
        conn.execute(text(
            "INSERT INTO grids (code, name, kind, level, parent_code, community_code,"
            " households, population, version, geom) VALUES (:c, :n, :k, :l, :p, :cc, :h,"
            " 3 * :h, 1, ST_GeomFromText(:g, 4326))"),
            {"c": code, "n": name, "k": kind, "l": level, "p": parent, "cc": community, "h": hh,
             "g": geom})
    for code, name, ctype, az, fov, rng, status, lon, lat, grid in CAMERAS:
        conn.execute(text(
            "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
            " status, stream_url, grid_code, geom) VALUES (:c, :n, :t, :az, :fov, :r, :s, :url,"
            " :g, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
            {"c": code, "n": name, "t": ctype, "az": az, "fov": fov, "r": rng, "s": status,
             "url": f"rtsp://10.0.0.1/{code}", "g": grid, "lon": lon, "lat": lat})
    _seed_people_and_events(conn)


def _seed_people_and_events(conn: Connection) -> None:
    conn.execute(text(
        "INSERT INTO buildings (code, name, households, population, grid_code, geom) VALUES"
        " ('B001', '向阳小区1号楼', 30, 90, '140213001001002',"
        "  ST_SetSRID(ST_MakePoint(113.3055, 40.0870), 4326)),"
        " ('B002', '向阳小区2号楼', 40, 120, '140213001001002',"
        "  ST_SetSRID(ST_MakePoint(113.3080, 40.0870), 4326)),"
        " ('B003', '向阳三区塔楼', 350, 1050, '140213001001003',"  # the map counts households
        "  ST_SetSRID(ST_MakePoint(113.3040, 40.0812), 4326)),"  # from buildings
        " ('B004', '东风小区1号楼', 300, 900, '140213001002001',"
        "  ST_SetSRID(ST_MakePoint(113.3140, 40.0815), 4326))"))
    conn.execute(text(
        "INSERT INTO sites (code, name, category, grid_code, geom) VALUES ('S001', '第一小学',"
        " 'school', '140213001001001', ST_SetSRID(ST_MakePoint(113.3020, 40.0870), 4326))"))
    conn.execute(text(
        "INSERT INTO workers (code, name, role, phone, grid_code) VALUES"
        " ('W001', '张网格长', 'grid_leader', '13800000001', '140213001001001'),"
        " ('W002', '李网格员', 'grid_worker', '13800000002', '140213001001001')"))
    for cid, category, day, hour, lon, lat, grid, source in EVENTS:
        event_id = conn.execute(text(
            "INSERT INTO events (client_id, category, reported_at, source, status, priority,"
            " handling_level, postponements, reworks, valid, reporter, geom)"
            " VALUES (:cid, :cat, CAST(:at AS timestamptz), :src, 'reported', 'normal', 'grid',"
            " 0, 0, true, 'W001', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"),
            {"cid": cid, "cat": category, "at": f"{EVENT_DAYS[day]}T{hour:02d}:00:00+08:00",
             "src": source, "lon": lon, "lat": lat}).scalar_one()
        _assign(conn, event_id, grid)


def _assign(conn: Connection, event_id: int, grid: str) -> None:
    """Store event ``event_id`` as covered by ``grid`` (its event_assignments row)."""
    conn.execute(text("INSERT INTO event_assignments (event_id, grid_code, assignment)"
                      " VALUES (:e, :g, 'covered')"), {"e": event_id, "g": grid})


def clear_small_city(conn: Connection) -> None:
    """Delete every row :func:`seed_small_city` inserted (and alarms added by tests)."""
    conn.execute(text("DELETE FROM plan_changesets WHERE area_code LIKE '140213%'"))
    conn.execute(text("DELETE FROM patrol_tasks WHERE grid_code LIKE '140213%'"))
    conn.execute(text("DELETE FROM buildings WHERE code IN ('B001', 'B002', 'B003', 'B004')"))
    conn.execute(text("DELETE FROM events WHERE reporter IN ('W001', 'W002')"))
    conn.execute(text("DELETE FROM workers WHERE code IN ('W001', 'W002')"))
    conn.execute(text("DELETE FROM sites WHERE code = 'S001'"))
    conn.execute(text("DELETE FROM cameras WHERE code LIKE '1402130008131%'"))
    conn.execute(text("DELETE FROM grids WHERE code LIKE '140213001%'"))
    conn.execute(text("DELETE FROM admin_areas WHERE code LIKE '140213%'"))


def new_alarm(conn: Connection, client_id: str, lon: float, lat: float) -> Any:
    """Insert a one-click alarm event now and return its id."""
    event_id = conn.execute(text(
        "INSERT INTO events (client_id, category, reported_at, source, status, priority,"
        " handling_level, postponements, reworks, valid, reporter, geom)"
        " VALUES (:cid, 'alarm', now(), 'alarm', 'reported', 'urgent', 'grid', 0, 0, true,"
        " 'W002', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        " RETURNING id"), {"cid": client_id, "lon": lon, "lat": lat}).scalar_one()
    _assign(conn, event_id, "140213001001001")
    return event_id


MOVED_STRIP = (113.3055, 40.0870)
"""Building B001 (30 households): in grid 002 now, in grid 001 after :func:`draft_moving_edge`."""


def draft_moving_edge(session: Session, author: str = "e2e planner") -> int:
    """A draft changeset on community 140213001001 moving the edge between grids 001 and 002
    from 113.305 to 113.306 east (grid 001 grows, 002 shrinks); returns its id."""
    from geo.planning.changesets import open_changeset
    from geo.planning.operations import reshape

    changeset = open_changeset(session, "140213001001", "东扩一网格", author)
    grown = {"type": "Polygon", "coordinates": [[[113.300, 40.085], [113.306, 40.085],
                                                 [113.306, 40.090], [113.300, 40.090],
                                                 [113.300, 40.085]]]}
    reshape(session, changeset.id, author, "140213001001001", grown)
    return int(changeset.id)
