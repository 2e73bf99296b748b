"""layers.visibility: the view and blind-spot layers added to a map, named and styled."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box

from layers.base import Basemap, base_map
from layers.visibility import BLIND_COLOR, OFFLINE_VIEW_COLOR, VIEW_COLOR, add_visibility


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
