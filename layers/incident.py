"""Dispatcher incident view (指挥调度): the incident, its grid chain, responsible workers,
the cameras that see the spot (green wedges) and those that do not (orange/grey), nearby sites."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd

from geo.locate import BoundaryDoubt, LocateResult, Ref
from layers.base import Basemap, LegendEntry, add_legend, add_panel, base_map, popup_table
from layers.camera import camera_page_url
from layers.coverage import (
    COVERING_COLOR,
    NOT_COVERING_COLOR,
    OFFLINE_COLOR,
    add_camera_wedges,
)

CHAIN_STYLE = {
    "district": ("区/县", "#000000", 4), "street": ("街道", "#4d4d4d", 3),
    "community": ("社区", "#7f3b08", 3), "grid": ("网格", "#e31a1c", 4),
    "micro": ("微网格", "#fb9a99", 2), "candidate": ("边界存疑的相邻网格", "#ff7f00", 3),
}
RULE_NAMES = {"inside": "点在所选网格内", "smallest_code": "点在共用边界上，取编码最小的网格",
              "nearest": "点在所有网格外，归入最近的网格", "reassigned": "调度员已改派",
              "none": "未归入任何网格"}
"""Why the chosen grid won (:class:`geo.locate.BoundaryDoubt` ``rule``), in Chinese."""
ROLE_NAMES = {"grid_leader": "网格长", "grid_worker": "专职网格员", "helper": "微网格员"}
SITE_CATEGORY = {"school": "学校", "kindergarten": "幼儿园", "compound": "小区", "market": "市场",
                 "hospital": "医院", "party_station": "党群服务站", "enterprise": "重点企业",
                 "canteen": "小饭桌", "waste_station": "垃圾站"}
INCIDENT_COLOR = "red"


@dataclass
class IncidentData:
    """What the incident view draws (lon/lat EPSG:4326; distances in metres).

    ``chain``: polygons of the grid chain with a ``level`` column (district ... micro).
    ``cameras``: camera wedges (``geom``) with lon/lat; ``covering``: codes of cameras that see
    the spot; ``distances``: camera code → metres. ``workers``/``sites``: plain dicts.
    ``boundary``: the boundary doubt (its panel is drawn when in doubt).
    """

    title: str
    lon: float
    lat: float
    label: str
    details: Sequence[tuple[str, Any]]
    chain: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame
    covering: set[str] = field(default_factory=set)
    distances: dict[str, float] = field(default_factory=dict)
    workers: Sequence[dict[str, Any]] = ()
    sites: Sequence[dict[str, Any]] = ()
    boundary: BoundaryDoubt | None = None


def incident_data(found: LocateResult, label: str, details: Sequence[tuple[str, Any]],
                  chain: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame,
                  site_points: Mapping[str, tuple[float, float]]) -> IncidentData:
    """The incident view of the locate answer (or stored assignment) ``found``.

    ``chain``/``cameras``: polygons and camera wedges of its codes; ``site_points``: site code
    → (lon, lat). The answer's cameras are the ones that see the spot.
    """
    hits = [*found.cameras, *found.other_cameras]
    sites = [{**s.model_dump(), "lon": site_points[s.code][0], "lat": site_points[s.code][1]}
             for s in found.sites if s.code in site_points]
    grid = grid_label(found.grid)
    return IncidentData(
        title=f"{label} · {grid}", lon=found.lon, lat=found.lat, label=label,
        details=[*details, ("网格", grid)], chain=chain, cameras=cameras,
        covering={c.code for c in found.cameras},
        distances={c.code: c.distance_m for c in hits},
        workers=[w.model_dump() for w in found.workers], sites=sites,
        boundary=found.boundary)


def grid_label(grid: Ref | None) -> str:
    """「name（code）」 of a grid, or 「不在任何网格内」."""
    return f"{grid.name}（{grid.code}）" if grid else "不在任何网格内"


def event_details(event: Mapping[str, Any], stored: LocateResult,
                  now: LocateResult) -> list[tuple[str, Any]]:
    """The popup rows of an event (a :func:`geo.events.get_event` row): what was reported,
    when it was assigned, and, where the spot's answer differs now, the grid and cameras
    it would get now beside the stored ones."""
    rows: list[tuple[str, Any]] = [
        ("事件", event["id"]), ("类别", event["category"]), ("描述", event["description"]),
        ("状态", event["status"]), ("上报时间", event["reported_at"]),
        ("分配时间", event["assigned_at"] or "未分配")]
    if grid_label(now.grid) != grid_label(stored.grid):
        rows.append(("现在的网格", grid_label(now.grid)))
    now_cameras = [c.code for c in now.cameras]
    if now_cameras != [c.code for c in stored.cameras]:
        rows.append(("现在的摄像机", "、".join(now_cameras) or "无"))
    return rows


def incident_map(data: IncidentData, basemap: Basemap) -> folium.Map:
    """The incident view, centred on the spot with ~300 m around it."""
    pad = 0.003
    fmap = base_map((data.lon - pad, data.lat - pad, data.lon + pad, data.lat + pad), basemap,
                    title=data.title)
    _add_chain(fmap, data.chain)
    colors = {str(c): (COVERING_COLOR if str(c) in data.covering else
                       OFFLINE_COLOR if s != "online" else NOT_COVERING_COLOR)
              for c, s in zip(data.cameras.get("code", []), data.cameras.get("status", []),
                              strict=True)}
    extra = {code: {"distance": f"{d:.0f}", "sees": "能" if code in data.covering else "不能",
                    "page": camera_link(code)} for code, d in data.distances.items()}
    add_camera_wedges(fmap, data.cameras, "摄像机", color_of=colors, extra=extra,
                      extra_fields=[("distance", "距离 m"), ("sees", "能否看到事发点"),
                                    ("page", "摄像机页")])
    _add_sites(fmap, data.sites)
    worker_rows = [(ROLE_NAMES.get(w["role"], w["role"]), f"{w['name']} {w.get('phone') or ''}")
                   for w in data.workers]
    folium.Marker([data.lat, data.lon], tooltip=data.label,
                  popup=folium.Popup(popup_table([*data.details, *worker_rows]), max_width=360),
                  icon=folium.Icon(color=INCIDENT_COLOR, icon="triangle-exclamation", prefix="fa"),
                  ).add_to(fmap)
    if data.boundary is not None and data.boundary.in_doubt:
        add_panel(fmap, "gl-doubt", doubt_panel_html(data.boundary), position="topright")
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "图例", [
        LegendEntry("#d73027", "事发点"), LegendEntry("#e31a1c", "所在网格", line=True),
        LegendEntry(COVERING_COLOR, "能看到事发点的摄像机"),
        LegendEntry(NOT_COVERING_COLOR, "看不到事发点的摄像机"),
        LegendEntry(OFFLINE_COLOR, "离线摄像机"), LegendEntry("#6a3d9a", "周边场所"),
        LegendEntry("#ff7f00", "边界存疑的相邻网格", line=True)])
    return fmap


def camera_link(code: str) -> str:
    """An HTML link to the camera page of ``code`` (its popup row in the camera list)."""
    url = html.escape(camera_page_url(urllib.parse.quote(code, safe="")), quote=True)
    return f'<a class="gl-camera-page" href="{url}" target="_blank">可视范围、遮挡与预置位</a>'


def doubt_panel_html(doubt: BoundaryDoubt) -> str:
    """The boundary-doubt panel: every candidate grid with its distance to the boundary
    (metres), the chosen one marked, and the rule that chose it (escaped HTML)."""
    rows = "".join(
        f"<tr><td>{'✔ ' if c.code == doubt.chosen else ''}{html.escape(c.name)}</td>"
        f"<td>{html.escape(c.code)}</td><td style='text-align:right'>{c.distance_m:.1f} m</td>"
        f"<td>{'在内' if c.covers else '在外'}</td></tr>" for c in doubt.candidates)
    return (f"<b>边界存疑：GPS 误差 {doubt.tolerance_m:g} m 内有 {len(doubt.candidates)} 个网格"
            f"</b><table class='gl-doubt-grids' style='font-size:12px'>"
            "<tr><th>网格</th><th>编码</th><th>距边界</th><th>事发点</th></tr>"
            f"{rows}</table><div>选定：{html.escape(doubt.chosen or '无')}（"
            f"{html.escape(RULE_NAMES[doubt.rule])}）；如有误，调度员可将事件改派到正确的网格"
            "</div>")


def _add_chain(fmap: folium.Map, chain: gpd.GeoDataFrame) -> None:
    group = folium.FeatureGroup(name="网格链（区-街道-社区-网格）")
    for _, row in chain.iterrows():
        name, color, weight = CHAIN_STYLE.get(str(row["level"]), ("", "#333333", 2))
        folium.GeoJson(row.geometry.__geo_interface__,
                       style_function=lambda _f, c=color, w=weight: {
                           "color": c, "weight": w, "fill": c == "#e31a1c",
                           "fillOpacity": 0.08,
                           "dashArray": "8 6" if c == "#ff7f00" else None},
                       tooltip=f"{name}：{row['name']}（{row['code']}）").add_to(group)
    group.add_to(fmap)


def _add_sites(fmap: folium.Map, sites: Sequence[dict[str, Any]]) -> None:
    group = folium.FeatureGroup(name="周边场所")
    for site in sites:
        category = SITE_CATEGORY.get(site["category"], site["category"])
        folium.CircleMarker(
            [site["lat"], site["lon"]], radius=6, color="#6a3d9a", fill=True, fill_opacity=0.9,
            tooltip=f"{site['name']}（{category}）",
            popup=folium.Popup(popup_table([("场所", site["name"]), ("类别", category),
                                            ("编码", site["code"]),
                                            ("距离", f"{site['distance_m']:.0f} m")]),
                               max_width=300)).add_to(group)
    group.add_to(fmap)
