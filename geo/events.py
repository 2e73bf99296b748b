"""Events (cases): create one, list with filters, and move them through their lifecycle.

Lifecycle (``status``): ``reported → dispatched → in_progress → resolved → closed``
(closed = verified and closed), plus ``rejected`` (not a valid case). Actions:

=========  ======================================  =========================================
action     from                                    effect
=========  ======================================  =========================================
dispatch   reported                                → dispatched, ``dispatched_at``
start      dispatched                              → in_progress, ``started_at``
resolve    in_progress                             → resolved, ``resolved_at``
close      resolved                                → closed (verified), ``closed_at``
rework     resolved                                → in_progress, ``reworks + 1``
reject     reported                                → rejected, ``valid = false``
postpone   dispatched, in_progress                 ``due_at`` moved later, ``postponements + 1``
escalate   reported, dispatched, in_progress       ``handling_level`` grid → community →
                                                   department (needs ``department``)
=========  ======================================  =========================================

Any other action is a :class:`~geo.errors.Conflict` (HTTP 409) listing the allowed ones.
Every action writes an ``event_transitions`` row (who, when, from, to, note).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import Conflict, NotFound, ValidationFailed
from geo.event_assignments import COLUMNS as ASSIGNMENT_COLUMNS
from geo.event_assignments import write_one
from geo.fields import Coordinate, Text, Timestamp
from geo.locate import (
    Assignment,
    BoundaryDoubt,
    DoubtRule,
    LocateResult,
    boundary_doubt,
    camera_hits,
    check_point,
    locate,
    near_grids,
    refs_of,
    to_wgs84_point,
    workers_of,
)
from geo.settings import Settings, get_settings

STATUSES = ("reported", "dispatched", "in_progress", "resolved", "closed", "rejected",
            "duplicate")
FINISHED_STATUSES = ("closed", "rejected", "duplicate")
"""History: a redrawn grid does not move these events (they stay where they were handled)."""
PRIORITIES = ("low", "normal", "high", "urgent")
LEVELS = ("grid", "community", "department")
ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "dispatch": (("reported",), "dispatched"),
    "start": (("dispatched",), "in_progress"),
    "resolve": (("in_progress",), "resolved"),
    "close": (("resolved",), "closed"),
    "rework": (("resolved",), "in_progress"),
    "reject": (("reported",), "rejected"),
    "postpone": (("dispatched", "in_progress"), None),
    "escalate": (("reported", "dispatched", "in_progress"), None),
}
ALARM_CHANNEL = "gridlink_alarms"
STAMP = {"dispatched": "dispatched_at", "in_progress": "started_at",
         "resolved": "resolved_at", "closed": "closed_at", "rejected": "closed_at"}
EVENT_COLUMNS = (
    "id, client_id, category, description, reported_at, reporter, source, status, priority,"
    f" ST_X(geom) AS lon, ST_Y(geom) AS lat, {', '.join(ASSIGNMENT_COLUMNS)}, assigned_at,"
    " handling_level, department, due_at, dispatched_at, started_at, resolved_at, closed_at,"
    " postponements, reworks, valid, photo_url")
EVENT_SOURCE = "events_with_assignment"
"""The view (migration 0003) that joins each event to its ``event_assignments`` row; its
assignment columns are NULL for an event never assigned. Read events with these columns
from it; write lifecycle columns to ``events``, assignments with :mod:`geo.event_assignments`."""


class EventIn(BaseModel):
    """One reported event. ``lon``/``lat`` in ``crs`` (4326 default, 4490, gcj02, bd09)."""

    client_id: Text | None = Field(default=None, max_length=200)
    category: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(default=None, max_length=4000)
    reported_at: Timestamp | None = None
    reporter: Text | None = Field(default=None, max_length=200)
    source: Text | None = Field(default=None, max_length=100)
    priority: Text = "normal"
    lon: Coordinate
    lat: Coordinate
    crs: Text | None = Field(default=None, max_length=100)
    photo_url: Text | None = Field(default=None, max_length=2000)


def allowed_actions(status: str) -> list[str]:
    """Actions allowed from ``status``, in lifecycle order."""
    return [a for a, (sources, _) in ACTIONS.items() if status in sources]


def create_event(session: Session, data: EventIn, *, settings: Settings | None = None,
                 due_hours: float | None = None) -> tuple[dict[str, Any], bool]:
    """Insert and assign one event; returns (event row, created).

    Idempotent by ``client_id``: an id seen before returns the stored event and False.
    Raises :class:`~geo.errors.OutOfArea` / ``UnknownCRS`` / ``ValidationFailed`` for bad
    coordinates, CRS or priority. Never commits.
    """
    settings = settings or get_settings()
    if data.priority not in PRIORITIES:
        raise ValidationFailed(f"unknown priority {data.priority!r}",
                               [{"field": "priority", "allowed": list(PRIORITIES)}])
    new_id, where = _insert_event(session, data, settings, due_hours)
    event = get_event(session, new_id)
    boundary = where.boundary if where else stored_boundary(session, event, settings)
    return {**event, "boundary": boundary.model_dump()}, where is not None


def _insert_event(session: Session, data: EventIn, settings: Settings,
                  due_hours: float | None) -> tuple[int, LocateResult | None]:
    """Insert, log and assign one event: (its id, its locate answer); or, when an event
    with ``data.client_id`` is stored already, (that event's id, None).

    The one idempotency check, safe under concurrency: the client id is claimed in
    ``event_client_ids`` (``events`` is partitioned by month, so it cannot hold a unique
    index on ``client_id``; migration 0020) with ``ON CONFLICT DO NOTHING``, which waits
    for a concurrent claim of the same id to commit; then the lookup finds its event
    (READ COMMITTED: each statement sees what was committed before it).
    """
    lon, lat = to_wgs84_point(data.lon, data.lat, data.crs)
    check_point(lon, lat, settings, session=session)
    reported = data.reported_at or datetime.now(UTC)
    hours = due_hours if due_hours is not None else settings.event_due_hours
    claimed, fresh = _claim_client_id(session, data.client_id)
    if not fresh:
        assert claimed is not None
        return claimed, None
    new_id = session.execute(text(
        "INSERT INTO events (id, client_id, category, description, reported_at, reporter,"
        " source, status, priority, geom, handling_level, due_at, postponements, reworks,"
        " valid, photo_url) VALUES (COALESCE(CAST(:id AS bigint), nextval('events_id_seq')),"
        " :client_id, :category, :description, :reported_at, :reporter,"
        " :source, 'reported', :priority, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'grid',"
        " :due_at, 0, 0, true, :photo_url) RETURNING id"),
        {**data.model_dump(exclude={"lon", "lat", "crs"}), "reported_at": reported,
         "lon": lon, "lat": lat, "due_at": reported + timedelta(hours=hours),
         "id": claimed}).scalar_one()
    log_transition(session, new_id, None, "reported", data.reporter, "created")
    where = locate(session, lon, lat, k=settings.locate_k, settings=settings)
    write_one(session, new_id, where)
    return int(new_id), where


def _claim_client_id(session: Session, client_id: str | None) -> tuple[int | None, bool]:
    """(event id, fresh): the new event's id claimed for ``client_id`` and True; the stored
    event's id and False when that client id is claimed already; (None, True) without a
    client id (the insert takes its id from the sequence)."""
    if client_id is None:
        return None, True
    new_id = session.execute(text(
        "INSERT INTO event_client_ids (client_id, event_id)"
        " VALUES (:c, nextval('events_id_seq')) ON CONFLICT (client_id) DO NOTHING"
        " RETURNING event_id"), {"c": client_id}).scalar()
    if new_id is not None:
        return int(new_id), True
    stored = session.execute(text("SELECT event_id FROM event_client_ids WHERE client_id = :c"),
                             {"c": client_id}).scalar_one()
    return int(stored), False


class AlarmIn(BaseModel):
    """A one-click alarm (一键报警) from a grid worker's phone."""

    lon: Coordinate
    lat: Coordinate
    crs: Text | None = Field(default=None, max_length=100)
    note: Text | None = Field(default=None, max_length=2000)
    photo_url: Text | None = Field(default=None, max_length=2000)
    client_id: Text | None = Field(default=None, max_length=200)


def raise_alarm(session: Session, worker_code: str, alarm: AlarmIn, *,
                settings: Settings | None = None) -> tuple[dict[str, Any], LocateResult]:
    """Create an urgent ``alarm`` event for ``worker_code`` and announce it.

    Returns the event and the full locate answer (grid, workers, cameras with stream
    addresses). The announcement is a PostgreSQL ``NOTIFY`` on :data:`ALARM_CHANNEL`, sent
    when the caller commits (so listeners in any process see only committed alarms). A
    repeated ``client_id`` returns the stored alarm without a second announcement.
    """
    settings = settings or get_settings()
    data = EventIn(client_id=alarm.client_id, category="alarm", description=alarm.note,
                   reporter=worker_code, source="alarm", priority="urgent", lon=alarm.lon,
                   lat=alarm.lat, crs=alarm.crs, photo_url=alarm.photo_url)
    new_id, where = _insert_event(session, data, settings, settings.alarm_due_hours)
    event = get_event(session, new_id)
    if where is None:  # this client_id was stored before: no second announcement
        return event, locate(session, event["lon"], event["lat"], k=settings.locate_k,
                             settings=settings)
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": ALARM_CHANNEL, "payload": alarm_payload(event, where)})
    return event, where


def alarm_payload(event: dict[str, Any], where: LocateResult) -> str:
    """The JSON announced for an alarm (kept well under NOTIFY's 8000-byte limit)."""
    body = {
        "event_id": event["id"], "worker": event["reporter"], "lon": event["lon"],
        "lat": event["lat"], "reported_at": event["reported_at"].isoformat(),
        "note": (event["description"] or "")[:300], "photo_url": event["photo_url"],
        "assignment": where.assignment,
        "grid": where.grid.model_dump() if where.grid else None,
        "community": where.community.model_dump() if where.community else None,
        "workers": [{"code": w.code, "name": w.name, "role": w.role, "phone": w.phone}
                    for w in where.workers[:6]],
        "cameras": [{"code": c.code, "stream_url": c.stream_url, "distance_m":
                     round(c.distance_m, 1), "pan_deg": c.pan_deg, "tilt_deg": c.tilt_deg,
                     "zoom": c.zoom, "offset_deg": c.offset_deg} for c in where.cameras[:5]],
    }
    return json.dumps(body, ensure_ascii=False)[:7900]


def fill_missing_due(session: Session, hours: float) -> int:
    """Set ``due_at = reported_at + hours`` where it is missing (bulk imports); returns rows."""
    result = session.execute(text(
        "UPDATE events SET due_at = reported_at + make_interval(secs => :s)"
        " WHERE due_at IS NULL"), {"s": hours * 3600})
    return int(result.rowcount)  # type: ignore[attr-defined]


def get_event(session: Session, event_id: int) -> dict[str, Any]:
    """One event as a dict (lon/lat WGS 84); raises NotFound naming the id."""
    row = session.execute(text(
        f"SELECT {EVENT_COLUMNS} FROM {EVENT_SOURCE} WHERE id = :id"),  # noqa: S608
        {"id": event_id}).mappings().first()
    if row is None:
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])
    return dict(row)


