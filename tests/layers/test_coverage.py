"""layers.coverage: coverage choropleth and camera wedges."""

from __future__ import annotations

import folium
import geopandas as gpd

from layers.base import Basemap
from layers.coverage import COVERAGE_BINS, ONLINE_COLOR, OFFLINE_COLOR, coverage_map
from layers.grids import bin_color
from tests.layers.conftest import features, named_layers, walk


def test_coverage_map_colours_grids_by_share_and_flags_uncovered(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, camera_facing_north: gpd.GeoDataFrame
) -> None:
    grids = two_grids_sharing_an_edge.assign(covered_share=[0.044, 0.0])
    layers = named_layers(coverage_map("视频覆盖", grids, camera_facing_north, Basemap()))
    assert list(layers) == ["网格视频覆盖率", "摄像机视域"]
    feats = features(layers["网格视频覆盖率"])
    assert [(f["properties"]["pct"], f["properties"]["none"]) for f in feats] == [
        (4.4, False), (0.0, True)]
    style = layers["网格视频覆盖率"].style_function
    assert style(feats[1])["weight"] == 3 and style(feats[1])["color"] == "#d7301f"
    assert bin_color(0.0, COVERAGE_BINS) == "#d7301f"
    assert bin_color(0.65, COVERAGE_BINS) == "#1a9850"


def test_each_camera_is_a_wedge_with_a_popup_and_a_dot(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, camera_facing_north: gpd.GeoDataFrame
) -> None:
    grids = two_grids_sharing_an_edge.assign(covered_share=[0.5, 0.5])
    group = named_layers(coverage_map("t", grids, camera_facing_north, Basemap()))["摄像机视域"]
    wedges = [c for c in walk(group) if isinstance(c, folium.GeoJson)]
    dots = [c for c in walk(group) if isinstance(c, folium.CircleMarker)]
    assert len(wedges) == 2 and len(dots) == 2
    colours = [w.style_function({})["fillColor"] for w in wedges]
    assert colours == [ONLINE_COLOR, OFFLINE_COLOR]
    popup = next(c for c in walk(wedges[0]) if isinstance(c, folium.Popup))
    html = popup.html.render()
    assert "rtsp://10.0.0.1/north" in html and "100 m" in html and "枪机" in html
