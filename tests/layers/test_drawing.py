"""layers.drawing: editable draft grids, Geoman with the edit tool only, the save panel."""

from __future__ import annotations

import geopandas as gpd
from folium.plugins import GeoMan

from layers.assets import page_html
from layers.base import Basemap
from layers.drawing import drawing_map
from tests.layers.conftest import named_layers, walk


def test_drawing_page_offers_only_the_edit_tool_over_the_draft_grids(
        two_grids_sharing_an_edge: gpd.GeoDataFrame) -> None:
    fmap = drawing_map("网格绘制", 7, two_grids_sharing_an_edge, Basemap())
    group = named_layers(fmap)["草案网格（可编辑）"]
    grids = next(c for c in walk(group) if hasattr(c, "data"))
    assert [f["properties"]["code"] for f in grids.data["features"]] == [
        "140213001001001", "140213001001002"]
    geoman = next(c for c in walk(fmap) if isinstance(c, GeoMan))
    options = geoman.options
    assert options["editMode"] is True and options["drawPolygon"] is False
    assert options["removalMode"] is False and options["cutPolygon"] is False
    html = page_html(fmap)
    assert '<script src="/static/gridlink/drawing.js"></script>' in html
    assert '"changesetId": 7, "base": "/planning/changesets/7"' in html
