"""layers.patrol: the worker's route map from a hand-made route (no database)."""

from __future__ import annotations

from datetime import date

import folium
import geopandas as gpd
from shapely.geometry import box

from geo.patrols.route import PatrolRoute
from layers.alarms import alarms_map, overdue_patrol_feature
from layers.assets import external_urls, page_html
from layers.base import Basemap
from layers.patrol import patrol_map, patrol_title
from tests.layers.conftest import named_layers, walk

GRID = gpd.GeoDataFrame({"code": ["140213001001001"], "name": ["向阳一网格"]},
                        geometry=[box(113.300, 40.085, 113.305, 40.090)], crs=4326)


def _stop(order: int, code: str, lon: float, leg_m: float, overdue: bool) -> dict[str, object]:
    return {"order": order, "code": code, "name": f"{code} 名", "layer": "sites",
            "category": "primary_school", "frequencies": ["daily"], "due_date": date(2026, 12, 9),
            "overdue": overdue, "task_ids": [order], "lon": lon, "lat": 40.0870, "leg_m": leg_m}


ROUTE = PatrolRoute("140213001001001", "向阳一网格", date(2026, 12, 9), 4547,
                    [_stop(1, "S1", 113.3010, 0.0, False), _stop(2, "S2", 113.3020, 85.2, True),
                     _stop(3, "S3", 113.3040, 170.4, False)], 255.6)


def test_title_says_grid_day_stops_and_length() -> None:
    assert patrol_title(ROUTE) == "向阳一网格 巡查路线 2026-12-09（3 处，256 m）"


def test_route_line_follows_the_stops_in_order_with_numbered_markers() -> None:
    fmap = patrol_map(ROUTE, GRID, Basemap())
    layers = named_layers(fmap)
    assert set(layers) == {"网格", "巡查路线", "待巡查点"}
    line = next(c for c in walk(layers["巡查路线"]) if isinstance(c, folium.PolyLine))
    assert line.locations == [[40.087, 113.301], [40.087, 113.302], [40.087, 113.304]]
    markers = [m for m in walk(layers["待巡查点"]) if isinstance(m, folium.Marker)]
    assert [m.location for m in markers] == [[40.087, 113.301], [40.087, 113.302],
                                            [40.087, 113.304]]
    icons = [c for m in markers for c in m._children.values() if isinstance(c, folium.DivIcon)]
    assert ["#d7301f" in i.options["html"] for i in icons] == [False, True, False]  # overdue
    html = page_html(fmap)
    assert 'window.glPatrolStops = ["S1", "S2", "S3"];' in html
    assert external_urls(html) == []


def test_a_grid_with_nothing_due_draws_only_the_grid() -> None:
    empty = PatrolRoute("140213001001001", "向阳一网格", date(2026, 12, 9), 4547)
    layers = named_layers(patrol_map(empty, GRID, Basemap()))
    assert set(layers) == {"网格", "待巡查点"}
    assert "window.glPatrolStops = [];" in page_html(patrol_map(empty, GRID, Basemap()))


def test_alarm_board_carries_the_overdue_grids() -> None:
    grid = {"grid_code": "140213001001001", "grid_name": "向阳一网格", "overdue": 2,
            "lon": 113.3025, "lat": 40.0875}
    assert overdue_patrol_feature(grid) == {
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [113.3025, 40.0875]},
        "properties": {"grid_code": "140213001001001", "grid_name": "向阳一网格", "overdue": 2}}
    html = page_html(alarms_map("t", (113.30, 40.08, 113.32, 40.09), [], "/f", Basemap(),
                                overdue=[grid]))
    assert '"overdue": [{"type": "Feature"' in html and '"overdueMs": 60000' in html
    assert "\"overdueColor\": \"#fd8d3c\"" in html