def stored_assignment(session: Session, event: dict[str, Any],
                      settings: Settings | None = None) -> LocateResult:
    """The assignment stored for ``event`` (a :func:`get_event` row) as a locate answer:
    the grid chain, nearest grid and cameras as assigned (``event["assigned_at"]``), with
    names, the assigned grid's workers and the cameras seen from the event's spot. Not a new
    :func:`~geo.locate.locate`: a grid redrawn since does not change it. No sites (they are
    not assigned). Read-only."""
    settings = settings or get_settings()
    lon, lat = event["lon"], event["lat"]
    district, street, community, grid, micro, nearest = refs_of(session, [
        event["district_code"], event["street_code"], event["community_code"],
        event["grid_code"], event["micro_grid_code"], event["nearest_grid_code"]])
    cameras = camera_hits(session, lon, lat, list(event["camera_codes"] or []))
    assignment: Assignment = event["assignment"] or "unassigned"
    return LocateResult(
        lon=lon, lat=lat, assignment=assignment, snapped=assignment == "snapped",
        district=district, street=street, community=community, grid=grid, micro_grid=micro,
        dedicated_grids=[r for r in refs_of(session, list(event["dedicated_grid_codes"] or []))
                         if r is not None],
        nearest_grid=nearest, nearest_distance_m=event["nearest_distance_m"],
        boundary=stored_boundary(session, event, settings),
        workers=workers_of(session, grid.code, micro.code if micro else None) if grid else [],
        cameras=cameras, cameras_wanted=settings.locate_k,
        enough_cameras=len(cameras) >= settings.locate_k)


