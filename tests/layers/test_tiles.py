"""layers.tiles: vector-tile layers on Folium maps, their offline script and the budget."""

from __future__ import annotations

import pytest

from layers.assets import external_urls, page_html
from layers.base import Basemap
from layers.coverage import coverage_tiles_map
from layers.tiles import TILE_FEATURE_BUDGET, tile_url, tiles_wanted

DISTRICT = (113.30, 40.08, 113.32, 40.09)


@pytest.mark.parametrize(("count", "forced", "wanted"), [
    (TILE_FEATURE_BUDGET, None, False), (TILE_FEATURE_BUDGET + 1, None, True),
    (10, True, True), (100_000, False, False)])
def test_tiles_are_used_above_the_budget_unless_forced(count: int, forced: bool | None,
                                                        wanted: bool) -> None:
    assert tiles_wanted(count, forced) is wanted


def test_tile_urls_are_root_relative_templates_limited_to_the_area() -> None:
    assert tile_url("grids") == "/tiles/grids/WebMercatorQuad/{z}/{y}/{x}"
    assert tile_url("cameras", "140213") == ("/tiles/cameras/WebMercatorQuad/{z}/{y}/{x}"
                                             "?area=140213")


def test_the_tiled_coverage_page_loads_vectorgrid_locally_and_no_feature() -> None:
    html = page_html(coverage_tiles_map("平城区 视频覆盖", DISTRICT, "140213", Basemap()))
    assert external_urls(html) == []
    assert ('src="/static/npm/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js"'
            in html)
    assert html.count("L.vectorGrid.protobuf(") == 3  # coverage, cameras, views
    assert '"/tiles/coverage/WebMercatorQuad/{z}/{y}/{x}?area=140213"' in html
    assert '"/tiles/cameras/WebMercatorQuad/{z}/{y}/{x}?area=140213"' in html
    assert '"/tiles/views/WebMercatorQuad/{z}/{y}/{x}?area=140213"' in html
    assert '"FeatureCollection"' not in html
