"""Camera coverage view (视频覆盖): every camera's view wedge in an area and, per grid, the
share of its area that some online camera sees; grids nobody sees stand out in red hatching."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd

from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    popup_table,
    rounded_geojson,
)
from layers.grids import bin_color

COVERAGE_BINS: tuple[tuple[float, str, str], ...] = (
    (1e-9, "#d7301f", "无覆盖 0%"), (0.10, "#fc8d59", "< 10%"), (0.30, "#fee08b", "10–30%"),
    (0.60, "#d9ef8b", "30–60%"), (math.inf, "#1a9850", "≥ 60%"))
"""Share of a grid's area seen by an online camera: (upper bound exclusive, colour, label)."""

ONLINE_COLOR = "#2b8cbe"
OFFLINE_COLOR = "#969696"
COVERING_COLOR = "#1a9850"
NOT_COVERING_COLOR = "#fd8d3c"
CAMERA_TYPES = {"fixed": "枪机", "dome": "球机", "ptz": "云台"}


def coverage_map(title: str, grids: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame,
                 basemap: Basemap) -> folium.Map:
    """The coverage view.

    Parameters
    ----------
    grids : grids with ``covered_share`` (0-1), ``area_m2``, ``covered_m2`` (EPSG:4326).
    cameras : cameras with wedge polygons (``geom``), lon, lat, status, stream_url...
    """
    frame = grids if not grids.empty else cameras
    bounds = frame.total_bounds if not frame.empty else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=title)
    if not grids.empty:
        grids = grids.assign(
            pct=[round(100 * float(s), 1) for s in grids["covered_share"]],
            fill=[bin_color(float(s), COVERAGE_BINS) for s in grids["covered_share"]],
            none=[float(s) <= 0 for s in grids["covered_share"]])
        folium.GeoJson(
            rounded_geojson(grids, ["code", "name", "pct", "fill", "none"], decimals=5),
            name="网格视频覆盖率",
            style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.55,
                                      "color": "#d7301f" if f["properties"]["none"] else "#525252",
                                      "weight": 3 if f["properties"]["none"] else 1},
            tooltip=folium.GeoJsonTooltip(["code", "name", "pct"],
                                          aliases=["网格编码", "网格名称", "覆盖率 %"]),
        ).add_to(fmap)
    add_camera_wedges(fmap, cameras, name="摄像机视域")
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "网格视频覆盖率", [
        *(LegendEntry(c, label) for _, c, label in COVERAGE_BINS),
        LegendEntry(ONLINE_COLOR, "在线摄像机视域"), LegendEntry(OFFLINE_COLOR, "离线摄像机视域")])
    return fmap


def camera_popup(row: gpd.GeoSeries, extra: Sequence[tuple[str, object]] = ()) -> str:
    """Popup of one camera: name, id, type, status, direction, range, stream address."""
    return popup_table([
        ("摄像机", row["name"]), ("编号", row["code"]),
        ("类型", CAMERA_TYPES.get(str(row["camera_type"]), row["camera_type"])),
        ("状态", "在线" if row["status"] == "online" else "离线"),
        ("方位角", f"{float(row['azimuth_deg']):.0f}°"),
        ("视场角", f"{float(row['fov_deg']):.0f}°"),
        ("可视距离", f"{float(row['range_m']):.0f} m"), *extra,
        ("视频流", row["stream_url"] or "—")])


def add_camera_wedges(fmap: folium.Map, cameras: gpd.GeoDataFrame, name: str,
                      color_of: Mapping[str, str] | None = None,
                      extra: Mapping[str, Sequence[tuple[str, object]]] | None = None
                      ) -> folium.FeatureGroup:
    """Add each camera as a view wedge polygon plus a small position dot, in one layer.

    ``color_of`` maps camera code → colour (default: online blue / offline grey); ``extra``
    adds popup rows per camera code (e.g. distance).
    """
    group = folium.FeatureGroup(name=name)
    for _, row in cameras.iterrows():
        default = ONLINE_COLOR if row["status"] == "online" else OFFLINE_COLOR
        color = (color_of or {}).get(str(row["code"]), default)
        popup = folium.Popup(camera_popup(row, (extra or {}).get(str(row["code"]), ())),
                             max_width=320)
        wedge = folium.GeoJson(row.geometry.__geo_interface__,
                               style_function=lambda _f, c=color: {
                                   "color": c, "fillColor": c, "fillOpacity": 0.45, "weight": 1})
        popup.add_to(wedge)
        wedge.add_to(group)
        folium.CircleMarker([float(row["lat"]), float(row["lon"])], radius=4, color=color,
                            fill=True, fill_opacity=1.0, tooltip=str(row["name"])).add_to(group)
    group.add_to(fmap)
    return group
