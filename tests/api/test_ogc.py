"""OGC API Features over HTTP (TestClient) on the small city (tests/e2e/city.py).

Each declared conformance class is exercised here: core (landing, collections, items with
limit/offset/next, bbox, datetime, single features, 400 for unknown and invalid parameters),
GeoJSON, OpenAPI 3.0 (the service-desc link), CRS by reference (crs, bbox-crs, Content-Crs,
axis order), queryables and CQL2 text (basic, advanced comparisons, S_INTERSECTS with BBOX,
POINT and POLYGON). GDAL's own client: tests/api/test_ogc_gdal.py.
"""

from __future__ import annotations

from typing import Any

import pyproj
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from geo.ogc.metadata import CONFORMANCE
from tests.conftest import auth, client_in_transaction
from tests.e2e.city import seed_small_city

GRIDS = ["140213001001001", "140213001001002", "140213001001003", "140213001001004",
         "140213001002001", "140213001002002"]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


@pytest.fixture
def city(db: Session) -> None:
    seed_small_city(db.connection())
    db.execute(text("DELETE FROM district_crs"))  # rolled back: only this city's zone
    db.execute(text("INSERT INTO district_crs (district_code, srid) VALUES ('140213', 4547)"))
    db.commit()


def _get(client: TestClient, keys: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/ogc{path}", params=params, headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    return response


def _ids(client: TestClient, keys: dict[str, str], collection: str, **params: Any
         ) -> list[str]:
    body = _get(client, keys, f"/collections/{collection}/items", **params).json()
    return [f["id"] for f in body["features"]]


def _bad(client: TestClient, keys: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/ogc{path}", params=params, headers=auth(keys, "viewer"))
    assert response.status_code == 400, response.text
    return response.json()


def test_landing_page_links_the_api_conformance_and_collections(
        client: TestClient, keys: dict[str, str]) -> None:
    body = _get(client, keys, "").json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels == {"self": "http://testserver/ogc",
                    "service-desc": "http://testserver/openapi.json",
                    "service-doc": "http://testserver/docs",
                    "conformance": "http://testserver/ogc/conformance",
                    "data": "http://testserver/ogc/collections"}
    assert _get(client, keys, "/conformance").json() == {"conformsTo": CONFORMANCE}
    paths = client.get("/openapi.json").json()["paths"]
    limit = next(p for p in paths["/ogc/collections/{collection_id}/items"]["get"][
        "parameters"] if p["name"] == "limit")
    assert limit == {"name": "limit", "in": "query", "required": False, "style": "form",
                     "explode": False, "description": "page size", "schema": {
                         "type": "integer", "minimum": 1, "maximum": 10000, "default": 10}}
    bbox = next(p for p in paths["/ogc/collections/{collection_id}/items"]["get"][
        "parameters"] if p["name"] == "bbox")
    assert (bbox["style"], bbox["explode"], bbox["schema"]) == ("form", False, {
        "type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}})


def test_collections_list_what_the_role_may_read(client: TestClient, keys: dict[str, str],
                                                 city: None) -> None:
    body = _get(client, keys, "/collections").json()
    assert [c["id"] for c in body["collections"]] == [
        "districts", "streets", "communities", "grids", "micro-grids", "dedicated-grids",
        "cameras", "sites", "buildings", "roads", "entrances", "events"]
    grids = body["collections"][3]
    assert grids["crs"] == [CRS84, EPSG.format(4326), EPSG.format(4490), EPSG.format(4547)]
    assert grids["storageCrs"] == CRS84
    assert grids["extent"]["spatial"]["bbox"] == [[113.3, 40.08, 113.32, 40.09]]
    assert _get(client, keys, "/collections/events").json()["extent"]["temporal"][
        "interval"] == [["2026-11-01T01:00:00+00:00", "2026-11-03T01:00:00+00:00"]]


def test_public_read_never_sees_events(db: Session, city: None) -> None:
    with client_in_transaction(db, ApiSettings(public_read=True)) as anonymous:
        listed = anonymous.get("/ogc/collections").json()["collections"]
        assert "events" not in [c["id"] for c in listed]
        missing = anonymous.get("/ogc/collections/events/items")
        assert missing.status_code == 404
        assert missing.json()["details"] == [{"field": "collectionId", "value": "events"}]
        assert anonymous.get("/ogc/collections/grids/items").json()["numberMatched"] == 6


def test_items_page_with_next_and_prev_links(client: TestClient, keys: dict[str, str],
                                             city: None) -> None:
    first = _get(client, keys, "/collections/grids/items", limit=4).json()
    assert [f["id"] for f in first["features"]] == GRIDS[:4]
    assert (first["numberMatched"], first["numberReturned"]) == (6, 4)
    links = {link["rel"]: link["href"] for link in first["links"]}
    assert links["next"] == "http://testserver/ogc/collections/grids/items?offset=4&limit=4"
    assert "prev" not in links
    second = client.get(links["next"], headers=auth(keys, "viewer")).json()
    assert [f["id"] for f in second["features"]] == GRIDS[4:]
    assert [link["rel"] for link in second["links"]] == ["self", "prev"]
    feature = first["features"][0]
    assert feature["properties"] == {
        "code": "140213001001001", "name": "向阳一网格", "parent_code": "140213001001",
        "kind": "urban", "households": 150, "population": 450, "responsible_party": None,
        "management_level": None, "start_date": None, "end_date": None, "version": 1,
        "valid_from": feature["properties"]["valid_from"], "valid_to": None}
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert _ids(client, keys, "dedicated-grids") == ["140213001001901"]
    assert _ids(client, keys, "micro-grids") == ["14021300100100101", "14021300100100102"]


def test_bbox_properties_and_events_datetime(client: TestClient, keys: dict[str, str],
                                             city: None) -> None:
    assert _ids(client, keys, "grids", bbox="113.301,40.086,113.304,40.089") == [GRIDS[0]]
    assert _ids(client, keys, "grids", bbox="113.306,40.084,113.309,40.0845") == []  # the gap
    assert _ids(client, keys, "grids", bbox="113.311,40.081,0,113.319,40.082,10") == GRIDS[4:]
    body = _get(client, keys, "/collections/cameras/items",
                properties="name,status", limit=1).json()
    assert body["features"][0]["properties"] == {"name": "向阳路北口", "status": "online"}
    days = _get(client, keys, "/collections/events/items", datetime="2026-11-02").json()
    assert [f["properties"]["client_id"] for f in days["features"]] == ["e3", "e4"]
    open_end = _get(client, keys, "/collections/events/items",
                    datetime="2026-11-03T00:00:00Z/..").json()
    assert [f["properties"]["client_id"] for f in open_end["features"]] == ["e5", "a1"]


def test_grids_as_of_an_instant(client: TestClient, keys: dict[str, str], db: Session,
                                city: None) -> None:
    db.execute(text("UPDATE grids SET valid_from = '2025-01-01T00:00:00Z'"))
    db.execute(text("UPDATE grids SET valid_to = '2025-06-01T00:00:00Z' "
                    "WHERE code = '140213001001001'"))
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, valid_from, geom) SELECT code, '向阳一网格(新)', kind, level,"
        " parent_code, community_code, 160, population, 2, '2025-06-01T00:00:00Z', geom"
        " FROM grids WHERE code = '140213001001001'"))
    db.commit()

    def name_at(**params: Any) -> list[tuple[str, str, int]]:
        body = _get(client, keys, "/collections/grids/items", **params).json()
        return [(f["id"], f["properties"]["name"], f["properties"]["version"])
                for f in body["features"][:1]]

    assert name_at() == [(GRIDS[0], "向阳一网格(新)", 2)]
    assert name_at(datetime="2025-03-01T00:00:00Z") == [(GRIDS[0], "向阳一网格", 1)]
    assert name_at(datetime="2025-06-01T08:00:00+08:00") == [(GRIDS[0], "向阳一网格(新)", 2)]
    assert name_at(datetime="2024-12-31T23:59:59Z") == []
    one = _get(client, keys, f"/collections/grids/items/{GRIDS[0]}",
               datetime="2025-05-31T23:59:59Z").json()
    assert (one["id"], one["properties"]["version"]) == (GRIDS[0], 1)
    refused = _bad(client, keys, "/collections/grids/items", datetime="2025-01-01/..")
    assert refused["details"] == [{"field": "datetime"}]


@pytest.mark.parametrize(("cql", "expected"), [
    ("households > 300", [GRIDS[2], GRIDS[3]]),
    ("households >= 300 AND NOT parent_code = '140213001001'", [GRIDS[4]]),
    ("name LIKE '东风%'", GRIDS[4:]),
    ("households BETWEEN 200 AND 350 OR code IN ('140213001002002')",
     [GRIDS[1], GRIDS[2], GRIDS[4], GRIDS[5]]),
    ("responsible_party IS NULL AND households < 200", [GRIDS[0], GRIDS[5]]),
    ("S_INTERSECTS(geometry, POINT(113.3125 40.085))", [GRIDS[4]]),
    ("S_INTERSECTS(geometry, BBOX(113.301, 40.081, 113.304, 40.089))", [GRIDS[0], GRIDS[2]]),
    ("S_INTERSECTS(geometry, POLYGON((113.306 40.081, 113.309 40.081, 113.309 40.089, "
     "113.306 40.081))) AND households > 300", [GRIDS[3]]),
    ("S_INTERSECTS(geometry, POLYGON((113.301 40.081, 113.304 40.089, 113.304 40.081, "
     "113.301 40.089, 113.301 40.081)))", [GRIDS[0], GRIDS[2]]),  # a bow-tie: made valid
])
def test_cql2_text_filters(client: TestClient, keys: dict[str, str], city: None, cql: str,
                           expected: list[str]) -> None:
    assert _ids(client, keys, "grids", filter=cql, **{"filter-lang": "cql2-text"}) == expected


def test_filter_crs_and_bbox_crs_take_the_crs_axis_order(
        client: TestClient, keys: dict[str, str], city: None) -> None:
    assert _ids(client, keys, "grids", filter="S_INTERSECTS(geometry, POINT(40.085 113.3125))",
                **{"filter-crs": EPSG.format(4326)}) == [GRIDS[4]]
    assert _ids(client, keys, "grids", bbox="40.086,113.301,40.089,113.304",
                **{"bbox-crs": "EPSG:4490"}) == [GRIDS[0]]
    to_gk = pyproj.Transformer.from_crs(4326, 4547)  # EPSG order: northing, easting
    n0, e0 = to_gk.transform(40.086, 113.301)
    n1, e1 = to_gk.transform(40.089, 113.304)
    assert _ids(client, keys, "grids", bbox=f"{n0},{e0},{n1},{e1}",
                **{"bbox-crs": EPSG.format(4547)}) == [GRIDS[0]]


def test_crs_transforms_the_output_in_its_axis_order(client: TestClient,
                                                     keys: dict[str, str], city: None) -> None:
    camera = "14021300081310000001"  # at 113.3025, 40.0860
    path = f"/collections/cameras/items/{camera}"
    plain = _get(client, keys, path)
    assert plain.headers["Content-Crs"] == f"<{CRS84}>"
    assert plain.json()["geometry"] == {"type": "Point", "coordinates": [113.3025, 40.086]}
    cgcs = _get(client, keys, path, crs=EPSG.format(4490))
    assert cgcs.headers["Content-Crs"] == f"<{EPSG.format(4490)}>"
    assert cgcs.json()["geometry"]["coordinates"] == [40.086, 113.3025]
    zone = _get(client, keys, path, crs=EPSG.format(4547)).json()
    north, east = pyproj.Transformer.from_crs(4326, 4547).transform(40.086, 113.3025)
    assert zone["geometry"]["coordinates"] == [round(north, 3), round(east, 3)]
    page = _get(client, keys, "/collections/cameras/items", crs=EPSG.format(4490), limit=1)
    assert page.headers["Content-Crs"] == f"<{EPSG.format(4490)}>"
    assert page.json()["features"][0]["geometry"]["coordinates"] == [40.086, 113.3025]


def test_queryables_and_single_features(client: TestClient, keys: dict[str, str],
                                        city: None) -> None:
    schema = _get(client, keys, "/collections/cameras/queryables").json()
    assert schema["properties"]["range_m"] == {"title": "range_m", "type": "number"}
    assert schema["properties"]["geometry"] == {"format": "geometry-any"}
    event_id = client.get("/ogc/collections/events/items", params={"limit": 1},
                          headers=auth(keys, "viewer")).json()["features"][0]["id"]
    event = _get(client, keys, f"/collections/events/items/{event_id}").json()
    assert (event["properties"]["client_id"], event["geometry"]["coordinates"]) == (
        "e1", [113.3022, 40.0872])
    assert [link["rel"] for link in event["links"]] == ["self", "collection"]
    for path, value in (("/collections/grids/items/nope", "nope"),
                        ("/collections/events/items/abc", "abc")):
        missing = client.get(f"/ogc{path}", headers=auth(keys, "viewer"))
        assert missing.status_code == 404
        assert missing.json()["details"] == [{"field": "featureId", "value": value}]


@pytest.mark.parametrize(("params", "field"), [
    ({"foo": "1"}, "foo"),
    ({"limit": "0"}, "limit"),
    ({"limit": "10001"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"limit": "ten"}, "limit"),
    ({"bbox": "113.31,40.08,113.30"}, "bbox"),
    ({"bbox": "200,40,201,41"}, "bbox"),
    ({"bbox": "-inf,40,113,41"}, "bbox"),
    ({"crs": "EPSG:3857"}, "crs"),
    ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:4547x"}, "bbox-crs"),
    ({"datetime": "yesterday"}, "datetime"),
    ({"properties": "code,colour"}, "properties"),
    ({"filter": "colour = 'red'"}, "filter"),
    ({"filter": "households = 'many'"}, "filter"),
    ({"filter": "households >"}, "filter"),
    ({"filter": "S_WITHIN(geometry, POINT(1 2))"}, "filter"),
    ({"filter": "code = '1'", "filter-lang": "cql2-json"}, "filter-lang"),
    ({"f": "html"}, "f"),
])
def test_invalid_parameters_are_400_naming_them(client: TestClient, keys: dict[str, str],
                                                city: None, params: dict[str, str],
                                                field: str) -> None:
    body = _bad(client, keys, "/collections/grids/items", **params)
    assert body["details"][0]["field"] == field
