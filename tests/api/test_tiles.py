"""Vector tiles over HTTP (/tiles): every tile decodes with mapbox-vector-tile, its features
lie inside the tile (plus its buffer) and hold the exact values; ETag, 304 and a publish."""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import mapdata
from geo.planning.changesets import open_changeset
from geo.planning.operations import reshape
from geo.planning.validate import validate_area
from geo.video.views import refresh_views
from tests.conftest import auth
from tests.e2e.city import (
    CAM_FACING_AWAY,
    CAM_FACING_INCIDENT,
    CAM_OFFLINE,
    GRIDS,
    seed_small_city,
)

CITY = (113.300, 40.080, 113.320, 40.090)
"""The small city's extent (lon/lat)."""
EVENTS = "start=2026-10-31T16:00Z&end=2026-11-03T16:00Z"
"""Every event of the small city (three days, China time)."""
ORDINARY = {code: hh for code, _, kind, level, *_rest, hh, _g in GRIDS
            if level == "grid" and kind != "dedicated"}
MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture
def city(db: Session) -> None:
    seed_small_city(db.connection())
    db.commit()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(x, y) of the WebMercatorQuad tile holding (lon, lat) at zoom ``z``."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles_over(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """Every tile (x, y) at zoom ``z`` touching lon/lat ``bounds``."""
    x0, y0 = tile_of(bounds[0], bounds[3], z)
    x1, y1 = tile_of(bounds[2], bounds[1], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def features(client: TestClient, keys: dict[str, str], layer: str, z: int, x: int, y: int,
             query: str = "") -> list[dict[str, Any]]:
    """The decoded features of one tile, each checked to lie within the tile's extent plus
    its 64-unit buffer and to touch the tile itself."""
    response = client.get(f"/tiles/{layer}/WebMercatorQuad/{z}/{y}/{x}?{query}",
                          headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    decoded = mapbox_vector_tile.decode(response.content)
    if not decoded:
        assert response.content == b""
        return []
    assert list(decoded) == [layer]
    assert decoded[layer]["extent"] == 4096
    found = decoded[layer]["features"]
    for feature in found:
        geom = shape(feature["geometry"])
        minx, miny, maxx, maxy = geom.bounds
        assert -64 <= minx and maxx <= 4096 + 64 and -64 <= miny and maxy <= 4096 + 64, \
            (layer, z, x, y, geom.bounds)
        assert geom.intersects(box(0, 0, 4096, 4096)), (layer, z, x, y, geom.wkt)
    return found


def test_a_grid_tile_holds_each_grid_with_the_households_of_validation(
        client: TestClient, keys: dict[str, str], db: Session, city: None) -> None:
    x, y = tile_of(113.31, 40.085, 13)
    assert tiles_over(CITY, 13) == [(x, y)]
    found = features(client, keys, "grids", 13, x, y)
    validated = {g.code: (g.households, g.deviation)
                 for g in validate_area(db, "140213").grids if g.code in ORDINARY}
    assert {f["properties"]["code"]: (f["properties"]["households"],
                                      f["properties"]["deviation"]) for f in found} == validated
    assert validated["140213001001002"] == (70, -0.7667)  # its buildings' households
    assert {f["geometry"]["type"] for f in found} == {"Polygon"}


@pytest.mark.parametrize("z", [10, 13, 15, 17])
def test_every_layer_decodes_inside_its_tiles_at_every_zoom(
        client: TestClient, keys: dict[str, str], db: Session, city: None, z: int) -> None:
    seen: dict[str, set[Any]] = {}
    for layer in ("grids", "dedicated_grids", "micro_grids", "cameras", "coverage", "events"):
        for x, y in tiles_over(CITY, z):
            for f in features(client, keys, layer, z, x, y, EVENTS):
                props = f["properties"]
                seen.setdefault(layer, set()).add(props.get("code", props.get("id")))
    ids = set(db.scalars(text("SELECT id FROM events")))
    events = ids if z >= 15 else set(ORDINARY)  # points from zoom 15, counts per grid below
    assert len(ids) == 6
    assert seen == {"grids": set(ORDINARY), "dedicated_grids": {"140213001001901"},
                    "micro_grids": {"14021300100100101", "14021300100100102"},
                    "cameras": {CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE},
                    "coverage": set(ORDINARY), "events": events}


def test_views_layer_has_every_current_visibility_polygon_inside_its_tiles(
        client: TestClient, keys: dict[str, str], db: Session, city: None) -> None:
    assert refresh_views(db).views > 0
    db.commit()
    stored = {(r.camera_code, r.preset or "") for r in db.execute(text(
        "SELECT camera_code, preset FROM camera_views WHERE valid_to IS NULL"))}
    seen: set[tuple[str, str]] = set()
    for x, y in tiles_over(CITY, 15):
        for f in features(client, keys, "views", 15, x, y):
            props = f["properties"]
            assert props["status"] in {"online", "offline"} and props["area_m2"] > 0
            seen.add((props["camera_code"], props.get("preset", "")))
    assert seen == stored and {CAM_FACING_INCIDENT, CAM_OFFLINE} <= {c for c, _ in seen}


def test_event_counts_per_grid_below_the_points_zoom_and_points_above(
        client: TestClient, keys: dict[str, str], db: Session, city: None) -> None:
    x, y = tile_of(113.31, 40.085, 13)
    counts = {f["properties"]["code"]: f["properties"]["events"]
              for f in features(client, keys, "events", 13, x, y, EVENTS)}
    assert counts == {"140213001001001": 3, "140213001001002": 1, "140213001001003": 1,
                      "140213001001004": 0, "140213001002001": 1, "140213001002002": 0}
    only = {f["properties"]["code"]: f["properties"]["events"] for f in features(
        client, keys, "events", 13, x, y, EVENTS + "&category=占道经营")}
    assert only["140213001001001"] == 3 and sum(only.values()) == 3
    stored = {int(r.id): (r.category, r.grid_code) for r in db.execute(text(
        "SELECT id, category, grid_code FROM events_with_assignment"))}
    points = {}
    for tx, ty in tiles_over(CITY, 16):
        for f in features(client, keys, "events", 16, tx, ty, EVENTS):
            assert f["geometry"]["type"] == "Point"
            points[int(f["properties"]["id"])] = (f["properties"]["category"],
                                                  f["properties"]["grid_code"])
    assert points == stored


def test_coverage_tiles_hold_the_coverage_page_shares(
        client: TestClient, keys: dict[str, str], db: Session, city: None) -> None:
    x, y = tile_of(113.31, 40.085, 13)
    shares = {f["properties"]["code"]: round(f["properties"]["covered_share"], 9)
              for f in features(client, keys, "coverage", 13, x, y)}
    page = mapdata.grid_camera_coverage(db, "140213")
    assert shares == {c: round(float(s), 9) for c, s in zip(page["code"],
                                                             page["covered_share"], strict=True)}
    assert shares["140213001002001"] == 0.0 and shares["140213001001001"] > 0


def test_area_keeps_only_the_features_under_it(
        client: TestClient, keys: dict[str, str], city: None) -> None:
    x, y = tile_of(113.31, 40.085, 13)
    codes = {f["properties"]["code"] for f in features(client, keys, "grids", 13, x, y,
                                                        "area=140213001002")}
    assert codes == {"140213001002001", "140213001002002"}
    response = client.get(f"/tiles/grids/WebMercatorQuad/13/{y}/{x}?area=999",
                          headers=auth(keys, "viewer"))
    assert response.status_code == 404
    assert response.json()["details"] == [{"field": "area", "value": "999"}]


def test_a_tile_far_from_the_city_is_empty(client: TestClient, keys: dict[str, str],
                                           city: None) -> None:
    assert features(client, keys, "grids", 13, 0, 0) == []


@pytest.mark.parametrize(("path", "field", "value"), [
    ("/tiles/grids/WebMercatorQuad/3/8/0", "y", 8),
    ("/tiles/grids/WebMercatorQuad/3/0/9", "x", 9),
    ("/tiles/grids/WebMercatorQuad/21/0/0", "z", 21)])
def test_a_tile_outside_the_matrix_is_422_naming_the_index(
        client: TestClient, keys: dict[str, str], path: str, field: str, value: int) -> None:
    response = client.get(path, headers=auth(keys, "viewer"))
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field
    assert response.json()["details"][0]["value"] == value


def test_an_unknown_layer_is_404_naming_it(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get("/tiles/roads/WebMercatorQuad/3/0/0", headers=auth(keys, "viewer"))
    assert response.status_code == 404
    assert response.json()["details"] == [{"field": "layer", "value": "roads"}]


def test_etag_304_and_a_publish_changes_the_grid_tiles(
        client: TestClient, keys: dict[str, str], db: Session, city: None) -> None:
    # the test's commits are savepoints: fire the commit-time counters at each statement
    db.execute(text("SET CONSTRAINTS layer_revision_grids IMMEDIATE"))
    x, y = tile_of(113.31, 40.085, 13)
    path = f"/tiles/grids/WebMercatorQuad/13/{y}/{x}"
    first = client.get(path, headers=auth(keys, "viewer"))
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=30"
    again = client.get(path, headers={**auth(keys, "viewer"), "If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    changeset = east_edge_moved(db)
    db.commit()
    drafted = client.get(path, headers={**auth(keys, "viewer"), "If-None-Match": tag})
    assert drafted.status_code == 304  # a draft is not published: the tiles stay
    published = client.post(f"/planning/changesets/{changeset}/publish",
                             headers=auth(keys, "admin"))
    assert published.status_code == 200, published.text
    after = client.get(path, headers={**auth(keys, "viewer"), "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    assert after.content != first.content
    grown = [f for f in mapbox_vector_tile.decode(after.content)["grids"]["features"]
             if f["properties"]["code"] == "140213001002001"]
    assert len(grown) == 1 and shape(grown[0]["geometry"]).area > shape(
        next(f for f in mapbox_vector_tile.decode(first.content)["grids"]["features"]
             if f["properties"]["code"] == "140213001002001")["geometry"]).area


def east_edge_moved(session: Session) -> int:
    """A draft on community 140213001002 (no gap) moving the edge between its grids 001 and
    002 from 113.315 to 113.316 east; its id."""
    changeset = open_changeset(session, "140213001002", "东风一网格东扩", "test planner")
    grown = {"type": "Polygon", "coordinates": [[[113.310, 40.080], [113.316, 40.080],
                                                 [113.316, 40.090], [113.310, 40.090],
                                                 [113.310, 40.080]]]}
    reshape(session, changeset.id, "test planner", "140213001002001", grown)
    return int(changeset.id)


def test_event_tiles_are_tagged_by_content(client: TestClient, keys: dict[str, str],
                                           city: None) -> None:
    x, y = tile_of(113.31, 40.085, 13)
    path = f"/tiles/events/WebMercatorQuad/13/{y}/{x}?{EVENTS}"
    tag = client.get(path, headers=auth(keys, "viewer")).headers["etag"]
    same = client.get(path, headers={**auth(keys, "viewer"), "If-None-Match": tag})
    assert same.status_code == 304
    other = client.get(path + "&category=垃圾暴露",
                       headers={**auth(keys, "viewer"), "If-None-Match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag


def test_tilesets_tile_matrix_set_and_tilejson(client: TestClient, keys: dict[str, str]
                                               ) -> None:
    listed = client.get("/tiles", headers=auth(keys, "viewer")).json()
    assert [t["id"] for t in listed["tilesets"]] == ["grids", "dedicated_grids", "micro_grids",
                                                      "cameras", "coverage", "views", "events"]
    assert listed["tilesets"][0]["links"][2] == {
        "href": "http://testserver/tiles/grids/WebMercatorQuad/{z}/{y}/{x}", "rel": "item",
        "type": MVT, "title": None, "templated": True}
    tms = client.get("/tiles/WebMercatorQuad", headers=auth(keys, "viewer")).json()
    assert len(tms["tileMatrices"]) == 21
    assert tms["tileMatrices"][13]["matrixWidth"] == 8192
    tj = client.get("/tiles/cameras/WebMercatorQuad?area=140213001",
                    headers=auth(keys, "viewer")).json()
    assert tj["tiles"] == ["http://testserver/tiles/cameras/WebMercatorQuad/{z}/{y}/{x}"
                           "?area=140213001"]
    assert tj["vector_layers"][0]["id"] == "cameras"
    assert tj["vector_layers"][0]["fields"]["range_m"] == "Number"


def test_tiles_need_a_reader(client: TestClient) -> None:
    assert client.get("/tiles/grids/WebMercatorQuad/3/0/0").status_code == 401
