"""Check-in: a worker on patrol sends its position from the phone.

The position (``crs``: 4326 by default, 4490, gcj02 or bd09, converted to WGS 84 like every
input) is accepted when its geodesic distance to the task's unit - 0 inside a polygon - is
at most ``settings.patrol_checkin_radius_m`` metres (default 50 m). Otherwise the check-in is
refused with :class:`~geo.errors.ValidationFailed` (HTTP 422) giving the distance in metres,
and nothing is stored. A task has at most one check-in: a second one is a Conflict (409).
Who may check in is :func:`geo.roles.check_patrol_checkin`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, ValidationFailed
from geo.fields import Coordinate, Text
from geo.locate import check_point, to_wgs84_point
from geo.patrols.tasks import get_task
from geo.settings import Settings, get_settings


class CheckinIn(BaseModel):
    """A check-in from the phone: lon/lat in ``crs`` (4326 default, 4490, gcj02, bd09)."""

    lon: Coordinate
    lat: Coordinate
    crs: Text | None = Field(default=None, max_length=100)


_DISTANCE = """
SELECT ST_Distance(u.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
FROM (SELECT geom FROM sites WHERE :layer = 'sites' AND code = :code
      UNION ALL SELECT geom FROM buildings WHERE :layer = 'buildings' AND code = :code) u
"""


def check_in(session: Session, task_id: int, position: CheckinIn, worker_code: str | None,
             settings: Settings | None = None) -> dict[str, Any]:
    """Store the check-in of ``worker_code`` on task ``task_id`` at ``position``; returns the
    task with ``checked_in_at`` and ``distance_m`` (metres, geodesic).

    Raises NotFound (unknown task), OutOfArea/UnknownCRS (bad position), ValidationFailed
    (too far: details give ``distance_m`` and ``radius_m``; also when the unit is gone),
    Conflict (already checked in). Never commits.
    """
    settings = settings or get_settings()
    task = get_task(session, task_id)
    lon, lat = to_wgs84_point(position.lon, position.lat, position.crs)
    check_point(lon, lat, settings, session=session)
    where = {"task": task_id, "layer": task["layer"], "unit": task["unit_code"]}
    if task["checked_in_at"] is not None:
        raise _already(task_id, task["checked_in_at"], where)
    distance = session.scalar(text(_DISTANCE), {"lon": lon, "lat": lat,
                                                "layer": task["layer"],
                                                "code": task["unit_code"]})
    if distance is None:
        raise ValidationFailed(f"{task['layer']} {task['unit_code']} of task {task_id} "
                               "no longer exists", [{**where, "field": "task_id"}])
    radius = settings.patrol_checkin_radius_m
    if distance > radius:
        raise ValidationFailed(
            f"the position is {distance:.1f} m from {task['unit_name']} ({task['unit_code']});"
            f" a check-in must be within {radius:g} m",
            [{**where, "field": "lon/lat", "distance_m": round(float(distance), 1),
              "radius_m": radius}])
    stored = session.execute(text(
        "INSERT INTO patrol_checkins (task_id, worker_code, distance_m, geom) VALUES "
        "(:t, :w, :d, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
        "ON CONFLICT (task_id) DO NOTHING RETURNING id"),
        {"t": task_id, "w": worker_code, "d": float(distance), "lon": lon, "lat": lat}).first()
    if stored is None:  # a concurrent check-in committed first
        raise _already(task_id, get_task(session, task_id)["checked_in_at"], where)
    return get_task(session, task_id)


def _already(task_id: int, at: Any, where: dict[str, Any]) -> Conflict:
    return Conflict(f"patrol task {task_id} was checked in already at {at}",
                    [{**where, "checked_in_at": str(at)}])
