"""Answers of the dispatch routes: events, alarms, camera views, statistics."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateTimeText, Row
from geo.locate import CameraHit

EVENT_EXAMPLE: dict[str, Any] = {
    "id": 1042, "client_id": "app-20261103-0007", "category": "占道经营 (street vending)",
    "description": "人行道上有流动摊贩 (a vendor blocks the pavement)",
    "reported_at": "2026-11-03T08:15:00+00:00", "reporter": "W001", "source": "app",
    "status": "reported", "priority": "normal", "lon": 112.5501, "lat": 37.8702,
    "grid_code": "140213001001001", "duplicates": []}


class Event(Row):
    """One event (案件) as stored: lon/lat WGS 84 (EPSG:4326), times ISO 8601, its grid
    assignment (``grid_code``... null when unassigned) and lifecycle times."""

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: int = Field(description="event id")
    category: str = Field(description="e.g. 占道经营 (street vending)")
    status: str = Field(description="reported, dispatched, in_progress, resolved, closed...")
    reported_at: DateTimeText = Field(description="when it was reported (ISO 8601)")
    lon: float | None = Field(description="longitude, degrees, EPSG:4326")
    lat: float | None = Field(description="latitude, degrees, EPSG:4326")


class EventPage(Answer):
    """A page of events matching the filters; ``total`` counts every match."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"total": 1, "limit": 100, "offset": 0, "events": [EVENT_EXAMPLE]}]})

    total: int = Field(description="events matching the filters")
    limit: int
    offset: int
    events: list[Event]


class EventDetail(Event):
    """One event with its lifecycle history, boundary doubt, reassignments and duplicates."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **EVENT_EXAMPLE, "transitions": [
            {"from_status": None, "to_status": "reported", "actor": "W001",
             "at": "2026-11-03T08:15:00Z", "note": "上报 (reported)"}],
        "boundary": {"in_doubt": False, "tolerance_m": 5.0, "chosen": "140213001001001",
                     "rule": "inside", "candidates": []},
        "reassignments": [], "duplicate_of": None}]})

    transitions: list[Row] = Field(description="lifecycle steps, oldest first")
    boundary: Row = Field(description="boundary doubt: in_doubt, tolerance_m (metres), the "
                          "chosen grid, the rule and the candidate grids")
    reassignments: list[Row] = Field(description="moves to another grid, oldest first")
    duplicate_of: int | None = Field(description="the case this report was merged into")
    duplicates: list[Row] = Field(description="reports merged into this case")


class AlarmAnswer(Answer):
    """A one-click alarm: the urgent event created and where it is (as ``GET /locate``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"event": {**EVENT_EXAMPLE, "category": "一键报警 (alarm)", "priority": "urgent"},
         "locate": {"lon": 112.5501, "lat": 37.8702, "grid": {"code": "140213001001001"}}}]})

    event: Event
    locate: Row = Field(description="the locate answer of the alarm's point (GET /locate)")


class CameraView(Answer):
    """A recorded opening of a camera's view for an event."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"event_id": 1042, "camera_code": "CAM-0001", "viewed_at":
         "2026-11-03T08:16:05+00:00"}]})

    event_id: int
    camera_code: str = Field(description="e.g. CAM-0001 (路口球机, a crossroads dome)")
    viewed_at: DateTimeText


class CamerasHere(Answer):
    """"Point all cameras here": every camera in reach of the spot, best view first
    (``geo.video.commands``): pan/tilt/zoom for PTZ cameras, the image offset for fixed
    ones, ``blocked_by`` when a building hides the spot."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"lon": 113.3025, "lat": 40.0865, "cameras": [
            {"code": "CAM-0001", "name": "路口球机 (crossroads dome)", "lon": 113.3022,
             "lat": 40.0868, "distance_m": 42.5, "bearing_deg": 135.2, "azimuth_deg": 90.0,
             "fov_deg": 360.0, "range_m": 150.0, "camera_type": "ptz", "status": "online",
             "stream_url": None, "pan_deg": 135.2, "facing": True, "reason": None,
             "blocked_by": None, "tilt_deg": -8.0, "zoom": 2.5, "scene_width_m": 12.4,
             "preset": None},
            {"code": "CAM-0007", "name": "小区门口枪机 (compound gate)", "lon": 113.3031,
             "lat": 40.0861, "distance_m": 61.0, "bearing_deg": 318.4, "azimuth_deg": 300.0,
             "fov_deg": 60.0, "range_m": 80.0, "camera_type": "fixed", "status": "online",
             "stream_url": None, "pan_deg": None, "facing": True, "reason": "blocked",
             "blocked_by": "B0123", "offset_deg": 18.4}]}]})

    lon: float = Field(description="the spot, degrees east, EPSG:4326 (converted from crs)")
    lat: float = Field(description="the spot, degrees north, EPSG:4326")
    cameras: list[CameraHit] = Field(
        description="pan 0° = true north, clockwise; tilt negative below the horizon")


