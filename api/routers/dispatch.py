"""Dispatch routes: /events, /alarms (+ live SSE stream), /stats (/locate: api.routers.locate)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.alarm_hub import AlarmHub, Subscription
from api.auth import Caller, Dispatcher, Reader, Reporter, require_roles
from api.bodies import (
    BULK_BODY,
    CSV_TYPES,
    JSON_TYPES,
    POINT_FEATURE,
    json_body,
    json_request_body,
    parse_json,
    require_media_type,
)
from api.deps import SessionDep, SettingsDep
from api.errors import validated
from api.openapi import CSV, also_answers
from api.params import EventId, Offset
from api.schemas.dispatch import (
    AlarmAnswer,
    BulkReport,
    CameraView,
    Event,
    EventDetail,
    EventPage,
    ReassignmentStats,
    StatsAnswer,
)
from geo import tempdir
from geo.assign import assign_events
from geo.camera_views import record_camera_view
from geo.duplicates import (
    MergeIn,
    case_of,
    duplicate_candidates,
    duplicates_of,
    flag_new_duplicates,
    last_event_id,
    merge_duplicates,
)
from geo.errors import TooLarge, UnreadableFile, ValidationFailed
from geo.events import (
    AlarmIn,
    EventFilter,
    EventIn,
    apply_action,
    create_event,
    fill_missing_due,
    get_event,
    list_events,
    raise_alarm,
    stored_boundary,
    transitions_of,
)
from geo.fields import Text, Timestamp
from geo.importer import import_file
from geo.month_stats import period_unit_stats
from geo.reassignments import (
    ReassignIn,
    grids_by_reassignments,
    reassign_event,
    reassignments_of,
)
from geo.roles import check_case_action, check_event_readable, readable_area, readable_units
from geo.settings import Settings
from geo.stats import (
    FIELDS,
    GRID_FIELDS,
    Attribution,
    events_in_period,
    stats_csv,
    with_grid_counts,
    with_reassignments,
)

WorkerKey = Annotated[Caller, Depends(require_roles("worker"), scope="function")]


REPLAYED = "Idempotent-Replayed"
"""Header on the answer to a POST /events whose client_id was seen before."""


class CameraViewIn(BaseModel):
    camera_code: Text = Field(min_length=1, description="the camera whose view was opened")


class ActionIn(BaseModel):
    action: str
    note: str | None = None
    hours: float | None = None
    department: str | None = None


def dispatch_router() -> APIRouter:
    router = APIRouter(tags=["dispatch"])
    _event_routes(router)
    _alarm_routes(router)
    _camera_view_routes(router)
    _stats_routes(router)
    return router


def event_from_json(body: Any) -> EventIn:
    """An EventIn from plain JSON or a GeoJSON Point Feature (properties + coordinates)."""
    if isinstance(body, dict) and body.get("type") == "Feature":
        body = _feature_fields(body)
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object or a GeoJSON Feature",
                               [{"field": "body"}])
    return validated(EventIn, body, "the event")


def _feature_fields(feature: dict[str, Any]) -> dict[str, Any]:
    """The event fields of a GeoJSON Point Feature; 422 naming a malformed member."""
    geometry = feature.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (not isinstance(geometry, dict) or geometry.get("type") != "Point"
            or not isinstance(coords, list) or len(coords) < 2):
        raise ValidationFailed("a Feature needs a Point geometry with [lon, lat] coordinates",
                               [{"field": "geometry", "value": _type_name(geometry)}])
    props = feature.get("properties")
    if props is not None and not isinstance(props, dict):
        raise ValidationFailed("a Feature's properties must be a JSON object or null",
                               [{"field": "properties", "value": _type_name(props)}])
    fields = dict(props or {})
    if feature.get("id") is not None and "client_id" not in fields:
        fields["client_id"] = str(feature["id"])
    return {**fields, "lon": coords[0], "lat": coords[1]}


def _type_name(value: Any) -> Any:
    """A GeoJSON object's ``type``, else the JSON type of ``value`` (for error details)."""
    if isinstance(value, dict):
        return value.get("type")
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _event_routes(router: APIRouter) -> None:
    # Handlers that read the body are async; their database work goes to the thread pool.
    @router.post("/events", status_code=201,
                 summary="Report one event (JSON or GeoJSON Feature); idempotent by client_id: "
                 "a repeat gets the same 201 answer (the stored event) with the header "
                 f"{REPLAYED}: true", openapi_extra=json_request_body(EventIn, POINT_FEATURE),
                 response_model=Event)
    async def post_event(request: Request, response: Response, session: SessionDep,
                         settings: SettingsDep, caller: Reporter) -> dict[str, Any]:
        data = event_from_json(await json_body(request))
        if data.reporter is None:
            data.reporter = caller.worker_code or caller.name
        event, created = await run_in_threadpool(_created, session, data, settings)
        if not created:  # a retry or a concurrent duplicate: the same answer, marked
            response.headers[REPLAYED] = "true"
        return event

    @router.post("/events/bulk", summary="Import a FeatureCollection or CSV of events",
                 openapi_extra=BULK_BODY, response_model=BulkReport)
    async def post_bulk(request: Request, session: SessionDep, settings: SettingsDep,
                        _: Dispatcher, crs: str | None = None,
                        partial: bool = Query(False, description="write the good rows, "
                                              "list the bad ones (default all-or-nothing)"),
                        ) -> dict[str, Any]:
        with tempdir.scratch("gridlink-bulk-") as tmp:
            path = await _bulk_file(request, Path(tmp), settings.bulk_event_limit)
            return await run_in_threadpool(_import_bulk, session, path, crs, partial, settings)

    @router.get("/events", summary="List events with filters and paging",
                response_model=EventPage)
    def get_events(
        session: SessionDep, settings: SettingsDep, caller: Reader,
        area: str | None = Query(None, description="only events whose grid chain names this "
                                 "code (default: the key's area, if it has one)"),
        status: str | None = None, category: str | None = None,
        since: Timestamp | None = None, until: Timestamp | None = None,
        assignment: str | None = None,
        bbox: str | None = Query(None, description="west,south,east,north (WGS 84)"),
        limit: int = Query(100, ge=1, le=10_000), offset: Offset = 0,
    ) -> dict[str, Any]:
        box = _bbox(bbox)
        rows, total = list_events(session, EventFilter(
            area=readable_area(caller.area_code, area), status=status, category=category,
            since=since, until=until, bbox=box, assignment=assignment, limit=limit,
            offset=offset), settings)
        return {"total": total, "limit": limit, "offset": offset, "events": rows}

    @router.get("/events/{event_id}", summary="One event with its lifecycle history",
                response_model=EventDetail)
    def get_one(event_id: EventId, session: SessionDep, settings: SettingsDep,
                caller: Reader) -> dict[str, Any]:
        check_event_readable(session, caller.area_code, event_id)
        event = get_event(session, event_id)
        return {**event, "transitions": transitions_of(session, event_id),
                "boundary": stored_boundary(session, event, settings).model_dump(),
                "reassignments": reassignments_of(session, event_id),
                "duplicate_of": case_of(session, event_id),
                "duplicates": duplicates_of(session, event_id)}

    @router.post("/events/{event_id}/merge",
                 summary="Merge duplicate reports into this case (dispatchers): the others are "
                 "closed as duplicates, linked, their reporters kept; statistics count the "
                 "case once", response_model=Event)
    def post_merge(event_id: EventId, body: MergeIn, session: SessionDep,
                   caller: Dispatcher) -> dict[str, Any]:
        return merge_duplicates(session, event_id, body, actor=caller.worker_code or caller.name)

    @router.post("/events/{event_id}/reassign",
                 summary="Move a case to another grid (boundary doubt): dispatchers, reason "
                 "required; the new grid's workers are told over /alarms/stream "
                 "(event: reassignment); statistics follow", response_model=Event)
    def post_reassign(event_id: EventId, body: ReassignIn, session: SessionDep,
                      caller: Dispatcher) -> dict[str, Any]:
        return reassign_event(session, event_id, body, actor=caller.worker_code or caller.name)

    @router.post("/events/{event_id}/actions",
                 summary="Lifecycle step: dispatch, start, resolve, close, rework, reject, "
                 "postpone, escalate (409 lists the allowed ones; workers: start, resolve, "
                 "postpone, escalate on their own grid's cases, else 403)",
                 response_model=Event)
    def post_action(event_id: EventId, body: ActionIn, session: SessionDep,
                    caller: Reporter) -> dict[str, Any]:
        check_case_action(session, event_id, body.action, caller.role, caller.worker_code)
        return apply_action(session, event_id, body.action, actor=caller.worker_code or
                            caller.name, note=body.note, hours=body.hours,
                            department=body.department)


