"""Role rules that depend on the data: case actions by grid, and imports by layer.

Route-level rules (which roles may call a route at all) live in api/auth.py; the rules here
need to know the case or the layer. Both raise :class:`~geo.errors.Forbidden` (HTTP 403).

Imports (``POST /import/{layer}``): grid geometry changes only through changesets or a
planner's import - ``areas``, ``grids`` (incl. dedicated grids), ``micro_grids`` and the
``buildings`` whose households balance them are planner layers; ``events`` is the
dispatcher's; ``sites``, ``cameras`` and ``workers`` may come from either. Admin may import
everything.

Case actions (``POST /events/{id}/actions``):

==========  =================================================================================
role        may
==========  =================================================================================
admin       every action on every case
dispatcher  every action on every case (the command centre manages cases)
worker      ``start``, ``resolve``, ``postpone`` (ask for more time) and ``escalate`` (hand a
            case it cannot handle up to the community) - only on cases assigned to its own
            grid (the grid or micro-grid of the worker bound to its key) and still handled at
            grid level; never ``dispatch``, ``close`` (verification), ``rework`` or ``reject``.
            A worker key bound to no worker may not act on cases at all.
others      nothing (planners and viewers are refused by the route's rule)
==========  =================================================================================

Patrol check-ins (``POST /patrols/tasks/{id}/checkins``): a worker checks in only on tasks
of its own grid or micro-grid (:func:`check_patrol_checkin`); admin on any.

Refusals are :class:`~geo.errors.Forbidden` (HTTP 403) naming the action, the case's grid
and the worker's grid; an unknown case is :class:`~geo.errors.NotFound` (404).

Read areas (``/dashboard``, ``/stats``, ``/events``, map pages, exports, OGC items, vector
tiles): a key with an ``area_code`` (district, street or community) reads that area and the
areas, grids, units and events inside it - the codes that start with its code, since codes
nest by prefix; an event by its assignment - and no other, nor department figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import Forbidden, NotFound

IMPORT_ROLES: dict[str, frozenset[str]] = {
    "areas": frozenset({"admin", "planner"}),
    "grids": frozenset({"admin", "planner"}),
    "micro_grids": frozenset({"admin", "planner"}),
    "buildings": frozenset({"admin", "planner"}),
    "sites": frozenset({"admin", "planner", "dispatcher"}),
    "cameras": frozenset({"admin", "planner", "dispatcher"}),
    "workers": frozenset({"admin", "planner", "dispatcher"}),
    "roads": frozenset({"admin", "planner", "dispatcher"}),
    "entrances": frozenset({"admin", "planner", "dispatcher"}),
    "events": frozenset({"admin", "dispatcher"}),
}
WORKER_ACTIONS = ("start", "resolve", "postpone", "escalate")
CASE_MANAGERS = frozenset({"admin", "dispatcher"})

_CASE = """
SELECT e.handling_level, a.grid_code, a.micro_grid_code
FROM events e LEFT JOIN event_assignments a
  ON a.event_id = e.id AND a.reported_at = e.reported_at
WHERE e.id = :id
"""


def check_case_action(session: Session, event_id: int, action: str, role: str | None,
                      worker_code: str | None) -> None:
    """Raise unless ``role`` (with its key's ``worker_code``) may ``action`` case ``event_id``."""
    if role in CASE_MANAGERS:
        return
    if role != "worker":
        raise Forbidden(f"role {role!r} may not act on cases", [{"role": role}])
    if action not in WORKER_ACTIONS:
        raise Forbidden(f"a grid worker may not {action} a case (a dispatcher does)",
                        [{"field": "action", "value": action, "allowed": list(WORKER_ACTIONS)}])
    if worker_code is None:
        raise Forbidden("this worker key is bound to no worker, so it may not act on cases",
                        [{"field": "worker_code", "value": None}])
    case = session.execute(text(_CASE), {"id": event_id}).first()
    if case is None:
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])
    own = session.scalar(text("SELECT grid_code FROM workers WHERE code = :c"),
                         {"c": worker_code})
    where = {"event": event_id, "event_grid": case.grid_code,
             "event_micro_grid": case.micro_grid_code, "worker": worker_code,
             "worker_grid": own}
    if own is None or own not in (case.grid_code, case.micro_grid_code):
        raise Forbidden(f"event {event_id} is not in the grid of worker {worker_code}",
                        [where])
    if case.handling_level != "grid":
        raise Forbidden(f"event {event_id} is handled at {case.handling_level} level now, "
                        "not by its grid", [{**where, "handling_level": case.handling_level}])