def stored_boundary(session: Session, event: dict[str, Any],
                    settings: Settings | None = None) -> BoundaryDoubt:
    """The boundary doubt of a stored event (a :func:`get_event` row): the grids within
    ``settings.doubt_tolerance_m`` of its spot now, its stored grid as the chosen one, and
    the rule: ``reassigned`` when a dispatcher moved it, else the rule of its stored
    assignment (``inside``/``smallest_code`` for covered, ``nearest`` for snapped). Read-only.
    """
    settings = settings or get_settings()
    tolerance = settings.doubt_tolerance_m
    candidates = near_grids(session, event["lon"], event["lat"], tolerance)
    moved = session.execute(text("SELECT EXISTS (SELECT FROM event_reassignments"
                                 " WHERE event_id = :id)"), {"id": event["id"]}).scalar()
    rule: DoubtRule = "none"
    if moved:
        rule = "reassigned"
    elif event["assignment"] == "covered":
        rule = "smallest_code" if sum(c["covers"] for c in candidates) > 1 else "inside"
    elif event["assignment"] == "snapped":
        rule = "nearest"
    return boundary_doubt(candidates, event["grid_code"], rule, tolerance)


class EventFilter(BaseModel):
    """Filters of :func:`list_events`; all optional, combined with AND.

    ``area`` matches the code at any level (district, street, community, grid, micro-grid).
    ``bbox`` is (west, south, east, north) in WGS 84 degrees. Times are inclusive-exclusive.
    """

    area: str | None = None
    status: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    assignment: str | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0)


