"""Video linkage routes: point every camera at a spot, and what cameras see (GeoJSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.auth import Reader
from api.deps import ReadSessionDep, SettingsDep
from api.schemas import FeatureCollection
from api.schemas.dispatch import CamerasHere
from geo.fields import Coordinate, Text
from geo.locate import to_wgs84_point
from geo.video.commands import point_cameras_here
from geo.video.coverage import views_geojson


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

    return router
