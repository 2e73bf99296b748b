"""layers.visibility: the view and blind-spot layers added to a map, named and styled."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import LineString, Point, box

from layers.base import Basemap, base_map
from layers.visibility import (
    BLIND_COLOR,
    OFFLINE_VIEW_COLOR,
    ROAD_SEEN_COLOR,
    ROAD_UNSEEN_COLOR,
    VIEW_COLOR,
    add_road_coverage,
    add_visibility,
)


def named_layers(fmap: object) -> dict[str, object]:
    return {getattr(c, "layer_name", None): c for c in fmap._children.values()  # type: ignore[attr-defined]
            if getattr(c, "layer_name", None)}


def test_views_and_blind_spots_become_two_layers() -> None:
    views = gpd.GeoDataFrame({"camera_code": ["C1", "C2"], "status": ["online", "offline"],
                              "area_m2": [7853.98, 10.2]},
                             geometry=[box(113.3, 40.08, 113.301, 40.081),
                                       box(113.302, 40.08, 113.303, 40.081)], crs=4326)
    blind = gpd.GeoDataFrame({"grid_code": ["140213001001001"], "area_m2": [31746.4]},
                             geometry=[box(113.304, 40.08, 113.305, 40.081)], crs=4326)
    fmap = add_visibility(base_map((113.3, 40.08, 113.31, 40.09), Basemap(), title="t"),
                          views, blind)
    layers = named_layers(fmap)
    assert list(layers) == ["可视区域（遮挡后）", "盲区"]
    view_layer = layers["可视区域（遮挡后）"]
    feats = view_layer.data["features"]  # type: ignore[attr-defined]
    assert [f["properties"] for f in feats] == [
        {"camera_code": "C1", "status": "online", "area": 7854.0},
        {"camera_code": "C2", "status": "offline", "area": 10.0}]
    style = view_layer.style_function  # type: ignore[attr-defined]
    assert [style(f)["fillColor"] for f in feats] == [VIEW_COLOR, OFFLINE_VIEW_COLOR]
    blind_layer = layers["盲区"]
    assert blind_layer.data["features"][0]["properties"] == {  # type: ignore[attr-defined]
        "grid_code": "140213001001001", "area": 31746.0}
    assert blind_layer.style_function({})["fillColor"] == BLIND_COLOR  # type: ignore[attr-defined]
    assert (view_layer.show, blind_layer.show) == (True, False)  # type: ignore[attr-defined]


def test_without_blind_spots_only_the_views_are_added() -> None:
    empty = gpd.GeoDataFrame({"camera_code": [], "status": [], "area_m2": []},
                             geometry=[], crs=4326)
    fmap = add_visibility(base_map((113.3, 40.08, 113.31, 40.09), Basemap(), title="t"), empty)
    assert list(named_layers(fmap)) == []


def test_roads_and_entrances_coloured_seen_and_unseen() -> None:
    roads = gpd.GeoDataFrame(
        {"code": ["R_HALF", "R_HALF"], "name": [None, None], "kind": ["支路", "支路"],
         "seen": [True, False], "length_m": [50.79, 49.21]},
        geometry=[LineString([(113.3, 40.08), (113.3006, 40.08)]),
                  LineString([(113.3006, 40.08), (113.3012, 40.08)])], crs=4326)
    gates = gpd.GeoDataFrame(
        {"code": ["G_HIDDEN", "G_SEEN"], "name": ["北门", "南门"], "site_code": ["S1", "S1"],
         "kind": ["校门", None], "seen": [False, True]},
        geometry=[Point(113.3002, 40.0805), Point(113.3004, 40.0805)], crs=4326)
    fmap = add_road_coverage(base_map((113.3, 40.08, 113.31, 40.09), Basemap(), title="t"),
                             roads, gates)
    layers = named_layers(fmap)
    assert list(layers) == ["道路覆盖", "出入口覆盖"]
    road_feats = layers["道路覆盖"].data["features"]  # type: ignore[attr-defined]
    assert [(f["properties"]["state"], f["properties"]["length"]) for f in road_feats] == [
        ("可见", 51.0), ("盲区", 49.0)]
    road_style = layers["道路覆盖"].style_function  # type: ignore[attr-defined]
    assert [road_style(f)["color"] for f in road_feats] == [ROAD_SEEN_COLOR, ROAD_UNSEEN_COLOR]
    gate_feats = layers["出入口覆盖"].data["features"]  # type: ignore[attr-defined]
    assert [(f["properties"]["code"], f["properties"]["kind"], f["properties"]["state"])
            for f in gate_feats] == [("G_HIDDEN", "校门", "盲区"), ("G_SEEN", "—", "可见")]
    gate_style = layers["出入口覆盖"].style_function  # type: ignore[attr-defined]
    assert [gate_style(f)["fillColor"] for f in gate_feats] == [ROAD_UNSEEN_COLOR,
                                                                ROAD_SEEN_COLOR]


def test_no_roads_and_no_entrances_add_nothing() -> None:
    empty = gpd.GeoDataFrame({"seen": []}, geometry=[], crs=4326)
    fmap = add_road_coverage(base_map((113.3, 40.08, 113.31, 40.09), Basemap(), title="t"),
                             empty, empty)
    assert named_layers(fmap) == {}