def _created(session: Session, data: EventIn, settings: Settings) -> tuple[dict[str, Any], bool]:
    """:func:`create_event` with the proposed duplicates of the event (geo.duplicates)."""
    event, created = create_event(session, data, settings=settings)
    found = duplicate_candidates(session, [event["id"]], settings)
    return {**event, "duplicates": found.get(event["id"], [])}, created


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        w, s, e, n = (float(v) for v in value.split(","))
    except ValueError:
        raise ValidationFailed("bbox must be four numbers west,south,east,north",
                               [{"field": "bbox", "value": value}]) from None
    return w, s, e, n


def _import_bulk(session: Session, path: Path, crs: str | None, partial: bool,
                 settings: Settings) -> dict[str, Any]:
    """Import the saved bulk file as events, assign the new ones, fill missing due times."""
    before = last_event_id(session)
    report = import_file(session, "events", path, crs=crs, skip_invalid=partial,
                         settings=settings)
    summary = assign_events(session, "unassigned", settings=settings)
    fill_missing_due(session, settings.event_due_hours)
    return {"rows": report.rows, "inserted": report.inserted, "updated": report.updated,
            "rejected": report.rejected, "problems": report.problems[:1000],
            "notes": report.notes, "mapping": report.mapping,
            "unknown_columns": report.unknown_columns, "assigned": summary.events,
            "snapped": summary.snapped, "unassigned": summary.unassigned,
            "duplicates": flag_new_duplicates(session, before, settings)}


