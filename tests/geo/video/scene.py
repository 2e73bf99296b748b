"""A small scene near Datong for the stored-visibility tests: cameras and buildings placed
in metres (EPSG:4547) around an origin and written in lon/lat."""

from __future__ import annotations

from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat, to_metric

ORIGIN = to_metric(Point(113.30, 40.08), 4547)
"""The scene's origin in EPSG:4547 (m)."""


def at(dx: float, dy: float) -> Point:
    """The lon/lat point ``dx`` m east and ``dy`` m north (grid) of the origin."""
    return to_lonlat(Point(ORIGIN.x + dx, ORIGIN.y + dy), 4547)


def footprint(x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
    """A lon/lat rectangle given in metres around the origin."""
    return to_lonlat(box(ORIGIN.x + x0, ORIGIN.y + y0, ORIGIN.x + x1, ORIGIN.y + y1), 4547)


def add_building(db: Session, code: str, geom: BaseGeometry, *, floors: int | None = None,
                 height_m: float | None = None) -> None:
    db.execute(text("INSERT INTO buildings (code, households, population, floors, height_m,"
                    " geom) VALUES (:c, 0, 0, :f, :h, ST_GeomFromText(:g, 4326))"),
               {"c": code, "f": floors, "h": height_m, "g": geom.wkt})


def add_camera(db: Session, code: str, where: Point, *, kind: str = "fixed",
               azimuth: float = 0.0, fov: float = 90.0, range_m: float = 100.0,
               height_m: float | None = 6.0, status: str = "online") -> None:
    db.execute(text(
        "INSERT INTO cameras (code, name, camera_type, height_m, azimuth_deg, fov_deg, range_m,"
        " status, stream_url, geom) VALUES (:c, :c, :k, :h, :a, :f, :r, :s, 'rtsp://x/' || :c,"
        " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"c": code, "k": kind, "h": height_m, "a": azimuth, "f": fov, "r": range_m,
         "s": status, "x": where.x, "y": where.y})