def list_events(session: Session, f: EventFilter,
                settings: Settings | None = None) -> tuple[list[dict[str, Any]], int]:
    """A page of events (newest first, then id) and the total matching count."""
    clauses, params = _filter_sql(f, (settings or get_settings()).grid_code_lengths)
    where = " AND ".join(clauses) or "TRUE"
    total = session.execute(text(
        f"SELECT count(*) FROM {EVENT_SOURCE} WHERE {where}"), params).scalar_one()  # noqa: S608
    rows = session.execute(text(
        f"SELECT {EVENT_COLUMNS} FROM {EVENT_SOURCE} WHERE {where}"  # noqa: S608
        " ORDER BY reported_at DESC, id DESC LIMIT :limit OFFSET :offset"),
        {**params, "limit": f.limit, "offset": f.offset}).mappings().all()
    return [dict(r) for r in rows], int(total)


AREA_FILTER = (
    "(grid_code LIKE :area_prefix OR grid_code = ANY(:area_grids))"
    " AND :area IN (district_code, street_code, community_code, grid_code, micro_grid_code)")
"""Events whose chain contains the code ``:area`` at any level. Codes nest (each starts with
its parent's, geo.codes), so such an event's grid code starts with the area's code — or, for
a micro-grid, is one of its prefixes of a grid-code length: both conditions use the
``grid_code`` index (text_pattern_ops), the ``IN`` keeps the answer exact. A grid's events
among a million: 3.6 s without the index, milliseconds with it (bench/RESULTS.md)."""


def _filter_sql(f: EventFilter,
                grid_code_lengths: tuple[int, ...]) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.area:
        clauses.append(AREA_FILTER)
        params.update(area=f.area, area_prefix=prefix_pattern(f.area),
                      area_grids=[f.area[:n] for n in grid_code_lengths if n < len(f.area)])
    for name in ("status", "category", "assignment"):
        if getattr(f, name):
            clauses.append(f"{name} = :{name}")
            params[name] = getattr(f, name)
    if f.since:
        clauses.append("reported_at >= :since")
        params["since"] = f.since
    if f.until:
        clauses.append("reported_at < :until")
        params["until"] = f.until
    if f.bbox:
        west, south, east, north = f.bbox
        if not (west < east and south < north):
            raise ValidationFailed("bbox must be west,south,east,north with west < east and "
                                   "south < north", [{"field": "bbox", "value": list(f.bbox)}])
        clauses.append("geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)")
        params.update(w=west, s=south, e=east, n=north)
    return clauses, params


