"""layers.base: tiles setting, common controls, legend, rounding that keeps shared edges."""

from __future__ import annotations

import folium
import geopandas as gpd
import pytest
from folium.plugins import Fullscreen, MeasureControl

from layers.assets import page_html
from layers.base import Basemap, Legend, LegendEntry, add_legend, base_map, rounded_geojson
from tests.layers.conftest import walk

BOUNDS = (113.30, 40.08, 113.32, 40.09)


def test_offline_map_has_no_tiles_and_the_common_controls() -> None:
    fmap = base_map(BOUNDS, Basemap(), title="网格规划")
    kinds = [type(c) for c in walk(fmap)]
    assert folium.TileLayer not in kinds
    assert Fullscreen in kinds and MeasureControl in kinds
    assert fmap.control_scale is True
    html = page_html(fmap)
    assert "<title>网格规划</title>" in html and "tile" not in html.split("<body>")[1].lower()


def test_internal_tile_url_and_tianditu_key() -> None:
    own = base_map(BOUNDS, Basemap("http://10.1.1.1/tiles/{z}/{x}/{y}.png", "市局底图"), title="t")
    tiles = [c for c in walk(own) if isinstance(c, folium.TileLayer)]
    assert [(t.tiles, t.options["attribution"]) for t in tiles] == [
        ("http://10.1.1.1/tiles/{z}/{x}/{y}.png", "市局底图")]
    tdt = base_map(BOUNDS, Basemap(tianditu_key="KEY123"), title="t")
    urls = [c.tiles for c in walk(tdt) if isinstance(c, folium.TileLayer)]
    assert len(urls) == 2 and all("tianditu.gov.cn" in u and "tk=KEY123" in u for u in urls)
    assert "LAYER=vec" in urls[0] and "LAYER=cva" in urls[1]


def test_gcj02_tiles_are_refused() -> None:
    with pytest.raises(ValueError, match="GCJ-02"):
        Basemap("https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}")


def test_legend_lists_its_entries() -> None:
    fmap = base_map(BOUNDS, Basemap(), title="t")
    legend = add_legend(fmap, "图例", [LegendEntry("#ff0000", "缺口"),
                                     LegendEntry("#00f", "线", True)])
    assert isinstance(legend, Legend) and legend in list(walk(fmap))
    assert "缺口" in legend.html and "height:3px" in legend.html


def test_rounding_keeps_shared_vertices_identical(
        two_grids_sharing_an_edge: gpd.GeoDataFrame) -> None:
    moved = two_grids_sharing_an_edge.translate(1.23456789e-7, 0)
    gdf = two_grids_sharing_an_edge.set_geometry(moved)
    fc = rounded_geojson(gdf, ["code", "households"], decimals=5)
    west, east = (f["geometry"]["coordinates"][0] for f in fc["features"])
    assert {tuple(p) for p in west} & {tuple(p) for p in east} == {(113.31, 40.08), (113.31, 40.09)}
    assert fc["features"][1]["properties"] == {"code": "140213001001002", "households": 420}
