"""layers.events: time-slider choropleth styles, heat map and clustered markers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from folium.plugins import HeatMap, MarkerCluster, TimeSliderChoropleth
from shapely.geometry import Point

from layers.assets import page_html
from layers.base import Basemap
from layers.events import count_styledict, events_map
from tests.layers.conftest import walk

DAY1 = datetime(2026, 11, 1, tzinfo=UTC)
DAY2 = datetime(2026, 11, 2, tzinfo=UTC)
COUNTS = pd.DataFrame({"grid_code": ["140213001001001", "140213001001001"],
                       "category": ["占道经营", "垃圾暴露"], "bin_start": [DAY1, DAY1],
                       "count": [3, 2]})


def test_styledict_sums_categories_per_grid_and_bin() -> None:
    style = count_styledict(["140213001001001", "140213001001002"], COUNTS, [DAY1, DAY2])
    t1, t2 = str(int(DAY1.timestamp())), str(int(DAY2.timestamp()))
    assert style["0"][t1]["color"] == "#fb6a4a"  # 5 events: the 5–9 bin
    assert style["0"][t2]["color"] == "#ffffff"
    assert style["1"][t1]["color"] == "#ffffff"


def test_events_map_has_slider_heat_and_clusters(
        two_grids_sharing_an_edge: gpd.GeoDataFrame) -> None:
    events = gpd.GeoDataFrame(
        {"id": [1, 2], "category": ["占道经营", "垃圾暴露"], "status": ["reported", "closed"],
         "reported_at": [DAY1, DAY1], "grid_code": ["140213001001001"] * 2,
         "description": ["摊位", None]},
        geometry=[Point(113.305, 40.085), Point(113.306, 40.086)], crs=4326)
    fmap = events_map("事件分析", two_grids_sharing_an_edge, COUNTS, [DAY1, DAY2], events,
                      Basemap())
    kinds: dict[type, Any] = {type(c): c for c in walk(fmap)}
    slider = kinds[TimeSliderChoropleth]
    assert len(slider.data["features"]) == 2
    assert kinds[HeatMap].data == [[40.085, 113.305], [40.086, 113.306]]
    cluster = kinds[MarkerCluster]
    assert len([c for c in cluster._children.values()]) == 2


def test_category_chooser_links_are_escaped_links(
        two_grids_sharing_an_edge: gpd.GeoDataFrame) -> None:
    empty = gpd.GeoDataFrame({"id": [], "category": [], "status": [], "reported_at": [],
                              "grid_code": [], "description": []}, geometry=[], crs=4326)
    fmap = events_map("t", two_grids_sharing_an_edge, COUNTS, [DAY1], empty, Basemap(),
                      categories=[("全部", "/maps/events?area=1"),
                                  ("占道经营", "/maps/events?area=1&category=x")])
    html = page_html(fmap)
    assert '<a href=\\"/maps/events?area=1&amp;category=x\\">占道经营<\\/a>' in html
    assert "事件类别" in html
