"""A grid worker's patrol route (巡查路线) for one day: the grid, the due sites and buildings
numbered in walking order, the straight legs between them, overdue stops in red.

Drawn from a :class:`geo.patrols.route.PatrolRoute` (lon/lat EPSG:4326, lengths in metres)
and the grid's outline. Numbers are Leaflet ``divIcon`` markers (no image, no plugin), so
the page works on a closed network like every other view.
"""

from __future__ import annotations

import html
from typing import Any

import folium
import geopandas as gpd

from geo.patrols.route import PatrolRoute
from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    json_literal,
    popup_table,
    rounded_geojson,
    script,
)

ROUTE_COLOR = "#2166ac"
DUE_COLOR = "#2166ac"
OVERDUE_COLOR = "#d7301f"
GRID_COLOR = "#4d4d4d"
FREQUENCY_NAMES = {"daily": "每日", "weekly": "每周", "monthly": "每月"}
LAYER_NAMES = {"sites": "场所", "buildings": "楼栋"}


def patrol_title(route: PatrolRoute) -> str:
    """``向阳一网格 巡查路线 2026-12-07（3 处，412 m）``."""
    return (f"{route.grid_name} 巡查路线 {route.day.isoformat()}"
            f"（{len(route.stops)} 处，{route.length_m:.0f} m）")


def patrol_map(route: PatrolRoute, grid: gpd.GeoDataFrame, basemap: Basemap) -> folium.Map:
    """The route map: ``grid`` (the grid's polygon, EPSG:4326, ``code``/``name`` columns)
    framing the view, the legs as one line and a numbered marker per stop. The stops' codes
    in order are ``window.glPatrolStops`` (for the browser tests)."""
    bounds = grid.total_bounds if not grid.empty else _stop_bounds(route)
    fmap = base_map(bounds, basemap, title=patrol_title(route))
    if not grid.empty:
        folium.GeoJson(rounded_geojson(grid, ["code", "name"]), name="网格",
                       style_function=lambda f: {"color": GRID_COLOR, "weight": 2,
                                                 "fillOpacity": 0.04, "dashArray": "6 4"},
                       tooltip=folium.GeoJsonTooltip(["code", "name"],
                                                     aliases=["网格编码", "网格名称"]),
                       ).add_to(fmap)
    if len(route.stops) > 1:
        line = folium.FeatureGroup(name="巡查路线")
        folium.PolyLine([[s["lat"], s["lon"]] for s in route.stops], color=ROUTE_COLOR,
                        weight=4, opacity=0.8, tooltip=f"巡查路线 {route.length_m:.0f} m",
                        ).add_to(line)
        line.add_to(fmap)
    group = folium.FeatureGroup(name="待巡查点")
    group.add_to(fmap)
    for stop in route.stops:
        _add_stop(group, stop)
    script(fmap, f"window.glPatrolStops = {json_literal([s['code'] for s in route.stops])};")
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "巡查路线（直线距离）", [
        LegendEntry(ROUTE_COLOR, f"路线 {route.length_m:.0f} m", line=True),
        LegendEntry(DUE_COLOR, "待巡查（数字为顺序）"), LegendEntry(OVERDUE_COLOR, "已逾期"),
        LegendEntry(GRID_COLOR, "网格边界", line=True)])
    return fmap


def _add_stop(group: folium.FeatureGroup, stop: dict[str, Any]) -> None:
    color = OVERDUE_COLOR if stop["overdue"] else DUE_COLOR
    rows = [("顺序", stop["order"]), ("名称", stop["name"]), ("编码", stop["code"]),
            ("类型", f"{LAYER_NAMES.get(str(stop['layer']), stop['layer'])} "
                     f"{stop['category']}"),
            ("频次", "、".join(FREQUENCY_NAMES.get(str(f), str(f)) for f in stop["frequencies"])),
            ("截止日期", stop["due_date"]), ("距上一处 m", stop["leg_m"]),
            ("逾期", "是" if stop["overdue"] else "否")]
    icon = folium.DivIcon(
        html=(f'<div class="gl-stop" style="background:{color};color:white;border-radius:50%;'
              "width:22px;height:22px;line-height:22px;text-align:center;font-size:12px;"
              f'font-weight:bold;border:2px solid white">{html.escape(str(stop["order"]))}'
              "</div>"), icon_size=(26, 26), icon_anchor=(13, 13))
    folium.Marker([stop["lat"], stop["lon"]], icon=icon,
                  tooltip=f"{stop['order']}. {stop['name']}",
                  popup=folium.Popup(popup_table(rows), max_width=320)).add_to(group)


def _stop_bounds(route: PatrolRoute) -> tuple[float, float, float, float]:
    lons = [float(s["lon"]) for s in route.stops] or [0.0]
    lats = [float(s["lat"]) for s in route.stops] or [0.0]
    return min(lons), min(lats), max(lons), max(lats)
