"""Map pages (HTML) for dispatchers and planners, and the /static assets they load.

Every page is rendered by ``layers/`` from data fetched via ``geo/``; every script, stylesheet
and font comes from ``/static`` (see ``layers/assets.py``), so pages work on a closed network.
All pages need a reader key (``X-API-Key``) like any read, or ``GRIDLINK_PUBLIC_READ=true``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Router

from api.auth import Reader
from api.deps import SessionDep, SettingsDep
from geo import mapdata
from geo.errors import ValidationFailed
from geo.locate import LocateResult, locate
from geo.planning.changesets import get_changeset
from geo.planning.preview import preview
from geo.planning.validate import validate_area
from geo.settings import PROJECT_ROOT, Settings
from layers.alarms import alarm_feature, alarms_map
from layers.assets import FOLIUM_TEMPLATES_DIR, LAYERS_STATIC_DIR, page_html
from layers.base import Basemap
from layers.changeset import ChangesetData, changeset_map
from layers.coverage import coverage_map
from layers.drawing import drawing_map
from layers.events import events_map
from layers.grids import PlannerData, planner_map, problem_features, simplify_coverage
from layers.grids import zoom_for_bounds as zoom_for
from layers.incident import IncidentData, incident_map
from layers.index import index_html

NODE_MODULES = PROJECT_ROOT / "node_modules"


def static_app() -> Router:
    """The ``/static`` tree: npm assets, folium's bundled scripts, gridlink's own files."""
    return Router(routes=[
        Mount("/npm", StaticFiles(directory=NODE_MODULES, check_dir=False)),
        Mount("/folium", StaticFiles(directory=FOLIUM_TEMPLATES_DIR)),
        Mount("/gridlink", StaticFiles(directory=LAYERS_STATIC_DIR)),
    ])


def basemap_for(settings: Settings) -> Basemap:
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
    def index(session: SessionDep, _: Reader, q: str | None = None) -> HTMLResponse:
        results = mapdata.search_units(session, q) if q else []
        return HTMLResponse(index_html(mapdata.top_areas(session), q, results))

    @router.get("/grids", summary="Planner view: hierarchy, households, problems")
    def grids(session: SessionDep, settings: SettingsDep, _: Reader,
              area: str | None = Query(None, description="admin area or grid code")
              ) -> HTMLResponse:
        return HTMLResponse(page_html(planner_page(session, settings, area)))

    @router.get("/coverage", summary="Camera view wedges and per-grid coverage share")
    def coverage(session: SessionDep, settings: SettingsDep, _: Reader,
                 area: str | None = None) -> HTMLResponse:
        code = area or mapdata.default_area(session)
        name = mapdata.area_outline(session, code)[1]
        cov = mapdata.grid_camera_coverage(session, code)
        fmap = coverage_map(f"{name} 视频覆盖", cov, mapdata.camera_wedges(session, code),
                            basemap_for(settings))
        return HTMLResponse(page_html(fmap))

    @router.get("/events", summary="Events over time: heat map, per-grid counts, clusters")
    def events(session: SessionDep, settings: SettingsDep, _: Reader,
               area: str | None = None, start: datetime | None = None,
               end: datetime | None = None, category: str | None = None,
               bin_days: int | None = Query(None, ge=1, le=366,
                                            description="slider step; default: ≤ 12 steps")
               ) -> HTMLResponse:
        return HTMLResponse(page_html(events_page(session, settings, area, start, end,
                                                  category, bin_days)))



def _dispatch_routes(router: APIRouter) -> None:
    @router.get("/alarms", summary="Live one-click alarm board")
    def alarms(session: SessionDep, settings: SettingsDep, caller: Reader,
               area: str | None = None) -> HTMLResponse:
        code = area or mapdata.default_area(session)
        name = mapdata.area_outline(session, code)[1]
        bounds = mapdata.admin_areas_by_code(session, [code]).total_bounds
        if not all(pd.notna(bounds)):
            bounds = mapdata.grids_by_code(session, [code]).total_bounds
        recent = mapdata.alarms_after(session, 0, limit=200)
        stream = "/alarms/stream" if caller.role in ("dispatcher", "admin") else None
        fmap = alarms_map(f"{name} 实时报警", bounds, recent, "/maps/alarms/feed",
                          basemap_for(settings), stream_url=stream)
        return HTMLResponse(page_html(fmap))

    @router.get("/alarms/feed", response_class=JSONResponse,
                summary="Alarms newer than ?after=<id> as GeoJSON features (polled by /alarms)")
    def alarm_feed(session: SessionDep, _: Reader, after: int = 0) -> dict[str, Any]:
        rows = mapdata.alarms_after(session, after)
        return {"alarms": [alarm_feature(r) for r in rows],
                "last_id": max((int(r["id"]) for r in rows), default=after)}

    @router.get("/locate", summary="Dispatcher view of a spot (WGS 84 lon/lat)")
    def locate_page(session: SessionDep, settings: SettingsDep, _: Reader, lon: float,
                    lat: float) -> HTMLResponse:
        found = locate(session, lon, lat, settings=settings)
        data = incident_data(session, found, "事发点", [("经度", f"{lon:.6f}"),
                                                       ("纬度", f"{lat:.6f}")])
        return HTMLResponse(page_html(incident_map(data, basemap_for(settings))))

    @router.get("/events/{event_id}", summary="Dispatcher view of a reported event")
    def event_page(event_id: int, session: SessionDep, settings: SettingsDep,
                   _: Reader) -> HTMLResponse:
        event = mapdata.event_point(session, event_id)
        found = locate(session, event["lon"], event["lat"], settings=settings)
        details = [("事件", event["id"]), ("类别", event["category"]),
                   ("描述", event["description"]), ("状态", event["status"]),
                   ("上报时间", event["reported_at"])]
        data = incident_data(session, found, f"事件 #{event_id} {event['category']}", details)
        return HTMLResponse(page_html(incident_map(data, basemap_for(settings))))



def _changeset_routes(router: APIRouter) -> None:
    @router.get("/changesets/{changeset_id}", summary="A draft changeset: before/after swipe")
    def changeset_page(changeset_id: int, session: SessionDep, settings: SettingsDep,
                       _: Reader) -> HTMLResponse:
        found = get_changeset(session, changeset_id)
        impact = preview(session, changeset_id)
        data = ChangesetData(
            f"调整方案 #{changeset_id}（{found.area_code}）{found.reason or ''}",
            impact.features, mapdata.changeset_context(session, changeset_id),
            mapdata.moved_buildings(session, changeset_id), impact.transfers)
        return HTMLResponse(page_html(changeset_map(data, basemap_for(settings))))

    @router.get("/changesets/{changeset_id}/draw",
                summary="Edit a draft's grids in the browser (posts reshapes to /planning)")
    def draw_page(changeset_id: int, session: SessionDep, settings: SettingsDep,
                  _: Reader) -> HTMLResponse:
        found = get_changeset(session, changeset_id)
        fmap = drawing_map(f"网格绘制 · 草案 #{changeset_id}（{found.area_code}）",
                           changeset_id, mapdata.draft_grids(session, changeset_id),
                           basemap_for(settings))
        return HTMLResponse(page_html(fmap))


BUILDINGS_BUDGET = 5000
"""Most building footprints the planner page draws (more: the page would be too heavy)."""


def planner_page(session: SessionDep, settings: Settings, area: str | None) -> Any:
    """The planner map for ``area`` (default: the first district)."""
    code = area or mapdata.default_area(session)
    _, name, _ = mapdata.area_outline(session, code)
    areas = mapdata.admin_areas_under(session, code)
    grids = mapdata.grids_under(session, code)
    report = validate_area(session, code, settings=settings)
    counted = {g.code: g.households for g in report.grids}  # geo.grid_counts, as everywhere
    grids["households"] = grids["code"].map(counted).fillna(grids["households"]).astype(int)
    deviation = {g.code: g.deviation for g in report.grids if g.level == "grid"}
    problems = problem_features([p.__dict__ for p in report.problems])
    data = PlannerData(f"{name} 网格规划", areas, grids, deviation,
                       settings.plan_households_target, problems,
                       focus=mapdata.area_bounds(session, code),
                       buildings=mapdata.buildings_within(session, code, BUILDINGS_BUDGET))
    return planner_map(data, basemap_for(settings), metric_crs=settings.metric_srid)


def events_page(session: SessionDep, settings: Settings, area: str | None,
                start: datetime | None, end: datetime | None, category: str | None,
                bin_days: int | None) -> Any:
    """The events map for ``area`` over [start, end) (default: the last 30 days)."""
    code = area or mapdata.default_area(session)
    _, name, _ = mapdata.area_outline(session, code)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    if start >= end or (end - start).days > 3660:
        raise ValidationFailed("start must be before end, at most 10 years apart",
                               [{"field": "start", "value": str(start)},
                                {"field": "end", "value": str(end)}])
    bin_days = bin_days or max(1, math.ceil((end - start).total_seconds() / 86400 / 12))
    grids = mapdata.grids_under(session, code)
    grids = grids[(grids["level"] == "grid") & (grids["kind"] != "dedicated")]
    if not grids.empty:
        grids = simplify_coverage(grids, zoom_for(grids.total_bounds), settings.metric_srid)
    counts = mapdata.event_counts(session, code, start, end, category, bin_days)
    bins = list(pd.date_range(start, end, freq=f"{bin_days}D", inclusive="left"))
    found = mapdata.events_in(session, code, start, end, category)
    label = f"{name} 事件分析" + (f"（{category}）" if category else "")
    query = {"area": code, "start": start.isoformat(), "end": end.isoformat(),
             "bin_days": bin_days}
    links = [("全部", "/maps/events?" + urlencode(query))] + [
        (c, "/maps/events?" + urlencode({**query, "category": c}))
        for c in mapdata.event_categories(session, code)]
    return events_map(label, grids, counts, bins, found, basemap_for(settings),
                      categories=links)


def incident_data(session: SessionDep, found: LocateResult, label: str,
                  details: list[tuple[str, Any]]) -> IncidentData:
    """Gather the polygons, camera wedges and site positions the incident view draws."""
    chain_codes = [r.code for r in (found.district, found.street, found.community) if r]
    grid_codes = [r.code for r in (found.grid, found.micro_grid) if r]
    chain = pd.concat([mapdata.admin_areas_by_code(session, chain_codes),
                       mapdata.grids_by_code(session, grid_codes)], ignore_index=True)
    hits = [*found.cameras, *found.other_cameras]
    cameras = mapdata.camera_wedges(session, codes=[c.code for c in hits])
    points = mapdata.site_points(session, [s.code for s in found.sites])
    sites = [{**s.model_dump(), "lon": points[s.code][0], "lat": points[s.code][1]}
             for s in found.sites if s.code in points]
    grid = found.grid.name + f"（{found.grid.code}）" if found.grid else "不在任何网格内"
    return IncidentData(
        title=f"{label} · {grid}", lon=found.lon, lat=found.lat, label=label,
        details=[*details, ("网格", grid)], chain=chain, cameras=cameras,
        covering={c.code for c in found.cameras},
        distances={c.code: c.distance_m for c in hits},
        workers=[w.model_dump() for w in found.workers], sites=sites)