async def _bulk_file(request: Request, folder: Path, limit: int) -> Path:
    """Stream a bulk body (FeatureCollection JSON or CSV) to a file in ``folder``; 413 over
    ``limit`` events, 415 for another media type, 400/422 for a body that is not one."""
    kind = require_media_type(request, JSON_TYPES + CSV_TYPES,
                              "a FeatureCollection (application/geo+json) or CSV")
    path = folder / ("events.csv" if kind in CSV_TYPES else "events.geojson")
    with open(path, "wb") as out:
        async for chunk in request.stream():
            await run_in_threadpool(out.write, chunk)
    count = await run_in_threadpool(_bulk_rows, path, kind)
    if count > limit:
        raise TooLarge(f"{count} events exceed the limit of {limit} per request "
                       "(GRIDLINK_BULK_EVENT_LIMIT)", [{"limit": limit, "rows": count}])
    return path


def _bulk_rows(path: Path, kind: str) -> int:
    """Rows of a saved bulk body: features of a FeatureCollection, data lines of a CSV."""
    if kind in CSV_TYPES:
        with open(path, "rb") as fh:
            lines = [n for n in (line.strip() for line in fh) if n]
        if not lines:
            raise UnreadableFile("the request body is empty", [{"field": "body"}])
        return len(lines) - 1
    body = parse_json(path.read_bytes())
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(features, list):
        raise ValidationFailed("the body must be a GeoJSON FeatureCollection with a "
                               "'features' array", [{"field": "features",
                                                      "value": _type_name(features)}])
    return len(features)


def _alarm_routes(router: APIRouter) -> None:
    @router.post("/alarms", status_code=201,
                 summary="One-click alarm by a grid worker: urgent event + locate answer",
                 openapi_extra=json_request_body(AlarmIn), response_model=AlarmAnswer)
    async def post_alarm(request: Request, session: SessionDep, settings: SettingsDep,
                         caller: WorkerKey) -> dict[str, Any]:
        alarm = validated(AlarmIn, await json_body(request), "the alarm")
        event, where = await run_in_threadpool(raise_alarm, session,
                                               caller.worker_code or caller.name, alarm,
                                               settings=settings)
        return {"event": event, "locate": where.model_dump()}

    @router.get("/alarms/stream", summary="Live alarms as Server-Sent Events (event: alarm; "
                "event: reassignment when a case is moved to another grid)",
                response_class=StreamingResponse, responses={200: {"content": {
                    "text/event-stream": {"schema": {"type": "string"}}}}})
    async def alarm_stream(request: Request, caller: Dispatcher) -> StreamingResponse:
        hub: AlarmHub = request.app.state.alarm_hub
        subscription = await hub.subscribe()  # 503 when the database cannot be reached
        return StreamingResponse(_sse(request, subscription, caller.area_code),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})


