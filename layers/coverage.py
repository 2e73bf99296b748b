"""Camera coverage view (视频覆盖): every camera's view wedge in an area and, per grid, the
share of its area that some online camera sees; grids nobody sees stand out in red hatching."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd

from layers.base import Basemap, LegendEntry, add_legend, base_map, rounded_geojson
from layers.grids import bin_color
from layers.tiles import VectorTiles, binned_fill_style, keyed_line_style, tile_url

COVERAGE_BINS: tuple[tuple[float, str, str], ...] = (
    (1e-9, "#d7301f", "无覆盖 0%"), (0.10, "#fc8d59", "< 10%"), (0.30, "#fee08b", "10–30%"),
    (0.60, "#d9ef8b", "30–60%"), (math.inf, "#1a9850", "≥ 60%"))
"""Share of a grid's area seen by an online camera: (upper bound exclusive, colour, label)."""

ONLINE_COLOR = "#2b8cbe"
OFFLINE_COLOR = "#969696"
COVERING_COLOR = "#1a9850"
NOT_COVERING_COLOR = "#fd8d3c"
MAX_CAMERA_DOTS = 300
"""Above this many cameras the position dots are left out (each wedge's tip is the camera)."""
CAMERA_TYPES = {"fixed": "枪机", "dome": "球机", "ptz": "云台"}


def coverage_map(title: str, grids: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame,
                 basemap: Basemap, max_dots: int = MAX_CAMERA_DOTS) -> folium.Map:
    """The coverage view.

    Parameters
    ----------
    grids : grids with ``covered_share`` (0-1), ``area_m2``, ``covered_m2`` (EPSG:4326).
    cameras : cameras with wedge polygons (``geom``), lon, lat, status, stream_url...
    max_dots : above this many cameras no position dots are drawn (page size).
    """
    frame = grids if not grids.empty else cameras
    bounds = frame.total_bounds if not frame.empty else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=title, canvas=True)
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
    add_camera_wedges(fmap, cameras, name="摄像机视域", decimals=5,
                      dots=len(cameras) <= max_dots)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_coverage_legend(fmap)
    return fmap


def coverage_tiles_map(title: str, bounds: Sequence[float], area: str,
                       basemap: Basemap) -> folium.Map:
    """The coverage view of a large area from vector tiles (``/tiles``: coverage, cameras
    and, off until ticked, their visibility polygons, limited to ``area``): same colours,
    legend and popups as :func:`coverage_map`, fitted to lon/lat ``bounds``; no position
    dots (each wedge's tip is the camera)."""
    fmap = base_map(bounds, basemap, title=title, canvas=True)
    VectorTiles("coverage", tile_url("coverage", area), "网格视频覆盖率",
                binned_fill_style("covered_share", COVERAGE_BINS, empty_outline="#d7301f"),
                [("code", "网格编码"), ("name", "网格名称"), ("covered_pct", "覆盖率 %")],
                bounds=bounds).add_to(fmap)
    VectorTiles("cameras", tile_url("cameras", area), "摄像机视域",
                keyed_line_style("status", {"online": ONLINE_COLOR}, OFFLINE_COLOR),
                CAMERA_TILE_FIELDS, bounds=_padded_for_wedges(bounds)).add_to(fmap)
    VectorTiles("views", tile_url("views", area), "可见区域（扣除建筑遮挡）",
                keyed_line_style("status", {"online": ONLINE_COLOR}, OFFLINE_COLOR),
                [("camera_code", "摄像机编号"), ("preset", "预置位"), ("area_m2", "可见面积 m²")],
                bounds=_padded_for_wedges(bounds), show=False).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_coverage_legend(fmap)
    return fmap


