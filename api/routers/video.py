"""Video linkage routes: point every camera at a spot, what cameras see (GeoJSON), and the
PTZ presets of a camera (read, replace, import from a file)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool

from api.audit import actor_of
from api.auth import Importer, Reader
from api.bodies import FILE_BODY
from api.deps import ReadSessionDep, SessionDep, SettingsDep
from api.routers.files import receive_upload
from api.schemas import FeatureCollection
from api.schemas.dispatch import CamerasHere, PresetImportReport, VideoCoverage
from geo import tempdir
from geo.fields import Coordinate, Text
from geo.locate import to_wgs84_point
from geo.roles import readable_area
from geo.video.commands import point_cameras_here
from geo.video.coverage import views_geojson
from geo.video.preset_file import import_presets
from geo.video.presets import CameraPresets, Preset, presets_of, replace_presets
from geo.video.road_coverage import area_coverage


def video_router() -> APIRouter:
    router = APIRouter(tags=["dispatch"])

    @router.get("/locate/cameras", response_model=CamerasHere,
                summary="Point all cameras here: pan/tilt/zoom or image offset for every "
                "camera in reach, best view first, blocked ones with blocked_by")
    def cameras_here(session: ReadSessionDep, settings: SettingsDep, _: Reader,
                     lon: Coordinate, lat: Coordinate,
                     crs: Text = Query("4326", max_length=100,
                                       description="4326, 4490, gcj02 or bd09")
                     ) -> dict[str, Any]:
        wlon, wlat = to_wgs84_point(lon, lat, crs)
        commands = point_cameras_here(session, wlon, wlat, settings)
        return {"lon": wlon, "lat": wlat,
                "cameras": [c.model_dump() for c in commands]}

    @router.get("/cameras/views", response_model=FeatureCollection,
                summary="Visibility polygons (current) of the cameras in a box, as GeoJSON")
    def camera_views(session: ReadSessionDep, _: Reader,
                     bbox: str = Query(..., description="west,south,east,north (WGS 84)"),
                     limit: int = Query(2000, ge=1, le=20_000)) -> dict[str, Any]:
        return views_geojson(session, bbox, limit)

    @router.get("/cameras/coverage", response_model=VideoCoverage,
                summary="Coverage with occlusion of an area: outdoor area, roads and "
                "entrances seen by online cameras; grids by uncovered households, sites by "
                "unseen entrances (at most 300 grids: 422 for a larger area)")
    def video_coverage(session: ReadSessionDep, caller: Reader,
                       area: str | None = Query(None, description="admin area or grid code;"
                                                " default: the key's area or the district"),
                       top: int = Query(50, ge=1, le=5000, description="grids and sites "
                                        "listed")) -> dict[str, Any]:
        return area_coverage(session, readable_area(caller.area_code, area), top)

    @router.get("/cameras/{code}/presets", response_model=CameraPresets,
                summary="A PTZ camera's presets (pan, tilt, FOV or zoom, range)")
    def camera_presets(session: SessionDep, _: Reader, code: str) -> CameraPresets:
        return presets_of(session, code)

    @router.put("/cameras/{code}/presets", response_model=CameraPresets,
                summary="Replace a PTZ camera's presets; its views are recomputed (planner "
                "or dispatcher)")
    def put_camera_presets(request: Request, session: SessionDep, caller: Importer, code: str,
                           presets: list[Preset] = Body(..., max_length=100)
                           ) -> CameraPresets:
        return replace_presets(session, code, presets, actor_of(request, caller))

    @router.post("/cameras/presets", response_model=PresetImportReport,
                 openapi_extra=FILE_BODY,
                 summary="Import PTZ presets from a CSV or GeoJSON file (camera_code, name, "
                 "pan_deg, tilt_deg, fov_deg or zoom, range_m): replaces the presets of every "
                 "camera in the file, all or nothing (planner or dispatcher)")
    async def import_camera_presets(request: Request, session: SessionDep, caller: Importer,
                                    encoding: str | None = Query(
                                        None, description="text encoding, e.g. GB18030")
                                    ) -> dict[str, Any]:
        with tempdir.scratch("gridlink-upload-") as tmp:
            path = await receive_upload(request, Path(tmp))
            report = await run_in_threadpool(import_presets, session, path,
                                             actor_of(request, caller), encoding)
        return asdict(report)

    return router
