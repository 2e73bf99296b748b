"""Reassigning a case to another grid (改派): the dispatcher's answer to boundary doubt.

A point a few metres from a boundary, with phone GPS good to ±15 m, may land in the wrong
grid (:class:`geo.locate.BoundaryDoubt`). A dispatcher moves the case to the right grid with
a reason; the move is

* stored as the case's grid in ``event_assignments`` (grid chain of the new grid, its
  micro-grid nearest the spot), so statistics and the daily rollups (triggers of migration
  0007) count the case to the final grid;
* recorded in ``event_reassignments`` (from, to, reason, who, when) and the case history
  (``event_transitions``), and audited like every write (the route's request row, the
  ``audit_log`` triggers);
* announced to the new grid's workers over the alarm stream (``NOTIFY`` on
  :data:`geo.events.ALARM_CHANNEL`, ``kind: "reassignment"``, sent at commit);
* kept: later set-based re-assignments (:func:`geo.assign.assign_events`, planning publishes)
  leave a reassigned case where the dispatcher put it.

Finished cases (closed, rejected, duplicate) are not reassigned. Never commits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import Conflict, NotFound, ValidationFailed
from geo.event_assignments import write_reassigned
from geo.events import ALARM_CHANNEL, FINISHED_STATUSES, get_event, log_transition
from geo.fields import Text
from geo.locate import nearest_micro_grid, workers_of

REASSIGNMENT_KIND = "reassignment"
"""``kind`` of the alarm-stream message (SSE ``event: reassignment``)."""


class ReassignIn(BaseModel):
    """``POST /events/{id}/reassign``: the grid the case belongs to, and why."""

    grid_code: Text = Field(min_length=1, max_length=40)
    reason: Text = Field(min_length=1, max_length=2000)


def reassign_event(session: Session, event_id: int, move: ReassignIn, *,
                   actor: str | None) -> dict[str, Any]:
    """Move case ``event_id`` to the current ordinary grid ``move.grid_code``; returns the
    case (:func:`geo.events.get_event`).

    Raises :class:`NotFound` (no such case), :class:`ValidationFailed` (blank reason, or
    ``grid_code`` not a current ordinary grid: field named), :class:`Conflict` (finished
    case, or the case is already in that grid). Never commits.
    """
    reason = move.reason.strip()
    if not reason:
        raise ValidationFailed("a reassignment needs a reason",
                               [{"id": event_id, "field": "reason"}])
    status = session.execute(text("SELECT status FROM events WHERE id = :id FOR UPDATE"),
                             {"id": event_id}).scalar()
    if status is None:
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])
    if status in FINISHED_STATUSES:
        raise Conflict(f"cannot reassign an event that is {status}",
                       [{"id": event_id, "status": status, "action": "reassign"}])
    grid = _current_grid(session, move.grid_code)
    event = get_event(session, event_id)
    if event["grid_code"] == grid["code"]:
        raise Conflict(f"event {event_id} is already in grid {grid['code']}",
                       [{"id": event_id, "field": "grid_code", "value": grid["code"]}])
    micro = nearest_micro_grid(session, event["lon"], event["lat"], grid["code"])
    write_reassigned(session, event_id, grid["code"], micro.code if micro else None)
    session.execute(text(
        "INSERT INTO event_reassignments (event_id, from_grid_code, to_grid_code, reason,"
        " actor) VALUES (:e, :f, :t, :r, :a)"),
        {"e": event_id, "f": event["grid_code"], "t": grid["code"], "r": reason, "a": actor})
    log_transition(session, event_id, status, status, actor,
                   f"reassigned from {event['grid_code'] or 'no grid'} to {grid['code']}: "
                   f"{reason}")
    moved = get_event(session, event_id)
    _announce(session, moved, event["grid_code"], grid, reason, actor)
    return moved


def _current_grid(session: Session, code: str) -> dict[str, Any]:
    row = session.execute(text(
        "SELECT code, name FROM grids WHERE code = :c AND valid_to IS NULL AND level = 'grid'"
        " AND kind <> 'dedicated'"), {"c": code}).mappings().first()
    if row is None:
        raise ValidationFailed(f"{code!r} is not a current ordinary grid",
                               [{"field": "grid_code", "value": code}])
    return dict(row)


def _announce(session: Session, event: dict[str, Any], from_grid: str | None,
              grid: dict[str, Any], reason: str, actor: str | None) -> None:
    """NOTIFY the new grid's workers (sent when the caller commits)."""
    workers = workers_of(session, grid["code"], event["micro_grid_code"])
    body = {"kind": REASSIGNMENT_KIND, "event_id": event["id"],
            "category": event["category"], "lon": event["lon"], "lat": event["lat"],
            "from_grid": from_grid, "grid": grid, "reason": reason[:300], "actor": actor,
            "workers": [{"code": w.code, "name": w.name, "role": w.role, "phone": w.phone}
                        for w in workers[:6]]}
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": ALARM_CHANNEL,
                     "payload": json.dumps(body, ensure_ascii=False)[:7900]})


def reassignments_of(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The case's reassignments, oldest first (from, to, reason, actor, at)."""
    rows = session.execute(text(
        "SELECT from_grid_code, to_grid_code, reason, actor, at FROM event_reassignments"
        " WHERE event_id = :id ORDER BY at, id"), {"id": event_id}).mappings().all()
    return [dict(r) for r in rows]


def grids_by_reassignments(session: Session, since: datetime, until: datetime,
                           area: str | None = None) -> list[dict[str, Any]]:
    """Grids by reassignments made in ``[since, until)``: ``moved_out`` (cases first placed
    in the grid and moved away: a boundary that misleads), ``moved_in`` and their sum
    ``reassignments``; most first, then by code. ``area``: only grids whose code starts
    with this code (codes nest). The planner's signal. Never writes."""
    rows = session.execute(text(
        "SELECT x.code, coalesce(g.name, '') AS name, sum(x.o)::int AS moved_out,"
        " sum(x.i)::int AS moved_in, sum(x.o + x.i)::int AS reassignments FROM ("
        "  SELECT from_grid_code AS code, 1 AS o, 0 AS i FROM event_reassignments"
        "   WHERE at >= :since AND at < :until AND from_grid_code IS NOT NULL"
        "  UNION ALL SELECT to_grid_code, 0, 1 FROM event_reassignments"
        "   WHERE at >= :since AND at < :until) x"
        " LEFT JOIN grids g ON g.code = x.code AND g.valid_to IS NULL"
        " WHERE x.code LIKE :prefix"
        " GROUP BY x.code, g.name ORDER BY reassignments DESC, moved_out DESC, x.code"),
        {"since": since, "until": until,
         "prefix": prefix_pattern(area) if area else "%"}).mappings().all()
    return [dict(r) for r in rows]
