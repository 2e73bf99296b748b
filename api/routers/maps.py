"""Map pages (HTML) for dispatchers and planners, and the /static assets they load.

Every page is rendered by ``layers/`` from data fetched via ``geo/``; every script, stylesheet
and font comes from ``/static`` (see ``layers/assets.py``), so pages work on a closed network.
All pages need a reader key (``X-API-Key``) like any read, or ``GRIDLINK_PUBLIC_READ=true``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Router

from api.auth import Reader
from api.deps import ReadSessionDep, SessionDep, SettingsDep
from api.params import AfterEventId, ChangesetId, EventId
from api.precompressed import PrecompressedFiles
from api.schemas.feeds import AlarmFeed
from api.settings import ApiSettings
from api.validation_cache import VALIDATIONS
from geo import mapdata
from geo.errors import ValidationFailed
from geo.events import get_event, stored_assignment
from geo.fields import Coordinate, Timestamp
from geo.locate import locate
from geo.patrols import local_today
from geo.patrols.overdue import overdue_grids
from geo.planning.changesets import get_changeset
from geo.planning.preview import preview
from geo.reassignments import grids_by_reassignments
from geo.roles import check_event_readable, readable_area
from geo.settings import PROJECT_ROOT
from geo.video import coverage as video_coverage
from geo.video.camera_page import camera_page_data
from geo.video.road_coverage import entrance_states, road_pieces
from layers.alarms import alarm_feature, alarms_map, overdue_patrol_feature
from layers.assets import BUILD_DIR, FOLIUM_TEMPLATES_DIR, LAYERS_STATIC_DIR, page_html
from layers.base import Basemap
from layers.camera import camera_map
from layers.changeset import ChangesetData, changeset_map, changeset_title
from layers.coverage import coverage_map, coverage_tiles_map
from layers.drawing import drawing_map, drawing_title
from layers.events import events_view, period_of
from layers.grids import planner_data, planner_map
from layers.incident import event_details, incident_data, incident_map
from layers.index import index_html
from layers.reassignments import add_reassignment_panel
from layers.tiles import tiles_wanted
from layers.visibility import add_road_coverage, add_visibility

NODE_MODULES = PROJECT_ROOT / "node_modules"

TilesChoice = Annotated[bool | None, Query(
    description="draw grids, micro-grids, coverage and cameras from vector tiles (/tiles): "
    "true or false; default: when the page would hold more than 2,000 features")]


def static_app() -> Router:
    """The ``/static`` tree: npm assets, folium's bundled scripts, gridlink's own files and
    the bundles built from npm packages (precompressed, cached for a year)."""
    return Router(routes=[
        Mount("/npm", StaticFiles(directory=NODE_MODULES, check_dir=False)),
        Mount("/folium", StaticFiles(directory=FOLIUM_TEMPLATES_DIR)),
        Mount("/gridlink", StaticFiles(directory=LAYERS_STATIC_DIR)),
        Mount("/build", PrecompressedFiles(directory=BUILD_DIR, check_dir=False)),
    ])


def basemap_for(settings: ApiSettings) -> Basemap:
    """The configured base tiles; a GCJ-02 tile URL is refused with a clear error."""
    try:
        return Basemap(settings.tile_url, settings.tile_attribution, settings.tianditu_key)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [{"field": "GRIDLINK_TILE_URL"}]) from exc


def maps_router() -> APIRouter:
    """The /maps router: HTML map pages (any reader) and the alarm feed they poll."""
    router = APIRouter(prefix="/maps", tags=["maps"], default_response_class=HTMLResponse)
    _planner_routes(router)
    _dispatch_routes(router)
    _changeset_routes(router)
    return router


def _planner_routes(router: APIRouter) -> None:
    @router.get("", summary="Index of the map views, with a search by grid code or name")
    def index(session: ReadSessionDep, _: Reader, q: str | None = None) -> HTMLResponse:
        results = mapdata.search_units(session, q) if q else []
        return HTMLResponse(index_html(mapdata.top_areas(session), q, results))

    @router.get("/grids", summary="Planner view: hierarchy, households, problems")
    def grids(session: SessionDep, settings: SettingsDep, caller: Reader,
              area: str | None = Query(None, description="admin area or grid code"),
              tiles: TilesChoice = None) -> HTMLResponse:
        area = readable_area(caller.area_code, area)
        return HTMLResponse(page_html(planner_page(session, settings, area, tiles)))

    @router.get("/coverage", summary="Camera view wedges and per-grid coverage share")
    def coverage(session: ReadSessionDep, settings: SettingsDep, caller: Reader,
                 area: str | None = None, tiles: TilesChoice = None) -> HTMLResponse:
        code, name = mapdata.area_or_default(session, readable_area(caller.area_code, area))
        counts = mapdata.feature_counts(session, code)
        if tiles_wanted(counts["grids"] + counts["cameras"], tiles):
            fmap = coverage_tiles_map(f"{name} 视频覆盖", mapdata.area_bounds(session, code),
                                      code, basemap_for(settings))
            return HTMLResponse(page_html(fmap))
        cov = mapdata.grid_camera_coverage(session, code)
        fmap = coverage_map(f"{name} 视频覆盖", cov, mapdata.camera_wedges(session, code),
                            basemap_for(settings))
        add_visibility(fmap, video_coverage.views_frame(session, area=code),
                       video_coverage.blind_spots(session, code), decimals=5)
        add_road_coverage(fmap, road_pieces(session, code), entrance_states(session, code),
                          decimals=5)
        return HTMLResponse(page_html(fmap))

    @router.get("/events", summary="Events over time: heat map, per-grid counts, clusters")
    def events(session: ReadSessionDep, settings: SettingsDep, caller: Reader,
               area: str | None = None, start: Timestamp | None = None,
               end: Timestamp | None = None, category: str | None = None,
               bin_days: int | None = Query(None, ge=1, le=366,
                                            description="slider step; default: ≤ 12 steps")
               ) -> HTMLResponse:
        area = readable_area(caller.area_code, area)
        return HTMLResponse(page_html(events_page(session, settings, area, start, end,
                                                  category, bin_days)))



def _dispatch_routes(router: APIRouter) -> None:
    @router.get("/alarms", summary="Live one-click alarm board")
    def alarms(session: SessionDep, settings: SettingsDep, caller: Reader,
               area: str | None = None) -> HTMLResponse:
        code, name = mapdata.area_or_default(session, readable_area(caller.area_code, area))
        bounds = mapdata.area_bounds(session, code)
        recent = mapdata.alarms_after(session, 0, limit=200, area=caller.area_code)
        stream = "/alarms/stream" if caller.role in ("dispatcher", "admin") else None
        fmap = alarms_map(f"{name} 实时报警", bounds, recent, "/maps/alarms/feed",
                          basemap_for(settings), stream_url=stream,
                          overdue=overdue_grids(session, local_today()))
        return HTMLResponse(page_html(fmap))

    @router.get("/alarms/feed", response_class=JSONResponse,
                summary="Alarms newer than ?after=<id> as GeoJSON features (polled by /alarms);"
                " with ?overdue=true also the grids with overdue patrols today",
                response_model=AlarmFeed)
    def alarm_feed(session: SessionDep, caller: Reader, after: AfterEventId = 0,
                   overdue: bool = False) -> dict[str, Any]:
        rows = mapdata.alarms_after(session, after, area=caller.area_code)
        feed = {"alarms": [alarm_feature(r) for r in rows],
                "last_id": max((int(r["id"]) for r in rows), default=after)}
        if overdue:
            feed["overdue_patrols"] = [overdue_patrol_feature(g) for g in
                                       overdue_grids(session, local_today())]
        return feed

    @router.get("/locate", summary="Dispatcher view of a spot (WGS 84 lon/lat)")
    def locate_page(session: ReadSessionDep, settings: SettingsDep, _: Reader, lon: Coordinate,
                    lat: Coordinate) -> HTMLResponse:
        found = locate(session, lon, lat, settings=settings)
        data = incident_data(found, "事发点", [("经度", f"{lon:.6f}"), ("纬度", f"{lat:.6f}")],
                             *mapdata.incident_frames(session, found))
        return HTMLResponse(page_html(add_visibility(
            incident_map(data, basemap_for(settings)), video_coverage.views_of(session, found))))

    @router.get("/cameras/{code}", summary="One camera: its visibility polygon, the shadows "
                "of the buildings blocking it, its PTZ presets, the grids it covers")
    def camera_page(code: str, session: ReadSessionDep, settings: SettingsDep,
                    _: Reader) -> HTMLResponse:
        return HTMLResponse(page_html(camera_map(camera_page_data(session, code),
                                                 basemap_for(settings))))

    @router.get("/events/{event_id}", summary="Dispatcher view of a reported event")
    def event_page(event_id: EventId, session: SessionDep, settings: SettingsDep,
                   caller: Reader) -> HTMLResponse:
        check_event_readable(session, caller.area_code, event_id)
        event = get_event(session, event_id)
        stored = stored_assignment(session, event, settings)
        now = locate(session, event["lon"], event["lat"], settings=settings)
        stored.sites = now.sites  # sites nearby are shown, not assigned
        data = incident_data(stored, f"事件 #{event_id} {event['category']}",
                             event_details(event, stored, now),
                             *mapdata.incident_frames(session, stored))
        return HTMLResponse(page_html(add_visibility(
            incident_map(data, basemap_for(settings)), video_coverage.views_of(session, stored))))



def _changeset_routes(router: APIRouter) -> None:
    @router.get("/changesets/{changeset_id}", summary="A draft changeset: before/after swipe")
    def changeset_page(changeset_id: ChangesetId, session: SessionDep, settings: SettingsDep,
                       _: Reader) -> HTMLResponse:
        found = get_changeset(session, changeset_id)
        impact = preview(session, changeset_id)
        data = ChangesetData(
            changeset_title(changeset_id, found.area_code, found.reason),
            impact.features, mapdata.changeset_context(session, changeset_id),
            mapdata.moved_buildings(session, changeset_id), impact.transfers)
        return HTMLResponse(page_html(changeset_map(data, basemap_for(settings))))

    @router.get("/changesets/{changeset_id}/draw",
                summary="Edit a draft's grids in the browser (posts reshapes to /planning)")
    def draw_page(changeset_id: ChangesetId, session: SessionDep, settings: SettingsDep,
                  _: Reader) -> HTMLResponse:
        found = get_changeset(session, changeset_id)
        fmap = drawing_map(drawing_title(changeset_id, found.area_code),
                           changeset_id, mapdata.draft_grids(session, changeset_id),
                           basemap_for(settings))
        return HTMLResponse(page_html(fmap))


BUILDINGS_BUDGET = 5000
"""Most building footprints the planner page draws (more: the page would be too heavy)."""


def planner_page(session: SessionDep, settings: ApiSettings, area: str | None,
                 tiles: bool | None = None) -> Any:
    """The planner map for ``area`` (default: the first district); its grids and micro-grids
    come as vector tiles when there are too many for one page (or as ``tiles`` says). The
    validation problems are not computed for the page: the browser fetches them from
    ``/planning/validate`` once the map is shown (cached per layer revision,
    api/validation_cache.py); a page with its grids in it takes their households from the
    same cached validation."""
    code, name = mapdata.area_or_default(session, area)
    counts = mapdata.feature_counts(session, code)
    tiled = tiles_wanted(counts["grids"] + counts["micro_grids"], tiles)
    data = planner_data(name, mapdata.admin_areas_under(session, code),
                        None if tiled else mapdata.grids_under(session, code),
                        None if tiled else VALIDATIONS.report(session, code, settings),
                        settings.plan_households_target,
                        focus=mapdata.area_bounds(session, code),
                        buildings=mapdata.buildings_within(session, code, BUILDINGS_BUDGET),
                        tiles_area=code if tiled else None,
                        problems_url=f"/planning/validate?{urlencode({'area': code})}"
                        "&format=geojson")
    fmap = planner_map(data, basemap_for(settings), metric_crs=settings.metric_srid)
    now = datetime.now(UTC)
    moved = grids_by_reassignments(session, now - timedelta(days=REASSIGNMENT_DAYS), now, code)
    add_reassignment_panel(fmap, moved, REASSIGNMENT_DAYS)
    return fmap


REASSIGNMENT_DAYS = 90
"""The planner page lists the grids by reassignments of the last 90 days."""


def events_page(session: SessionDep, settings: ApiSettings, area: str | None,
                start: Timestamp | None, end: Timestamp | None, category: str | None,
                bin_days: int | None) -> Any:
    """The events map for ``area`` over [start, end) (default: the last 30 days)."""
    code, name = mapdata.area_or_default(session, area)
    period = period_of(start, end, bin_days)
    return events_view(
        name, code, category, period, mapdata.grids_under(session, code),
        mapdata.event_counts(session, code, period.start, period.end, category,
                             period.bin_days),
        mapdata.events_in(session, code, period.start, period.end, category),
        mapdata.event_categories(session, code), basemap_for(settings), settings.metric_srid)