def apply_action(session: Session, event_id: int, action: str, *, actor: str | None = None,
                 note: str | None = None, hours: float | None = None,
                 department: str | None = None) -> dict[str, Any]:
    """Apply a lifecycle ``action`` (see module table) to an event; never commits.

    ``hours`` (postpone) is how much later the due time moves (> 0); ``department``
    (escalate from community level) names the receiving department. Raises NotFound,
    Conflict (illegal action, with the allowed ones) or ValidationFailed (bad argument).
    """
    row = session.execute(text(
        "SELECT status, handling_level FROM events WHERE id = :id FOR UPDATE"),
        {"id": event_id}).first()
    if row is None:
        raise NotFound(f"no event {event_id}", [{"field": "id", "value": event_id}])
    if action not in ACTIONS:
        raise ValidationFailed(f"unknown action {action!r}",
                               [{"field": "action", "allowed": list(ACTIONS)}])
    sources, target = ACTIONS[action]
    if row.status not in sources:
        raise Conflict(
            f"cannot {action} an event that is {row.status}",
            [{"id": event_id, "status": row.status, "action": action,
              "allowed": allowed_actions(row.status)}])
    if action == "postpone":
        _postpone(session, event_id, hours)
    elif action == "escalate":
        _escalate(session, event_id, row.handling_level, department)
    else:
        _move(session, event_id, action, target or row.status)
    detail = note or _describe(action, hours, department)
    log_transition(session, event_id, row.status, target or row.status, actor, detail)
    return get_event(session, event_id)


def _move(session: Session, event_id: int, action: str, target: str) -> None:
    sets = ["status = :target", f"{STAMP[target]} = now()"]
    if action == "rework":
        sets = ["status = :target", "reworks = reworks + 1", "resolved_at = NULL"]
    if action == "reject":
        sets.append("valid = false")
    if action == "close":  # the same fact an imported case history carries (一次性完成)
        sets.append("first_time = (reworks = 0)")
    session.execute(text(f"UPDATE events SET {', '.join(sets)} WHERE id = :id"),  # noqa: S608
                    {"id": event_id, "target": target})


def _postpone(session: Session, event_id: int, hours: float | None) -> None:
    if hours is None or not 0 < hours <= 24 * 365:
        raise ValidationFailed("postpone needs hours > 0 (at most a year)",
                               [{"id": event_id, "field": "hours", "value": hours}])
    session.execute(text(
        "UPDATE events SET due_at = coalesce(due_at, now()) + make_interval(secs => :s),"
        " postponements = postponements + 1 WHERE id = :id"),
        {"id": event_id, "s": hours * 3600})


def _escalate(session: Session, event_id: int, level: str, department: str | None) -> None:
    index = LEVELS.index(level) if level in LEVELS else 0
    if index + 1 >= len(LEVELS):
        raise Conflict("event is already handled by a department",
                       [{"id": event_id, "handling_level": level, "allowed": []}])
    new_level = LEVELS[index + 1]
    if new_level == "department" and not department:
        raise ValidationFailed("escalating to a department needs its name",
                               [{"id": event_id, "field": "department"}])
    session.execute(text(
        "UPDATE events SET handling_level = :lvl, department = coalesce(:dep, department)"
        " WHERE id = :id"), {"id": event_id, "lvl": new_level, "dep": department})


def _describe(action: str, hours: float | None, department: str | None) -> str:
    if action == "postpone":
        return f"postponed by {hours:g} h"
    if action == "escalate":
        return f"escalated{' to ' + department if department else ''}"
    return action


def log_transition(session: Session, event_id: int, source: str | None, target: str,
                   actor: str | None, note: str | None) -> None:
    """Append one row to the case's history (``event_transitions``)."""
    session.execute(text(
        "INSERT INTO event_transitions (event_id, from_status, to_status, actor, note)"
        " VALUES (:e, :f, :t, :a, :n)"),
        {"e": event_id, "f": source, "t": target, "a": actor, "n": note})


def transitions_of(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The event's lifecycle history, oldest first."""
    rows = session.execute(text(
        "SELECT from_status, to_status, at, actor, note FROM event_transitions"
        " WHERE event_id = :id ORDER BY at, id"), {"id": event_id}).mappings().all()
    return [dict(r) for r in rows]