async def _sse(request: Request, subscription: Subscription, area: str | None = None,
               idle_s: float = 15.0) -> AsyncIterator[str]:
    """SSE frames: a comment at once (listening) and every ``idle_s`` s idle, ``event: alarm``
    per alarm, ``event: reassignment`` per reassigned case; with ``area`` (a key's area) only
    those whose grid, or former grid, lies inside it. The auth dependency's session was closed
    before the stream started."""
    try:
        yield ": listening\n\n"
        while not await request.is_disconnected():
            payload = await subscription.next(idle_s)
            if payload is None:
                yield ": listening\n\n"
                continue
            body = json.loads(payload)
            if area is not None and not _payload_in_area(body, area):
                continue
            kind = body.get("kind", "alarm")  # "reassignment": geo.reassignments
            yield f"event: {kind}\nid: {body.get('event_id', '')}\ndata: {payload}\n\n"
    finally:
        subscription.close()


def _payload_in_area(body: dict[str, Any], area: str) -> bool:
    """Whether an alarm or reassignment payload's grid (or former grid) lies in ``area``."""
    grid, former = body.get("grid"), body.get("from_grid")  # {"code": ...}; a code or None
    codes = [grid.get("code") if isinstance(grid, dict) else None, former]
    return any(isinstance(c, str) and c.startswith(area) for c in codes)


def _camera_view_routes(router: APIRouter) -> None:
    @router.post("/events/{event_id}/camera-views", status_code=201,
                 summary="Record that the command centre opened a camera's view for this event "
                 "(alarm → first camera view on /dashboard); 422 for an unknown camera",
                 response_model=CameraView)
    def post_camera_view(event_id: EventId, body: CameraViewIn, session: SessionDep,
                         caller: Dispatcher) -> dict[str, Any]:
        return record_camera_view(session, event_id, body.camera_code, caller.name,
                                  caller.key_prefix)


def _stats_routes(router: APIRouter) -> None:
    @router.get("/stats", summary="Assessment statistics per unit over a period (JSON or CSV)",
                responses=also_answers(CSV), response_model=StatsAnswer)
    def get_stats(
        session: SessionDep, settings: SettingsDep, caller: Reader,
        level: Literal["grid", "community", "street", "district", "department"] = "grid",
        since: Timestamp | None = Query(None, description="default: 30 days before until"),
        until: Timestamp | None = Query(None, description="default: now"),
        format: Literal["json", "csv"] = "json",
        attribution: Attribution = Query(
            "assigned", description="level=grid: which grid an event counts for - assigned "
            "(its stored assignment, the default), current (today's grid at its point) or "
            "historical (the grid version valid when it was reported); docs/dispatch.md"),
    ) -> Any:
        end = until or datetime.now(UTC)
        start = since or end - timedelta(days=30)
        every = period_unit_stats(session, level, start, end, attribution=attribution,
                                  settings=settings)  # whole months from the rollups
        rows = readable_units(caller.area_code, level, every)
        if level == "grid":
            rows = with_grid_counts(session, with_reassignments(session, rows, start, end))
        if format == "csv":
            fields = GRID_FIELDS if level == "grid" else FIELDS
            name = f"stats_{level}" + ("" if attribution == "assigned" else f"_{attribution}")
            return Response(stats_csv(rows, fields), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                                     "X-Gridlink-Attribution": attribution})
        total = events_in_period(session, start, end)
        events: int | None = total
        unattributed: int | None = total - sum(r["accepted"] for r in every)
        if caller.area_code is not None:  # the city's totals are outside a limited key's area
            events = unattributed = None
        return {"level": level, "attribution": attribution, "since": start, "until": end,
                "events": events, "unattributed": unattributed, "units": rows}

    @router.get("/stats/reassignments",
                summary="Grids by reassignments made in a period (moved out, moved in): a "
                "boundary that often misleads is a planning signal",
                response_model=ReassignmentStats)
    def get_reassignments(
        session: SessionDep, caller: Reader,
        since: Timestamp | None = Query(None, description="default: 30 days before until"),
        until: Timestamp | None = Query(None, description="default: now"),
    ) -> dict[str, Any]:
        end = until or datetime.now(UTC)
        start = since or end - timedelta(days=30)
        if not start < end:
            raise ValidationFailed("the period is empty: since must be before until",
                                   [{"field": "since", "value": start.isoformat()},
                                    {"field": "until", "value": end.isoformat()}])
        return {"since": start, "until": end,
                "grids": grids_by_reassignments(
                    session, start, end, readable_area(caller.area_code, None))}
