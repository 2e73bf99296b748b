"""Events over time (事件分析): heat map of events, a per-grid choropleth of event counts that
steps through the period with a time slider, and marker clusters for individual events."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import folium
import geopandas as gpd
import pandas as pd
from folium.plugins import HeatMap, MarkerCluster, TimeSliderChoropleth

from geo.errors import ValidationFailed
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
from layers.grids import bin_color, simplify_coverage, zoom_for_bounds

COUNT_BINS: tuple[tuple[float, str, str], ...] = (
    (1, "#ffffff", "0 件"), (2, "#fee5d9", "1 件"), (5, "#fcae91", "2–4 件"),
    (10, "#fb6a4a", "5–9 件"), (math.inf, "#cb181d", "≥ 10 件"))
"""Events per grid and time bin: (upper bound exclusive, colour, label)."""

STATUS_NAMES = {"reported": "已上报", "dispatched": "已派遣", "in_progress": "处置中",
                "resolved": "已处置", "closed": "已结案", "filed": "已立案"}


MAX_PERIOD_DAYS = 3660
"""The longest period the view shows (10 years)."""


@dataclass(frozen=True)
class Period:
    """The view's period [start, end) (UTC datetimes), stepped by ``bin_days`` days."""

    start: datetime
    end: datetime
    bin_days: int

    @property
    def bins(self) -> list[datetime]:
        """Start of each time step (the slider's stops)."""
        return list(pd.date_range(self.start, self.end, freq=f"{self.bin_days}D",
                                  inclusive="left"))


def period_of(start: datetime | None, end: datetime | None, bin_days: int | None) -> Period:
    """The period asked for: by default the 30 days up to now, in at most 12 steps.

    Raises :class:`ValidationFailed` naming ``start`` and ``end`` unless start < end at most
    ten years apart.
    """
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    if start >= end or (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationFailed("start must be before end, at most 10 years apart",
                               [{"field": "start", "value": str(start)},
                                {"field": "end", "value": str(end)}])
    days = bin_days or max(1, math.ceil((end - start).total_seconds() / 86400 / 12))
    return Period(start, end, days)


def events_view(name: str, code: str, category: str | None, period: Period,
                grids: gpd.GeoDataFrame, counts: pd.DataFrame, events: gpd.GeoDataFrame,
                categories: Sequence[str], basemap: Basemap, metric_crs: int) -> folium.Map:
    """The events view of area ``name`` (``code``): its ordinary grids simplified for display
    (in ``metric_crs``, metres), a title naming the category, links to each category."""
    grids = grids[(grids["level"] == "grid") & (grids["kind"] != "dedicated")]
    if not grids.empty:
        grids = simplify_coverage(grids, zoom_for_bounds(grids.total_bounds), metric_crs)
    label = f"{name} 事件分析" + (f"（{category}）" if category else "")
    query = {"area": code, "start": period.start.isoformat(), "end": period.end.isoformat(),
             "bin_days": period.bin_days}
    links = [("全部", "/maps/events?" + urlencode(query))] + [
        (c, "/maps/events?" + urlencode({**query, "category": c})) for c in categories]
    return events_map(label, grids, counts, period.bins, events, basemap, categories=links)


def count_styledict(grid_codes: Sequence[str], counts: pd.DataFrame,
                    bins: Sequence[datetime]) -> dict[str, dict[str, dict[str, object]]]:
    """TimeSliderChoropleth styles: feature index (position in ``grid_codes``) → epoch
    seconds of each bin start → {color, opacity}. Grids without events get the 0 colour."""
    table: dict[tuple[str, int], int] = {}
    for code, start, n in zip(counts["grid_code"], counts["bin_start"], counts["count"],
                              strict=True):
        key = (str(code), int(pd.Timestamp(str(start)).timestamp()))
        table[key] = table.get(key, 0) + int(n)
    stamps = [int(pd.Timestamp(b).timestamp()) for b in bins]
    style: dict[str, dict[str, dict[str, object]]] = {}
    for i, code in enumerate(grid_codes):
        style[str(i)] = {str(t): {"color": bin_color(table.get((code, t), 0), COUNT_BINS),
                                  "opacity": 0.7} for t in stamps}
    return style


def events_map(title: str, grids: gpd.GeoDataFrame, counts: pd.DataFrame,
               bins: Sequence[datetime], events: gpd.GeoDataFrame, basemap: Basemap,
               max_markers: int = 2000,
               categories: Sequence[tuple[str, str]] = ()) -> folium.Map:
    """The events view.

    Parameters
    ----------
    grids : ordinary grids (code, name, geometry EPSG:4326), already simplified.
    counts : grid_code, bin_start, count (from ``geo.mapdata.event_counts``).
    bins : start of each time bin (the slider's steps).
    events : individual events (id, category, status, reported_at, geometry points).
    max_markers : at most this many individual markers (the newest) to bound page size.
    categories : (label, link) pairs shown as a category chooser (links to the same view
        filtered by that category; the first is usually "all").
    """
    frame = grids if not grids.empty else events
    bounds = frame.total_bounds if not frame.empty else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=title)  # SVG: the time slider styles SVG paths
    if not grids.empty and bins:
        data = rounded_geojson(grids.reset_index(drop=True), ["code", "name"], decimals=5)
        for i, feature in enumerate(data["features"]):
            feature["id"] = str(i)
        TimeSliderChoropleth(data, count_styledict(list(grids["code"].astype(str)), counts, bins),
                             name="网格事件数（按时段）", date_options="YYYY-MM-DD",
                             stroke_color="#737373").add_to(fmap)
    if not events.empty:
        HeatMap([[p.y, p.x] for p in events.geometry], name="事件热力图", radius=18,
                blur=14, min_opacity=0.3).add_to(fmap)
        _add_clusters(fmap, events.head(max_markers))
    folium.LayerControl(collapsed=False).add_to(fmap)
    if categories:
        _add_category_links(fmap, categories)
    add_legend(fmap, "每网格事件数（拖动滑块切换时段）",
               [LegendEntry(c, label) for _, c, label in COUNT_BINS])
    return fmap


def _add_clusters(fmap: folium.Map, events: gpd.GeoDataFrame) -> None:
    cluster = MarkerCluster(name="事件点（聚合）")
    for _, row in events.iterrows():
        when = pd.Timestamp(row["reported_at"]).strftime("%Y-%m-%d %H:%M")
        folium.Marker(
            [row.geometry.y, row.geometry.x], tooltip=f"{row['category']} {when}",
            popup=folium.Popup(popup_table([
                ("事件", row["id"]), ("类别", row["category"]), ("时间", when),
                ("状态", STATUS_NAMES.get(str(row["status"]), row["status"])),
                ("网格", row["grid_code"]), ("描述", row.get("description"))]), max_width=300),
            icon=folium.Icon(color="orange", icon="circle-exclamation", prefix="fa"),
        ).add_to(cluster)
    cluster.add_to(fmap)


def _add_category_links(fmap: folium.Map, categories: Sequence[tuple[str, str]]) -> None:
    """A small top-left box: 事件类别 and one link per category."""
    links = " ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>'
                     for label, href in categories)
    script(fmap, f"""
    (function() {{
      var box = L.control({{position: 'topleft'}});
      box.onAdd = function() {{
        var div = L.DomUtil.create('div', 'gl-title gl-categories');
        div.style.fontWeight = 'normal'; div.style.fontSize = '13px'; div.style.maxWidth = '420px';
        div.innerHTML = {json_literal('<b>事件类别：</b>' + links)};
        return div;
      }};
      box.addTo({fmap.get_name()});
    }})();""")
