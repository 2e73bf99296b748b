"""layers.changeset: before/after panes, swipe bar, moved buildings, household transfers."""

from __future__ import annotations

import folium
import geopandas as gpd
from shapely.geometry import Point, box, mapping
from shapely.geometry.base import BaseGeometry

from layers.assets import page_html
from layers.base import Basemap
from layers.changeset import AFTER_COLOR, BEFORE_COLOR, ChangesetData, changeset_map
from tests.layers.conftest import named_layers, walk


def shape(state: str, code: str, geom: BaseGeometry) -> dict[str, object]:
    return {"type": "Feature", "geometry": mapping(geom),
            "properties": {"state": state, "code": code, "name": code, "action": "put"}}


def edge_moved_east() -> ChangesetData:
    shapes = [shape("after", "G1", box(113.300, 40.085, 113.306, 40.09)),
              shape("after", "G2", box(113.306, 40.085, 113.31, 40.09)),
              shape("before", "G1", box(113.300, 40.085, 113.305, 40.09)),
              shape("before", "G2", box(113.305, 40.085, 113.31, 40.09))]
    moved = gpd.GeoDataFrame({"code": ["B001"], "name": ["1号楼"], "households": [30],
                              "from_code": ["G2"], "to_code": ["G1"]},
                             geometry=[Point(113.3055, 40.087)], crs=4326)
    context = gpd.GeoDataFrame({"code": ["G3"], "name": ["三"]},
                               geometry=[box(113.30, 40.08, 113.305, 40.085)], crs=4326)
    transfers = [{"kind": "buildings", "from": "G2", "to": "G1", "count": 1, "households": 30},
                 {"kind": "sites", "from": "G2", "to": "G1", "count": 1, "households": 0}]
    return ChangesetData("调整方案 #1", shapes, context, moved, transfers)


def test_before_and_after_are_separate_panes_with_their_colours() -> None:
    fmap = changeset_map(edge_moved_east(), Basemap())
    layers = named_layers(fmap)
    assert list(layers) == ["未调整网格", "调整前", "调整后", "户数转移", "改变网格的楼栋"]
    before, after = layers["调整前"], layers["调整后"]
    assert before.options["pane"] == "gl-before" and after.options["pane"] == "gl-after"
    assert [f["properties"]["code"] for f in before.data["features"]] == ["G1", "G2"]
    assert before.style_function({})["color"] == BEFORE_COLOR
    assert after.style_function({})["color"] == AFTER_COLOR
    assert "window.glSwipe" in page_html(fmap)


def test_household_transfer_arrow_and_moved_building() -> None:
    layers = named_layers(changeset_map(edge_moved_east(), Basemap()))
    lines = [c for c in walk(layers["户数转移"]) if isinstance(c, folium.PolyLine)]
    assert len(lines) == 1  # only the buildings row carries households
    tip = next(c for c in walk(lines[0]) if isinstance(c, folium.Tooltip))
    assert tip.text == "G2 → G1：30 户，1 栋"
    moved = [c for c in walk(layers["改变网格的楼栋"]) if isinstance(c, folium.CircleMarker)]
    assert [m.location for m in moved] == [[40.087, 113.3055]]
