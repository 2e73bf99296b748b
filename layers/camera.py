"""The camera page (摄像机): one camera's visibility polygon, the shadows of the buildings
that block it, its PTZ presets as sectors, and the grids it covers (geo.video.camera_page)."""

from __future__ import annotations

import math

import folium
import geopandas as gpd

from geo.video.camera_page import CameraPageData
from layers.base import Basemap, LegendEntry, add_legend, base_map, popup_table, rounded_geojson
from layers.visibility import VIEW_COLOR

SHADOW_COLOR = "#525252"
BUILDING_COLOR = "#8c510a"
PRESET_COLOR = "#2171b5"
GRID_COLOR = "#e31a1c"
CAMERA_TYPES = {"fixed": "枪机", "dome": "半球", "ptz": "云台球机"}


def camera_page_url(code: str) -> str:
    """Where the camera page of ``code`` is served (linked from the incident page)."""
    return f"/maps/cameras/{code}"


def camera_map(data: CameraPageData, basemap: Basemap) -> folium.Map:
    """The page of one camera: the square of its reach around it, the layers of the module
    docstring (each in the layer control), its marker (code, stream, grid) and a legend."""
    cam = data.camera
    dlat = float(cam["range_m"]) / 111_000.0
    dlon = dlat / max(0.1, math.cos(math.radians(float(cam["lat"]))))
    fmap = base_map((cam["lon"] - dlon, cam["lat"] - dlat, cam["lon"] + dlon,
                     cam["lat"] + dlat), basemap,
                    title=f"{cam['name']}（{cam['code']}）"
                          f" {CAMERA_TYPES.get(str(cam['camera_type']), '')}")
    _polygons(fmap, data.grids, "覆盖的网格", ["code", "name", "seen_m2"],
              ["网格", "名称", "可见面积 m²"], GRID_COLOR, 0.05)
    _polygons(fmap, data.view, "可视区域（遮挡后）", ["area_m2"], ["可视面积 m²"], VIEW_COLOR, 0.3)
    _polygons(fmap, data.shadows, "建筑遮挡的阴影",
              ["building_code", "building_name", "height_m", "near_m", "area_m2"],
              ["建筑", "名称", "高度 m（空：未知，完全遮挡）", "阴影起点 m", "阴影面积 m²"],
              SHADOW_COLOR, 0.35)
    _polygons(fmap, data.footprints, "遮挡的建筑", ["code", "name", "floors", "height_m"],
              ["建筑", "名称", "层数", "高度 m"], BUILDING_COLOR, 0.6)
    _polygons(fmap, data.presets, "预置位",
              ["preset", "pan_deg", "tilt_deg", "fov_deg", "zoom", "range_m", "area_m2"],
              ["预置位", "水平角 °", "俯仰角 °", "视场角 °", "变倍", "可视距离 m", "可视面积 m²"],
              PRESET_COLOR, 0.2)
    marker = folium.FeatureGroup(name="摄像机")
    folium.Marker([cam["lat"], cam["lon"]], tooltip=str(cam["name"]),
                  popup=folium.Popup(popup_table([
                      ("编号", cam["code"]), ("视频流", cam["stream_url"] or "—"),
                      ("网格", cam["grid_code"] or "—"), ("预置位", len(data.presets)),
                      ("遮挡建筑", len(data.footprints))]), max_width=360),
                  icon=folium.Icon(color="blue", icon="video", prefix="fa")).add_to(marker)
    marker.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "图例", [
        LegendEntry(VIEW_COLOR, "可视区域（建筑遮挡后）"),
        LegendEntry(SHADOW_COLOR, "建筑遮挡的阴影"),
        LegendEntry(BUILDING_COLOR, "遮挡的建筑"), LegendEntry(PRESET_COLOR, "预置位的可视范围"),
        LegendEntry(GRID_COLOR, "覆盖的网格", line=True)])
    return fmap


def _polygons(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str, fields: list[str],
              aliases: list[str], color: str, opacity: float) -> None:
    """One GeoJSON layer ``name`` of ``frame`` (EPSG:4326) with popups of ``fields``; an
    empty frame still gets its (empty) entry in the layer control."""
    group = folium.FeatureGroup(name=name)
    if not frame.empty:
        folium.GeoJson(
            rounded_geojson(frame, fields), name=name,
            style_function=lambda _: {"color": color, "weight": 1.5, "fillColor": color,
                                      "fillOpacity": opacity},
            popup=folium.GeoJsonPopup(fields, aliases=aliases),
        ).add_to(group)
    group.add_to(fmap)
