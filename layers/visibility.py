"""Map layers of what cameras see: visibility polygons (after building occlusion), blind
spots, and roads and entrances seen or unseen, added to the coverage and incident views
(geo.video.coverage and geo.video.road_coverage feed them)."""

from __future__ import annotations

import folium
import geopandas as gpd

from layers.base import Legend, LegendEntry, add_legend, rounded_geojson

VIEW_COLOR = "#31a354"
OFFLINE_VIEW_COLOR = "#969696"
BLIND_COLOR = "#7a0177"
ROAD_SEEN_COLOR = "#1a9850"
ROAD_UNSEEN_COLOR = "#d7301f"


def add_visibility(fmap: folium.Map, views: gpd.GeoDataFrame,
                   blind: gpd.GeoDataFrame | None = None, decimals: int = 6) -> folium.Map:
    """Add the layers "可视区域（遮挡后）" (``views``: camera_code, status, area_m2, polygons
    in EPSG:4326) and, when given, "盲区" (``blind``: grid_code, area_m2; off until ticked
    in the layer control, as it may cover most of an area) to ``fmap``, their colours to
    its legend, its layer control last. Returns ``fmap``."""
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
            name="盲区", show=False,
            style_function=lambda _: {"fillColor": BLIND_COLOR, "fillOpacity": 0.45,
                                      "color": BLIND_COLOR, "weight": 1},
            tooltip=folium.GeoJsonTooltip(["grid_code", "area"], aliases=["网格", "盲区面积 m²"]),
        ).add_to(fmap)
        entries.append(LegendEntry(BLIND_COLOR, "盲区（无在线摄像机可见）"))
    _extend_legend(fmap, entries)
    _layer_control_last(fmap)
    return fmap


def add_road_coverage(fmap: folium.Map, roads: gpd.GeoDataFrame,
                      entrances: gpd.GeoDataFrame, decimals: int = 6) -> folium.Map:
    """Add "道路覆盖" (``roads``: code, name, kind, seen, length_m, lines in EPSG:4326; seen
    pieces green, unseen red) and "出入口覆盖" (``entrances``: code, name, site_code, kind,
    seen, points; seen green, unseen red) to ``fmap``, with their legend entries, its layer
    control last. Empty frames add nothing. Returns ``fmap``."""
    entries = []
    if not roads.empty:
        shown = roads.assign(length=roads["length_m"].round(0),
                             state=["可见" if s else "盲区" for s in roads["seen"]],
                             name=roads["name"].fillna("—"))
        folium.GeoJson(
            rounded_geojson(shown, ["code", "name", "kind", "state", "length", "seen"],
                            decimals=decimals),
            name="道路覆盖",
            style_function=lambda f: {
                "color": ROAD_SEEN_COLOR if f["properties"]["seen"] else ROAD_UNSEEN_COLOR,
                "weight": 3, "opacity": 0.9},
            tooltip=folium.GeoJsonTooltip(["code", "name", "kind", "state", "length"],
                                          aliases=["道路", "名称", "等级", "状态", "长度 m"]),
        ).add_to(fmap)
        entries += [LegendEntry(ROAD_SEEN_COLOR, "道路：在线摄像机可见"),
                    LegendEntry(ROAD_UNSEEN_COLOR, "道路：无摄像机可见")]
    if not entrances.empty:
        shown = entrances.assign(state=["可见" if s else "盲区" for s in entrances["seen"]],
                                 name=entrances["name"].fillna("—"),
                                 kind=entrances["kind"].fillna("—"))
        folium.GeoJson(
            rounded_geojson(shown, ["code", "name", "site_code", "kind", "state", "seen"],
                            decimals=decimals),
            name="出入口覆盖",
            marker=folium.CircleMarker(radius=6, fill=True, fill_opacity=0.9),
            style_function=lambda f: {"color": "#000000", "weight": 1, "fillColor":
                                      ROAD_SEEN_COLOR if f["properties"]["seen"]
                                      else ROAD_UNSEEN_COLOR},
            tooltip=folium.GeoJsonTooltip(["code", "name", "site_code", "kind", "state"],
                                          aliases=["出入口", "名称", "场所", "类型", "状态"]),
        ).add_to(fmap)
        entries += [LegendEntry(ROAD_SEEN_COLOR, "出入口：可见"),
                    LegendEntry(ROAD_UNSEEN_COLOR, "出入口：不可见")]
    if entries:
        _extend_legend(fmap, entries)
        _layer_control_last(fmap)
    return fmap


def _extend_legend(fmap: folium.Map, entries: list[LegendEntry]) -> None:
    """Add ``entries`` to the map's legend (a page has one), or give it one."""
    for name, child in list(fmap._children.items()):
        if isinstance(child, Legend):
            del fmap._children[name]
            add_legend(fmap, child.title, [*child.entries, *entries])
            return
    add_legend(fmap, "视频可视", entries)


def _layer_control_last(fmap: folium.Map) -> None:
    """Render the map's layer control after the layers added here: its script refers to
    every layer's variable, which must be defined before it runs."""
    for name, child in list(fmap._children.items()):
        if isinstance(child, folium.LayerControl):
            fmap._children.move_to_end(name)
