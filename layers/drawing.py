"""Drawing page (网格绘制): edit a draft's grids in the browser with Leaflet-Geoman, snapping to
neighbouring edges, and post each edited shape back to the planning API as a draft edit
(``POST /planning/changesets/{id}/reshape``); the draft's validation
(``GET /planning/changesets/{id}/validate``) is then shown in a panel and its problems drawn
in red. The planning API reshapes the neighbours too; their new shapes are reloaded from
``GET /planning/changesets/{id}``."""

from __future__ import annotations

import folium
import geopandas as gpd
from branca.element import JavascriptLink
from folium.plugins import GeoMan

from layers.assets import STATIC_PREFIX
from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    json_literal,
    page_header,
    rounded_geojson,
    script,
)

GRID_COLOR = "#3182bd"
EDITED_COLOR = "#e6550d"
PROBLEM_COLOR = "#e31a1c"
NO_TOOLS = {f"draw{t}": False for t in ("Marker", "CircleMarker", "Polyline", "Rectangle",
                                          "Polygon", "Circle", "Text")}


def drawing_title(changeset_id: int, area_code: str) -> str:
    """The page title of the drawing page of draft ``changeset_id`` of area ``area_code``."""
    return f"网格绘制 · 草案 #{changeset_id}（{area_code}）"


def drawing_map(title: str, changeset_id: int, grids: gpd.GeoDataFrame,
                basemap: Basemap) -> folium.Map:
    """The drawing page for draft ``changeset_id`` over its ``grids`` (code, name, households).

    Only the edit tool is offered (no new shapes, no deletion: split/merge have their own API
    calls). Snapping to the vertices and edges of the other grids is on (15 px).
    """
    bounds = grids.total_bounds if not grids.empty else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=title)
    group = folium.FeatureGroup(name="草案网格（可编辑）")
    group.add_to(fmap)
    folium.GeoJson(rounded_geojson(grids, ["code", "name", "households"], decimals=7),
                   style_function=lambda _f: {"color": GRID_COLOR, "weight": 2,
                                              "fillOpacity": 0.3},
                   tooltip=folium.GeoJsonTooltip(["code", "name"], aliases=["网格编码", "名称"]),
                   ).add_to(group)
    GeoMan(feature_group=group, **NO_TOOLS, cutPolygon=False, rotateMode=False,
           removalMode=False, dragMode=False, editMode=True).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_panel(fmap, group, changeset_id)
    add_legend(fmap, "网格绘制", [LegendEntry(GRID_COLOR, "草案网格"),
                                 LegendEntry(EDITED_COLOR, "已修改未保存"),
                                 LegendEntry(PROBLEM_COLOR, "校验问题")])
    return fmap


def _add_panel(fmap: folium.Map, group: folium.FeatureGroup, changeset_id: int) -> None:
    page_header(fmap).add_child(folium.Element(
        "<style>.gl-draw {background:white; padding:8px 10px; border-radius:4px; width:260px;"
        " font-size:13px; box-shadow:0 1px 4px rgba(0,0,0,.3);} .gl-draw input {width:100%;"
        " margin:4px 0;} .gl-draw .bad {color:#e31a1c;} .gl-draw .good {color:#1a9850;}"
        "</style>"), name="gridlink_draw")
    page_header(fmap).add_child(JavascriptLink(f"{STATIC_PREFIX}/gridlink/drawing.js"),
                                name="gridlink_drawing_js")
    options = {"changesetId": int(changeset_id),
               "base": f"/planning/changesets/{int(changeset_id)}", "gridColor": GRID_COLOR,
               "editedColor": EDITED_COLOR, "problemColor": PROBLEM_COLOR}
    script(fmap, f"glDrawing({fmap.get_name()}, {group.get_name()}, {json_literal(options)});")