def _padded_for_wedges(bounds: Sequence[float], pad_deg: float = 0.003) -> list[float]:
    """``bounds`` grown by ``pad_deg`` (~300 m): wedges of cameras near the edge reach out."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    return [minx - pad_deg, miny - pad_deg, maxx + pad_deg, maxy + pad_deg]


def _add_coverage_legend(fmap: folium.Map) -> None:
    add_legend(fmap, "网格视频覆盖率", [
        *(LegendEntry(c, label) for _, c, label in COVERAGE_BINS),
        LegendEntry(ONLINE_COLOR, "在线摄像机视域"), LegendEntry(OFFLINE_COLOR, "离线摄像机视域")])


CAMERA_TILE_FIELDS = (("name", "摄像机"), ("code", "编号"), ("camera_type", "类型"),
                      ("status", "状态"), ("azimuth_deg", "方位角 °"), ("fov_deg", "视场角 °"),
                      ("range_m", "可视距离 m"), ("stream_url", "视频流"))
"""Popup fields of the cameras tile layer (raw values: type and status as stored)."""

CAMERA_FIELDS = (("name", "摄像机"), ("code", "编号"), ("type", "类型"), ("state", "状态"),
                 ("azimuth", "方位角 °"), ("fov", "视场角 °"), ("range", "可视距离 m"),
                 ("stream_url", "视频流"))


def camera_features(cameras: gpd.GeoDataFrame, color_of: Mapping[str, str] | None = None,
                    extra: Mapping[str, Mapping[str, object]] | None = None,
                    decimals: int = 6) -> dict[str, Any]:
    """Camera wedges as one FeatureCollection whose properties feed popups and styles.

    ``color_of``: camera code → colour (default online blue / offline grey); ``extra``:
    camera code → additional popup properties (e.g. distance).
    """
    rows = cameras.assign(
        type=[CAMERA_TYPES.get(str(t), str(t)) for t in cameras["camera_type"]],
        state=["在线" if s == "online" else "离线" for s in cameras["status"]],
        azimuth=[round(float(a)) for a in cameras["azimuth_deg"]],
        fov=[round(float(f)) for f in cameras["fov_deg"]],
        range=[round(float(r)) for r in cameras["range_m"]],
        color=[(color_of or {}).get(str(c), ONLINE_COLOR if s == "online" else OFFLINE_COLOR)
               for c, s in zip(cameras["code"], cameras["status"], strict=True)])
    rows = rows.assign(stream_url=rows["stream_url"].fillna("—"))
    fc = rounded_geojson(rows, [f for f, _ in CAMERA_FIELDS] + ["color", "lon", "lat"],
                         decimals=decimals)
    for feature in fc["features"]:
        feature["properties"].update((extra or {}).get(feature["properties"]["code"], {}))
    return fc


def add_camera_wedges(fmap: folium.Map, cameras: gpd.GeoDataFrame, name: str,
                      color_of: Mapping[str, str] | None = None,
                      extra: Mapping[str, Mapping[str, object]] | None = None,
                      extra_fields: Sequence[tuple[str, str]] = (),
                      decimals: int = 6, dots: bool = True) -> folium.FeatureGroup:
    """Add every camera's view wedge (one GeoJSON layer, popups with the stream address) and,
    when ``dots``, its position dot (a second one) to a single layer-control entry ``name``."""
    group = folium.FeatureGroup(name=name)
    if cameras.empty:
        group.add_to(fmap)
        return group
    fc = camera_features(cameras, color_of, extra, decimals)
    fields = [*CAMERA_FIELDS, *extra_fields]
    folium.GeoJson(
        fc, style_function=lambda f: {"color": f["properties"]["color"], "weight": 1,
                                      "fillColor": f["properties"]["color"], "fillOpacity": 0.45},
        popup=folium.GeoJsonPopup([f for f, _ in fields], aliases=[a for _, a in fields]),
    ).add_to(group)
    if not dots:
        group.add_to(fmap)
        return group
    points = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f["properties"]["name"],
                                           "color": f["properties"]["color"]},
         "geometry": {"type": "Point", "coordinates": [f["properties"]["lon"],
                                                       f["properties"]["lat"]]}}
        for f in fc["features"]]}
    folium.GeoJson(points, marker=folium.CircleMarker(radius=4, fill=True, fill_opacity=1.0),
                   style_function=lambda f: {"color": f["properties"]["color"],
                                             "fillColor": f["properties"]["color"]},
                   tooltip=folium.GeoJsonTooltip(["name"], labels=False)).add_to(group)
    group.add_to(fmap)
    return group
