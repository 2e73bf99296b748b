"""layers.grids: the planner view's layers, choropleth colours, simplification, problems."""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import Polygon

from layers.assets import page_html
from layers.base import Basemap, Legend
from layers.grids import (
    DEVIATION_BINS,
    HOUSEHOLD_BINS,
    PROBLEM_COLOR,
    PlannerData,
    bin_color,
    decimals_for,
    metres_per_pixel,
    planner_map,
    simplify_coverage,
    zoom_for_bounds,
)
from tests.layers.conftest import features, named_layers, walk


def test_bins_pick_the_first_upper_bound_above_the_value() -> None:
    assert bin_color(250, HOUSEHOLD_BINS) == "#6baed6"
    assert bin_color(400, HOUSEHOLD_BINS) == "#08306b"
    assert bin_color(-0.5, DEVIATION_BINS) == "#2166ac"
    assert bin_color(0.0, DEVIATION_BINS) == "#f7f7f7"
    assert bin_color(None, HOUSEHOLD_BINS) == "#bdbdbd"


def test_planner_map_holds_each_level_choropleths_and_problems(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, community_over_both: gpd.GeoDataFrame
) -> None:
    data = PlannerData("平城区 网格规划", community_over_both, two_grids_sharing_an_edge,
                       {"140213001001001": -0.1667, "140213001001002": 0.4}, 300,
                       problems_url="/planning/validate?area=140213001&format=geojson")
    fmap = planner_map(data, Basemap())
    layers = named_layers(fmap)
    assert list(layers) == ["区/县", "街道/乡镇", "社区/村", "网格（户数）"]
    households = features(layers["网格（户数）"])
    assert [(f["properties"]["code"], f["properties"]["fill"]) for f in households] == [
        ("140213001001001", "#6baed6"), ("140213001001002", "#08306b")]
    assert [(f["properties"]["deviation_pct"], f["properties"]["dev_fill"])
            for f in households] == [(-16.7, "#92c5de"), (40.0, "#b2182b")]
    page = page_html(fmap)
    assert ".addOverlay(dev, \"户数偏差（相对目标）\")" in page
    # the problems are not in the page: fetched from the validation once the map is shown
    assert 'fetch("/planning/validate?area=140213001&format=geojson"' in page
    assert '.addOverlay(layer, "校验问题")' in page
    assert f'fillColor: "{PROBLEM_COLOR}"' in page
    legend = next(c for c in walk(fmap) if isinstance(c, Legend))
    assert "目标 300 户" in legend.title


def test_micro_and_dedicated_grids_are_their_own_layers(
        two_grids_sharing_an_edge: gpd.GeoDataFrame, community_over_both: gpd.GeoDataFrame
) -> None:
    extra = gpd.GeoDataFrame(
        {"code": ["14021300100100101", "140213001001901"], "name": ["微网格", "学校"],
         "kind": ["urban", "dedicated"], "level": ["micro", "grid"], "households": [50, 0]},
        geometry=[two_grids_sharing_an_edge.geometry[0],
                  shapely.box(113.301, 40.081, 113.302, 40.082)], crs=4326)
    grids = gpd.GeoDataFrame(gpd.pd.concat([two_grids_sharing_an_edge, extra]), crs=4326)
    layers = named_layers(planner_map(PlannerData("t", community_over_both, grids), Basemap()))
    assert [f["properties"]["code"] for f in features(layers["微网格"])] == ["14021300100100101"]
    assert [f["properties"]["code"] for f in features(layers["专属网格"])] == ["140213001001901"]
    assert [f["properties"]["code"] for f in features(layers["网格（户数）"])] == [
        "140213001001001", "140213001001002"]


def test_zoom_and_ground_resolution() -> None:
    assert zoom_for_bounds((113.30, 40.08, 113.32, 40.09)) == 16
    assert (decimals_for(12), decimals_for(14), decimals_for(17)) == (4, 5, 6)
    assert zoom_for_bounds((112.9, 39.9, 113.6, 40.3)) == 11
    assert round(metres_per_pixel(16, 40.0), 3) == 1.83


def wiggly_pair() -> gpd.GeoDataFrame:
    """Two grids sharing an edge with 200 tiny zigzags (±0.5 m) along the meridian 113.31."""
    ys = [40.08 + i * 0.00005 for i in range(201)]
    edge = [(113.31 + (0.000006 if i % 2 else 0.0), y) for i, y in enumerate(ys)]
    west = Polygon([(113.30, 40.08), *edge, (113.30, 40.09)])
    east = Polygon([*edge, (113.32, 40.09), (113.32, 40.08)])
    return gpd.GeoDataFrame({"code": ["W", "E"]}, geometry=[west, east], crs=4326)


def test_coverage_simplification_drops_vertices_and_keeps_the_shared_edge() -> None:
    pair = wiggly_pair()
    simple = simplify_coverage(pair, zoom=14)
    before = shapely.get_num_coordinates(pair.geometry.values).sum()
    after = shapely.get_num_coordinates(simple.geometry.values).sum()
    assert before > 400 and after < 20
    west, east = simple.geometry
    shared = west.intersection(east)
    assert shared.length > 0.0099  # still one edge of ~0.01° all along
    assert west.intersection(east).area == 0 and west.union(east).area == simple.union_all().area
    assert abs(west.union(east).area - pair.union_all().area) < 1e-9


def test_an_invalid_coverage_is_simplified_polygon_by_polygon() -> None:
    pair = wiggly_pair()
    overlapping = pair.set_geometry([pair.geometry[0].buffer(0.001), pair.geometry[1]])
    simple = simplify_coverage(overlapping, zoom=14)
    assert list(simple["code"]) == ["W", "E"] and simple.geometry.is_valid.all()