def check_import(layer: str, role: str | None) -> None:
    """Raise Forbidden unless ``role`` may import ``layer`` (an unknown layer passes: the
    importer names it)."""
    allowed = IMPORT_ROLES.get(layer)
    if allowed is not None and role not in allowed:
        raise Forbidden(f"role {role!r} may not import {layer}",
                        [{"layer": layer, "role": role, "required_roles": sorted(allowed)}])


PATROL_CHECKERS = frozenset({"admin", "worker"})


def check_patrol_checkin(session: Session, task_id: int, role: str | None,
                         worker_code: str | None) -> None:
    """Raise unless ``role`` may check in on patrol task ``task_id`` (docs/patrols.md).

    Admin: any task. Worker: only tasks of its own grid - the worker bound to the key has
    the task's grid or micro-grid as its ``grid_code`` - and never with a key bound to no
    worker. Others: Forbidden. An unknown task is NotFound (404).
    """
    if role == "admin":
        return
    if role not in PATROL_CHECKERS:
        raise Forbidden(f"role {role!r} may not check in on patrols", [{"role": role}])
    if worker_code is None:
        raise Forbidden("this worker key is bound to no worker, so it may not check in",
                        [{"field": "worker_code", "value": None}])
    task = session.execute(text(
        "SELECT grid_code, micro_grid_code FROM patrol_tasks WHERE id = :id"),
        {"id": task_id}).first()
    if task is None:
        raise NotFound(f"no patrol task {task_id}", [{"field": "task_id", "value": task_id}])
    own = session.scalar(text("SELECT grid_code FROM workers WHERE code = :c"),
                         {"c": worker_code})
    if own is None or own not in (task.grid_code, task.micro_grid_code):
        raise Forbidden(f"patrol task {task_id} is not in the grid of worker {worker_code}",
                        [{"task": task_id, "task_grid": task.grid_code,
                          "task_micro_grid": task.micro_grid_code, "worker": worker_code,
                          "worker_grid": own}])


def readable_area(key_area: str | None, area: str | None) -> str | None:
    """The area a read covers: ``area``, or the key's own area when none is asked.

    Raises Forbidden (naming both codes) for an ``area`` outside ``key_area``.
    """
    if key_area is None:
        return area
    if area is None:
        return key_area
    if not area.startswith(key_area):
        raise Forbidden(f"this key may read area {key_area} and what lies inside it, "
                        f"not {area}", [{"field": "area", "value": area, "key_area": key_area}])
    return area


def readable_units(key_area: str | None, level: str,
                   rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (with a ``unit`` code) of ``level`` a key of ``key_area`` may read: all for a
    key without area, else the units inside its area. Forbidden: department figures."""
    if key_area is None:
        return list(rows)
    if level == "department":
        raise Forbidden(f"this key may read area {key_area} only, not department figures",
                        [{"field": "level", "value": level, "key_area": key_area}])
    return [r for r in rows if str(r["unit"]).startswith(key_area)]


EVENT_IN_AREA = ("EXISTS (SELECT 1 FROM event_assignments a WHERE a.event_id = {event}.id"
                 " AND a.reported_at = {event}.reported_at"
                 " AND a.grid_code LIKE :key_area_prefix)")
"""SQL condition: the event row ``{event}`` (an alias of ``events``, a constant of code) lies
in the key's area (``LIKE`` pattern ``:key_area_prefix``): the code of its assigned grid
starts with the area's code (codes nest by prefix). A never-assigned event lies in no area."""


def key_area_params(key_area: str) -> dict[str, str]:
    """The bound parameters of :data:`EVENT_IN_AREA` for ``key_area``."""
    return {"key_area_prefix": prefix_pattern(key_area)}


def check_event_readable(session: Session, key_area: str | None, event_id: int) -> None:
    """Raise Forbidden (naming the key's area and the event's grid) unless a key of
    ``key_area`` may read event ``event_id``: every key without area may; a key with one,
    only events assigned inside it. An unknown event passes (its route answers 404)."""
    if key_area is None:
        return
    sql = ("SELECT e.id, a.grid_code, " + EVENT_IN_AREA.format(event="e")  # noqa: S608
           + " AS inside FROM events e LEFT JOIN event_assignments a"
           " ON a.event_id = e.id AND a.reported_at = e.reported_at"
           " WHERE e.id = :id")
    found = session.execute(text(sql),
        {"id": event_id, **key_area_params(key_area)}).first()
    if found is not None and not found.inside:
        raise Forbidden(f"this key may read area {key_area} and what lies inside it, not "
                        f"event {event_id} (grid {found.grid_code or 'none'})",
                        [{"event": event_id, "grid_code": found.grid_code,
                          "key_area": key_area}])
