"""layers.camera: the camera page's layers, named, in order, with their popups; the incident
page links every listed camera to its page."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point, box

from geo.video.camera_page import CameraPageData
from layers.base import Basemap
from layers.camera import PRESET_COLOR, SHADOW_COLOR, camera_map
from layers.incident import camera_link


def frame(rows: dict[str, list[object]], geoms: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)


def named_layers(fmap: object) -> dict[str, object]:
    return {getattr(c, "layer_name", None): c for c in fmap._children.values()  # type: ignore[attr-defined]
            if getattr(c, "layer_name", None)}


def test_camera_map_layers_in_order_with_popups() -> None:
    camera = {"code": "C1", "name": "路口球机", "camera_type": "ptz", "range_m": 100.0,
              "lon": 113.3, "lat": 40.08, "stream_url": None, "grid_code": "140213001001001"}
    square = box(113.2995, 40.0795, 113.3005, 40.0805)
    data = CameraPageData(
        camera=camera, wedge=frame({"code": ["C1"]}, [Point(113.3, 40.08)]),
        view=frame({"area_m2": [31000.0]}, [square]),
        shadows=frame({"building_code": ["B1"], "building_name": ["一号楼"], "height_m": [None],
                       "near_m": [20.5], "area_m2": [800.0]}, [square]),
        footprints=frame({"code": ["B1"], "name": ["一号楼"], "floors": [None],
                          "height_m": [None]}, [square]),
        presets=frame({"preset": ["大门"], "pan_deg": [90.0], "tilt_deg": [-10.0],
                       "fov_deg": [20.0], "zoom": [3.0], "range_m": [None], "area_m2": [1700.0]},
                      [square]),
        grids=frame({"code": [], "name": [], "seen_m2": []}, []))
    fmap = camera_map(data, Basemap())
    layers = named_layers(fmap)
    assert list(layers) == ["覆盖的网格", "可视区域（遮挡后）", "建筑遮挡的阴影", "遮挡的建筑",
                            "预置位", "摄像机"]
    assert layers["覆盖的网格"]._children == {}  # type: ignore[attr-defined]
    (preset,) = layers["预置位"]._children.values()  # type: ignore[attr-defined]
    assert preset.data["features"][0]["properties"] == {
        "preset": "大门", "pan_deg": 90.0, "tilt_deg": -10.0, "fov_deg": 20.0, "zoom": 3.0,
        "range_m": None, "area_m2": 1700.0}
    assert preset.style_function({})["fillColor"] == PRESET_COLOR
    (shadow,) = layers["建筑遮挡的阴影"]._children.values()  # type: ignore[attr-defined]
    assert shadow.style_function({})["fillColor"] == SHADOW_COLOR
    assert fmap.get_root().render().count("路口球机（C1） 云台球机") >= 1


def test_camera_link_points_at_the_page() -> None:
    assert camera_link("14021300081310000001") == (
        '<a class="gl-camera-page" href="/maps/cameras/14021300081310000001" target="_blank">'
        "可视范围、遮挡与预置位</a>")
    assert 'href="/maps/cameras/a%2Fb%3C"' in camera_link("a/b<")
