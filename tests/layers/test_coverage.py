"""layers.coverage: coverage choropleth and camera wedges."""

from __future__ import annotations

import folium
import geopandas as gpd

from layers.base import Basemap
from layers.coverage import COVERAGE_BINS, OFFLINE_COLOR, ONLINE_COLOR, coverage_map
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


def test_cameras_are_one_wedge_layer_with_popups_and_one_dot_layer(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, camera_facing_north: gpd.GeoDataFrame
) -> None:
    grids = two_grids_sharing_an_edge.assign(covered_share=[0.5, 0.5])
    group = named_layers(coverage_map("t", grids, camera_facing_north, Basemap()))["摄像机视域"]
    wedges, dots = [c for c in walk(group) if isinstance(c, folium.GeoJson)]
    assert [f["geometry"]["type"] for f in wedges.data["features"]] == ["Polygon", "Polygon"]
    assert [wedges.style_function(f)["fillColor"] for f in wedges.data["features"]] == [
        ONLINE_COLOR, OFFLINE_COLOR]
    north = wedges.data["features"][0]["properties"]
    assert (north["stream_url"], north["range"], north["type"], north["state"]) == (
        "rtsp://10.0.0.1/north", 100, "枪机", "在线")
    assert wedges.data["features"][1]["properties"]["stream_url"] == "—"
    popup = next(c for c in walk(wedges) if isinstance(c, folium.GeoJsonPopup))
    assert "stream_url" in popup.fields and "视频流" in popup.aliases
    assert [f["geometry"]["coordinates"] for f in dots.data["features"]] == [
        [113.3025, 40.086], [113.3035, 40.0868]]


def test_a_district_full_of_cameras_gets_wedges_without_dots(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, camera_facing_north: gpd.GeoDataFrame
) -> None:
    grids = two_grids_sharing_an_edge.assign(covered_share=[0.5, 0.5])
    fmap = coverage_map("t", grids, camera_facing_north, Basemap(), max_dots=1)
    group = named_layers(fmap)["摄像机视域"]
    assert len([c for c in walk(group) if isinstance(c, folium.GeoJson)]) == 1
