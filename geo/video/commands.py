""""Point all cameras here": the command for every camera in reach of a spot, best first.

A camera is in reach when the spot is within its ``range_m`` (geodesic metres), whatever
its state. Each gets the fields of :class:`geo.locate.CameraHit` (pan/tilt/zoom for a PTZ
camera, the image offset for a fixed one, ``blocked_by`` when a building hides the spot).
Order: the cameras that see the spot, by scene width at the spot (smaller = more pixels on
it), then those that would see it but are blocked, then not facing, then not online; ties
by distance and code.
"""

from __future__ import annotations

from sqlalchemy import text

from geo.locate import CAMERA_SQL, CameraHit, Executor, check_point, hit_of
from geo.settings import Settings

COMMANDS_SQL = f"""
SELECT * FROM ({CAMERA_SQL}) x WHERE x.distance_m <= x.range_m
ORDER BY CASE WHEN x.reason IS NULL THEN 0 WHEN x.reason = 'blocked' THEN 1
              WHEN x.reason = 'not_facing' THEN 2 ELSE 3 END,
         CASE WHEN x.reason IS NULL THEN x.scene_width_m END, x.distance_m, x.code
"""  # noqa: S608 - constant fragments, values bound


def point_cameras_here(session: Executor, lon: float, lat: float,
                       settings: Settings | None = None) -> list[CameraHit]:
    """The commands for every camera in reach of the WGS 84 point (``lon``, ``lat``), best
    first (module docstring). Raises :class:`geo.errors.OutOfArea` for bad coordinates;
    read-only."""
    check_point(lon, lat, settings)
    rows = session.execute(text(COMMANDS_SQL), {"lon": lon, "lat": lat}).mappings().all()
    return [hit_of(row) for row in rows]