class BulkReport(Answer):
    """What a bulk import of events did: rows read, written, rejected and assigned."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"rows": 2, "inserted": 2, "updated": 0, "rejected": 0, "problems": [], "notes": [],
         "mapping": {"category": "类别 (category)"}, "unknown_columns": [], "assigned": 2,
         "snapped": 0, "unassigned": 0, "duplicates": []}]})

    rows: int = Field(description="rows (features or CSV lines) read")
    inserted: int
    updated: int
    rejected: int = Field(description="rows refused (partial=true), each in problems")
    problems: list[Row] = Field(description="at most 1000: row, field, problem")
    notes: list[str]
    mapping: dict[str, Any] = Field(description="event field -> file column that fed it")
    unknown_columns: list[str]
    assigned: int = Field(description="new events given a grid")
    snapped: int = Field(description="events just outside every grid snapped to the nearest")
    unassigned: int
    duplicates: list[Row] = Field(description="new events with proposed duplicates")


class StatsAnswer(Answer):
    """Assessment statistics per unit over a period (``units``: one row per unit)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"level": "grid", "attribution": "assigned", "since": "2026-10-04T00:00:00+00:00",
         "until": "2026-11-03T00:00:00+00:00", "events": 12, "unattributed": 0,
         "units": [{"unit": "140213001001001", "name": "第一网格 (grid 1)", "accepted": 12}]}]})

    level: str = Field(description="grid, community, street, district or department")
    attribution: str = Field(description="assigned, current or historical")
    since: DateTimeText
    until: DateTimeText
    events: int | None = Field(description="events in the period, city-wide (null for a key "
                               "limited to one area)")
    unattributed: int | None = Field(description="events counted for no unit")
    units: list[Row] = Field(description="per unit: unit, name, accepted, valid, handled, "
                             "due, closed, closed_on_time, postponed, first_time, the rates "
                             "(0-1), deduction, score; level=grid also reassigned_in/out and "
                             "the grid's counts (buildings, households...)")


class ReassignmentStats(Answer):
    """Grids by the reassignments made in a period (moved out, moved in)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"since": "2026-10-04T00:00:00+00:00", "until": "2026-11-03T00:00:00+00:00",
         "grids": [{"grid_code": "140213001001001", "moved_out": 2, "moved_in": 0}]}]})

    since: DateTimeText
    until: DateTimeText
    grids: list[Row]


class PresetImportReport(Answer):
    """What a PTZ preset import did (``geo.video.preset_file``): the cameras whose presets
    the file replaced and the presets stored."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"cameras": 2, "presets": 5,
         "notes": ["预置位.csv is not UTF-8: read as GB18030 (GBK)"]}]})

    cameras: int = Field(description="cameras whose presets were replaced")
    presets: int = Field(description="presets stored")
    notes: list[str] = Field(description="how the file was read (encoding...)")


class GridVideoCoverage(Row):
    """One grid's coverage with occlusion (``geo.video.coverage``)."""

    code: str
    name: str
    households: int
    outdoor_m2: float = Field(description="grid minus building footprints, m²")
    seen_share: float = Field(description="share of the outdoor area some online camera "
                              "sees (visibility polygons, buildings occluding), 0-1")
    seen_share_without_occlusion: float = Field(
        description="share of the grid's area inside online cameras' view wedges, 0-1")
    road_m: float = Field(description="road length inside the grid, m")
    road_seen_share: float | None = Field(description="share of it seen; null: no roads")
    entrances: int
    entrances_seen: int
    uncovered_households: float = Field(description="households × blind outdoor share")


class SiteVideoCoverage(Row):
    """One site's entrances (and, for a polygon site, outdoor area) seen by online cameras."""

    code: str
    name: str
    category: str
    grid_code: str | None
    entrances: int
    entrances_seen: int
    unseen_entrances: list[str] = Field(description="codes of the entrances no camera sees")
    seen_share: float | None = Field(description="polygon sites: share of their outdoor "
                                     "area seen, 0-1; null for a point site")


class VideoCoverage(Answer):
    """Coverage with occlusion of an area: outdoor area, roads and entrances that online
    cameras see, grids ranked by uncovered households, sites by unseen entrances."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"area": "140213001", "name": "示例街道", "grids_count": 66, "sites_count": 40,
         "outdoor_seen_share": 0.106, "road_m": 98000.0, "road_seen_share": 0.21,
         "entrances": 52, "entrances_seen": 30, "grids": [], "sites": []}]})

    area: str
    name: str
    grids_count: int
    sites_count: int
    outdoor_seen_share: float | None
    road_m: float
    road_seen_share: float | None
    entrances: int = Field(description="entrances of the area's sites")
    entrances_seen: int
    grids: list[GridVideoCoverage] = Field(description="most uncovered households first")
    sites: list[SiteVideoCoverage] = Field(description="most unseen entrances first")
