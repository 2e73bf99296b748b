"""Camera views opened for an event: when a dispatcher first looked at an alarm through a
camera (the dashboard's alarm → first camera view, :func:`geo.dashboard.alarm_panel`).

A view is recorded by ``POST /events/{id}/camera-views`` (dispatchers) when the command
centre opens a camera's stream for the event; ``viewed_at`` is the writing transaction's
time. Any camera of the register may be opened, not only those /locate proposed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound, ValidationFailed

_INSERT = """
INSERT INTO event_camera_views (event_id, camera_code, actor, key_prefix)
VALUES (:event, :camera, :actor, :prefix)
RETURNING viewed_at
"""

_FIRST = """
SELECT min(v.viewed_at) AS first_at, count(*)::int AS views,
       extract(epoch FROM min(v.viewed_at) - e.reported_at)::float AS first_after_s
  FROM events e JOIN event_camera_views v ON v.event_id = e.id
 WHERE e.id = :event GROUP BY e.reported_at
"""


def record_camera_view(session: Session, event_id: int, camera_code: str, actor: str,
                       key_prefix: str | None = None) -> dict[str, Any]:
    """Store that ``actor`` opened camera ``camera_code`` for event ``event_id`` (now).

    Returns
    -------
    ``event_id``, ``camera_code``, ``viewed_at`` (this view), ``first_viewed_at`` and
    ``first_view_after_s`` (seconds from the event's report to its first view) and
    ``views`` (how many so far, this one included).

    Raises
    ------
    NotFound
        For an unknown event (field ``id``).
    ValidationFailed
        For a camera code that is not in the camera register (field ``camera_code``).
        Nothing is written then.
    """
    if session.scalar(text("SELECT 1 FROM events WHERE id = :e"), {"e": event_id}) is None:
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])
    if session.scalar(text("SELECT 1 FROM cameras WHERE code = :c"), {"c": camera_code}) is None:
        raise ValidationFailed(f"no camera {camera_code!r} in the camera register",
                               [{"field": "camera_code", "value": camera_code}])
    viewed_at = session.execute(text(_INSERT), {"event": event_id, "camera": camera_code,
                                                "actor": actor, "prefix": key_prefix}).scalar_one()
    first = session.execute(text(_FIRST), {"event": event_id}).mappings().one()
    return {"event_id": event_id, "camera_code": camera_code, "viewed_at": viewed_at,
            "first_viewed_at": first["first_at"],
            "first_view_after_s": round(first["first_after_s"], 1), "views": first["views"]}
