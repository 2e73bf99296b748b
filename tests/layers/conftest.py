"""Small named GeoDataFrames for the layers/ tests (lon/lat EPSG:4326), no database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import folium
import geopandas as gpd
import pytest
from branca.element import Element
from shapely.geometry import Polygon, box

from tests.e2e.city import INCIDENT


def walk(element: Element) -> Iterator[Element]:
    """Every element below ``element`` (depth first)."""
    for child in element._children.values():
        yield child
        yield from walk(child)


def named_layers(fmap: folium.Map) -> dict[str, Any]:
    """Layer name (as in the layer control: the map's direct children) → layer object."""
    children: list[Any] = list(fmap._children.values())
    return {child.layer_name: child for child in children
            if getattr(child, "layer_name", None) and getattr(child, "control", False)}


def features(layer: Any) -> list[dict[str, Any]]:
    return list(layer.data["features"])


@pytest.fixture
def two_grids_sharing_an_edge() -> gpd.GeoDataFrame:
    """West grid 250 households, east grid 420, sharing the meridian 113.31."""
    return gpd.GeoDataFrame(
        {"code": ["140213001001001", "140213001001002"], "name": ["西网格", "东网格"],
         "kind": ["urban", "urban"], "level": ["grid", "grid"], "households": [250, 420]},
        geometry=[box(113.30, 40.08, 113.31, 40.09), box(113.31, 40.08, 113.32, 40.09)],
        crs=4326)


@pytest.fixture
def community_over_both(two_grids_sharing_an_edge: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    outline = box(113.30, 40.08, 113.32, 40.09)
    return gpd.GeoDataFrame(
        {"code": ["140213", "140213001", "140213001001"],
         "name": ["平城区", "新建南路街道", "向阳社区"],
         "level": ["district", "street", "community"], "households": [670, 670, 670]},
        geometry=[outline] * 3, crs=4326)


@pytest.fixture
def camera_facing_north() -> gpd.GeoDataFrame:
    """One online fixed camera 89 m south of the incident, and one offline dome."""
    lon, lat = INCIDENT
    wedge = Polygon([(lon, lat - 0.0008), (lon - 0.0006, lat + 0.0001),
                     (lon + 0.0006, lat + 0.0001)])
    return gpd.GeoDataFrame(
        {"code": ["CAM_NORTH", "CAM_OFF"], "name": ["北向枪机", "离线球机"],
         "camera_type": ["fixed", "dome"], "azimuth_deg": [0.0, 90.0], "fov_deg": [60.0, 90.0],
         "range_m": [100.0, 80.0], "status": ["online", "offline"],
         "stream_url": ["rtsp://10.0.0.1/north", None], "grid_code": ["G1", "G1"],
         "lon": [lon, lon + 0.001], "lat": [lat - 0.0008, lat]},
        geometry=[wedge, box(lon + 0.001, lat - 0.0003, lon + 0.0017, lat + 0.0003)], crs=4326)
