"""Changeset view (调整方案): grids before and after a draft with a swipe bar (卷帘: the left
of the bar shows the published shapes, the right the draft), the buildings that change grid,
and the transfer of households between grids as arrows labelled with counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
from shapely.geometry import shape

from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    page_header,
    popup_table,
    rounded_geojson,
    script,
)

BEFORE_COLOR = "#2166ac"
AFTER_COLOR = "#e66101"
MOVED_COLOR = "#d01c8b"
CONTEXT_COLOR = "#969696"
ACTION_NAMES = {"put": "修改/新建", "retire": "撤销"}


@dataclass
class ChangesetData:
    """What the changeset view draws (lon/lat).

    ``shapes``: GeoJSON features with properties state (before/after), code, name, action.
    ``context``: untouched grids around. ``moved``: buildings changing grid (from_code,
    to_code, households). ``transfers``: planning preview rows (kind, from, to, count,
    households).
    """

    title: str
    shapes: Sequence[dict[str, Any]]
    context: gpd.GeoDataFrame
    moved: gpd.GeoDataFrame
    transfers: Sequence[dict[str, Any]]


def changeset_title(changeset_id: int, area_code: str, reason: str | None) -> str:
    """The page title of draft ``changeset_id`` of area ``area_code``."""
    return f"调整方案 #{changeset_id}（{area_code}）{reason or ''}"


def changeset_map(data: ChangesetData, basemap: Basemap) -> folium.Map:
    """The changeset view with before/after panes and a swipe bar."""
    feats = list(data.shapes)
    frame = gpd.GeoDataFrame(geometry=[shape(f["geometry"]) for f in feats], crs=4326)
    bounds = frame.total_bounds if feats else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=data.title)
    if not data.context.empty:
        folium.GeoJson(rounded_geojson(data.context, ["code", "name"], decimals=6),
                       name="未调整网格",
                       style_function=lambda _f: {"color": CONTEXT_COLOR, "weight": 1,
                                                  "fillOpacity": 0.05},
                       tooltip=folium.GeoJsonTooltip(["code", "name"],
                                                     aliases=["网格编码", "网格名称"])).add_to(fmap)
    for state, name, color in (("before", "调整前", BEFORE_COLOR),
                               ("after", "调整后", AFTER_COLOR)):
        folium.map.CustomPane(f"gl-{state}", z_index=410 if state == "before" else 420
                              ).add_to(fmap)
        chosen = [f for f in feats if f["properties"]["state"] == state]
        if chosen:
            folium.GeoJson({"type": "FeatureCollection", "features": chosen}, name=name,
                           style_function=lambda _f, c=color: {"color": c, "weight": 3,
                                                               "fillColor": c,
                                                               "fillOpacity": 0.35},
                           tooltip=folium.GeoJsonTooltip(["code", "name", "action"],
                                                         aliases=["网格编码", "网格名称", "操作"]),
                           pane=f"gl-{state}").add_to(fmap)
    _add_transfers(fmap, feats, data.transfers)
    _add_moved(fmap, data.moved)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_swipe(fmap)
    add_legend(fmap, "调整方案（拖动卷帘对比）", [
        LegendEntry(BEFORE_COLOR, "调整前（左）"), LegendEntry(AFTER_COLOR, "调整后（右）"),
        LegendEntry(MOVED_COLOR, "改变网格的楼栋"), LegendEntry("#000000", "户数转移", True),
        LegendEntry(CONTEXT_COLOR, "未调整网格")])
    return fmap


def _anchor(feats: Sequence[dict[str, Any]], code: str | None, state: str) -> list[float] | None:
    """[lat, lon] of a point inside grid ``code``'s ``state`` shape, or None."""
    for f in feats:
        if f["properties"]["code"] == code and f["properties"]["state"] == state:
            p = shape(f["geometry"]).representative_point()
            return [p.y, p.x]
    return None


def _add_transfers(fmap: folium.Map, feats: Sequence[dict[str, Any]],
                   transfers: Sequence[dict[str, Any]]) -> None:
    group = folium.FeatureGroup(name="户数转移")
    for t in transfers:
        if t.get("kind") != "buildings" or not t.get("from") or not t.get("to"):
            continue
        start, end = _anchor(feats, t["from"], "before"), _anchor(feats, t["to"], "after")
        if start is None or end is None:
            continue
        label = f"{t['from']} → {t['to']}：{t['households']} 户，{t['count']} 栋"
        folium.PolyLine([start, end], color="#000000", weight=3, dash_array="6 4",
                        tooltip=label).add_to(group)
        folium.CircleMarker(end, radius=5, color="#000000", fill=True, fill_opacity=1,
                            tooltip=label).add_to(group)
    group.add_to(fmap)


def _add_moved(fmap: folium.Map, moved: gpd.GeoDataFrame) -> None:
    group = folium.FeatureGroup(name="改变网格的楼栋")
    for _, row in moved.iterrows():
        folium.CircleMarker(
            [row.geometry.y, row.geometry.x], radius=5, color=MOVED_COLOR, fill=True,
            fill_opacity=0.9, tooltip=f"{row['name'] or row['code']}：{row['households']} 户",
            popup=folium.Popup(popup_table([
                ("楼栋", row["code"]), ("名称", row["name"]), ("户数", row["households"]),
                ("原网格", row["from_code"] or "无"), ("新网格", row["to_code"] or "无")]),
                max_width=300)).add_to(group)
    group.add_to(fmap)


def _add_swipe(fmap: folium.Map) -> None:
    """A vertical bar the user drags: the before pane is clipped to its left, after to its
    right (the idea of leaflet-side-by-side, in a few lines, no extra asset)."""
    page_header(fmap).add_child(folium.Element(
        "<style>#gl-swipe {position:absolute; top:0; bottom:0; left:0; right:0; z-index:800;"
        " width:100%; margin:0; background:transparent; pointer-events:none;"
        " -webkit-appearance:none; appearance:none;}"
        " #gl-swipe::-webkit-slider-thumb {pointer-events:auto; -webkit-appearance:none;"
        " width:12px; height:64px; background:#333; border-radius:4px; cursor:ew-resize;}"
        " .gl-swipe-line {position:absolute; top:0; bottom:0; width:2px; background:#333;"
        " z-index:799; pointer-events:none;}</style>"), name="gridlink_swipe")
    script(fmap, f"""
    (function() {{
      var map = {fmap.get_name()}, box = map.getContainer();
      var range = L.DomUtil.create('input', '', box), line = L.DomUtil.create('div',
          'gl-swipe-line', box);
      range.type = 'range'; range.min = 0; range.max = 1; range.step = 'any'; range.value = 0.5;
      range.id = 'gl-swipe';
      L.DomEvent.disableClickPropagation(range);
      function clip() {{
        var nw = map.containerPointToLayerPoint([0, 0]),
            se = map.containerPointToLayerPoint(map.getSize()),
            x = map.containerPointToLayerPoint([map.getSize().x * range.value, 0]).x;
        line.style.left = (map.getSize().x * range.value - 1) + 'px';
        map.getPane('gl-before').style.clip =
            'rect(' + [nw.y, x, se.y, nw.x].join('px,') + 'px)';
        map.getPane('gl-after').style.clip =
            'rect(' + [nw.y, se.x, se.y, x].join('px,') + 'px)';
      }}
      range.addEventListener('input', clip);
      map.on('move', clip); clip();
      window.glSwipe = function(v) {{ range.value = v; clip(); }};
    }})();""")
