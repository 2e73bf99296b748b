"""layers.incident: incident marker, grid chain, cameras coloured by whether they see it."""

from __future__ import annotations

import folium
import geopandas as gpd
from shapely.geometry import box

from layers.base import Basemap
from layers.coverage import COVERING_COLOR, OFFLINE_COLOR
from layers.incident import IncidentData, incident_map
from tests.e2e.city import INCIDENT
from tests.layers.conftest import named_layers, walk


def incident(cameras: gpd.GeoDataFrame) -> IncidentData:
    chain = gpd.GeoDataFrame({"code": ["140213001001", "140213001001001"],
                              "name": ["向阳社区", "向阳一网格"], "level": ["community", "grid"]},
                             geometry=[box(113.30, 40.08, 113.31, 40.09),
                                       box(113.30, 40.085, 113.305, 40.09)], crs=4326)
    return IncidentData(
        title="事发点", lon=INCIDENT[0], lat=INCIDENT[1], label="事发点", details=[("经度", 1)],
        chain=chain, cameras=cameras, covering={"CAM_NORTH"},
        distances={"CAM_NORTH": 89.0, "CAM_OFF": 85.2},
        workers=[{"role": "grid_leader", "name": "张网格长", "phone": "138"}],
        sites=[{"name": "第一小学", "category": "school", "code": "S1", "distance_m": 25.0,
                "lon": 113.302, "lat": 40.087}])


def test_incident_map_layers_and_marker(camera_facing_north: gpd.GeoDataFrame) -> None:
    fmap = incident_map(incident(camera_facing_north), Basemap())
    layers = named_layers(fmap)
    assert list(layers) == ["网格链（区-街道-社区-网格）", "摄像机", "周边场所"]
    chain = [c for c in walk(layers["网格链（区-街道-社区-网格）"])
             if isinstance(c, folium.GeoJson)]
    assert [c.style_function({})["color"] for c in chain] == ["#7f3b08", "#e31a1c"]
    marker = next(c for c in walk(fmap) if isinstance(c, folium.Marker)
                  and not isinstance(c, folium.CircleMarker))
    assert marker.location == [INCIDENT[1], INCIDENT[0]]
    popup = next(c for c in walk(marker) if isinstance(c, folium.Popup)).html.render()
    assert "网格长" in popup and "张网格长" in popup


def test_camera_that_sees_the_spot_is_green_and_shows_its_distance(
        camera_facing_north: gpd.GeoDataFrame) -> None:
    layers = named_layers(incident_map(incident(camera_facing_north), Basemap()))
    wedges = next(c for c in walk(layers["摄像机"]) if isinstance(c, folium.GeoJson))
    feats = wedges.data["features"]
    assert [wedges.style_function(f)["fillColor"] for f in feats] == [COVERING_COLOR,
                                                                      OFFLINE_COLOR]
    assert [(f["properties"]["distance"], f["properties"]["sees"]) for f in feats] == [
        ("89", "能"), ("85", "不能")]
    popup = next(c for c in walk(wedges) if isinstance(c, folium.GeoJsonPopup))
    assert popup.fields[-3:] == ["distance", "sees", "page"]
    assert ['/maps/cameras/' in f["properties"]["page"] for f in feats] == [True, True]
    sites = [c for c in walk(layers["周边场所"]) if isinstance(c, folium.CircleMarker)]
    assert [s.location for s in sites] == [[40.087, 113.302]]


def test_doubt_panel_lists_every_candidate_and_the_rule() -> None:
    from geo.locate import BoundaryDoubt, GridCandidate
    from layers.base import Panel
    from layers.incident import doubt_panel_html

    doubt = BoundaryDoubt(in_doubt=True, tolerance_m=15.0, chosen="140213001001001",
                          rule="smallest_code", candidates=[
                              GridCandidate(code="140213001001001", name="向阳一网格",
                                            distance_m=0.0, covers=True),
                              GridCandidate(code="140213001001002", name="向阳<二>网格",
                                            distance_m=0.0, covers=True)])
    html_text = doubt_panel_html(doubt)
    assert "GPS 误差 15 m 内有 2 个网格" in html_text
    assert "✔ 向阳一网格" in html_text and "向阳&lt;二&gt;网格" in html_text
    assert "点在共用边界上，取编码最小的网格" in html_text
    data = IncidentData(title="t", lon=INCIDENT[0], lat=INCIDENT[1], label="l", details=[],
                        chain=gpd.GeoDataFrame({"code": [], "name": [], "level": []},
                                               geometry=[], crs=4326),
                        cameras=gpd.GeoDataFrame({"code": [], "status": []}, geometry=[],
                                                 crs=4326), boundary=doubt)
    panels = [c for c in walk(incident_map(data, Basemap())) if isinstance(c, Panel)]
    assert [(p.css_class, p.position, p.html) for p in panels] == [
        ("gl-doubt", "topright", html_text)]
