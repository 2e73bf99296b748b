"""Map layers of what cameras see: visibility polygons (after building occlusion) and blind
spots, added to the coverage and incident views (geo.video.coverage feeds them)."""

from __future__ import annotations

import folium
import geopandas as gpd

from layers.base import LegendEntry, add_legend, rounded_geojson

VIEW_COLOR = "#31a354"
OFFLINE_VIEW_COLOR = "#969696"
BLIND_COLOR = "#7a0177"


def add_visibility(fmap: folium.Map, views: gpd.GeoDataFrame,
                   blind: gpd.GeoDataFrame | None = None, decimals: int = 6) -> folium.Map:
    """Add the layers "可视区域（遮挡后）" (``views``: camera_code, status, area_m2, polygons
    in EPSG:4326) and, when given, "盲区" (``blind``: grid_code, area_m2) to ``fmap``, with
    their legend. Returns ``fmap``."""
    if not views.empty:
        shown = views.assign(area=views["area_m2"].round(0))
        folium.GeoJson(
            rounded_geojson(shown, ["camera_code", "status", "area"], decimals=decimals),
            name="可视区域（遮挡后）",
            style_function=lambda f: {
                "fillColor": VIEW_COLOR if f["properties"]["status"] == "online"
                else OFFLINE_VIEW_COLOR, "fillOpacity": 0.3, "color": VIEW_COLOR, "weight": 1},
            tooltip=folium.GeoJsonTooltip(["camera_code", "area"],
                                          aliases=["摄像机", "可视面积 m²"]),
        ).add_to(fmap)
    entries = [LegendEntry(VIEW_COLOR, "可视区域（建筑遮挡后）")]
    if blind is not None and not blind.empty:
        shown = blind.assign(area=blind["area_m2"].round(0))
        folium.GeoJson(
            rounded_geojson(shown, ["grid_code", "area"], decimals=decimals),
            name="盲区",
            style_function=lambda _: {"fillColor": BLIND_COLOR, "fillOpacity": 0.45,
                                      "color": BLIND_COLOR, "weight": 1},
            tooltip=folium.GeoJsonTooltip(["grid_code", "area"], aliases=["网格", "盲区面积 m²"]),
        ).add_to(fmap)
        entries.append(LegendEntry(BLIND_COLOR, "盲区（无在线摄像机可见）"))
    add_legend(fmap, "视频可视", entries)
    return fmap
