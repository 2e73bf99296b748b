"""Every bad input of issue #12 answers 4xx with the error body naming the field, never 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import auth

EVENT = {"category": "garbage", "lon": 113.3, "lat": 40.1}


def assert_4xx(response: Any, status: int, error: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == error
    if field is not None:
        assert field in [d.get("field") for d in body["details"]], body


@pytest.mark.parametrize(("path", "field"), [
    ("/planning/changesets/2147483648", "path.changeset_id"),
    ("/planning/changesets/0/preview", "path.changeset_id"),
    ("/planning/validate?area=1&changeset=2147483648", "query.changeset"),
    ("/events/9223372036854775808", "path.event_id"),
    ("/events?offset=9223372036854775808", "query.offset"),
    ("/maps/alarms/feed?after=9223372036854775808", "query.after"),
    ("/events?area=%00", "query.area"),
    ("/export/grids?parent=%00", "query.parent"),
    ("/events/1%00", "path"),
    ("/locate?lon=113.3&lat=40.1&radius=nan", "query.radius"),
    ("/locate?lon=113.3&lat=40.1&radius=inf", "query.radius"),
    ("/locate?lon=113.3&lat=40.1&radius=1e400", "query.radius"),
    ("/locate?lon=nan&lat=40.1", "query.lon"),
    ("/locate?lon=113.3&lat=40.1&k=0", "query.k"),
    ("/locate?lon=113.3&lat=40.1&crs=%00", "query.crs"),
    ("/stats?since=0001-01-01T00:00:00", "query.since"),
    ("/events?since=9999-12-31T23:59:59%2B14:00", "query.since"),
])
def test_bad_query_or_path_is_422(client: TestClient, keys: dict[str, str], path: str,
                                  field: str | None) -> None:
    assert_4xx(client.get(path, headers=auth(keys, "viewer")), 422, "validation_failed", field)


def test_export_with_nul_fails_before_streaming(client: TestClient,
                                                keys: dict[str, str]) -> None:
    response = client.get("/export/grids?parent=%00", headers=auth(keys, "viewer"))
    assert response.headers["content-type"] == "application/json"
    assert response.json()["details"] == [{"field": "query.parent", "problem":
                                           "text must not contain NUL characters"}]


def test_time_without_offset_is_china_standard_time(client: TestClient,
                                                    keys: dict[str, str]) -> None:
    response = client.get("/stats?since=2026-11-01&until=2026-11-02T00:00:00Z",
                          headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    assert response.json()["since"] == "2026-11-01T00:00:00+08:00"


def post_event(client: TestClient, keys: dict[str, str], body: Any) -> Any:
    return client.post("/events", content=json.dumps(body),
                       headers={**auth(keys, "dispatcher"), "Content-Type": "application/json"})


@pytest.mark.parametrize(("body", "field"), [
    ({**EVENT, "reported_at": "9999-12-31T23:59:59+14:00"}, "reported_at"),
    ({**EVENT, "reported_at": "0001-01-01T00:00:00+14:00"}, "reported_at"),
    ({**EVENT, "category": "a\x00b"}, "category"),
    ({**EVENT, "lon": "NaN"}, "lon"),
    ({"type": "Feature", "geometry": [1], "properties": {"category": "x"}}, "geometry"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.3, 40.1]},
      "properties": [1, 2]}, "properties"),
    ([1, 2], "body"),
])
def test_bad_event_is_422(client: TestClient, keys: dict[str, str], db: Session,
                          body: Any, field: str) -> None:
    assert_4xx(post_event(client, keys, body), 422, "validation_failed", field)
    assert db.scalar(text("SELECT count(*) FROM events")) == 0


def test_deeply_nested_json_is_400(client: TestClient, keys: dict[str, str]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/events", "/alarms", "/events/bulk"):
        role = "worker" if path == "/alarms" else "dispatcher"
        response = client.post(path, content=deep, headers={
            **auth(keys, role), "Content-Type": "application/json"})
        assert_4xx(response, 400, "unreadable_file", "body")
    response = client.post("/planning/changesets", content=deep, headers={
        **auth(keys, "planner"), "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize("body", [{"type": "FeatureCollection", "features": 5}, [1], 7])
def test_bulk_without_a_features_array_is_422(client: TestClient, keys: dict[str, str],
                                              body: Any) -> None:
    response = client.post("/events/bulk", content=json.dumps(body), headers={
        **auth(keys, "dispatcher"), "Content-Type": "application/geo+json"})
    assert_4xx(response, 422, "validation_failed", "features")


@pytest.mark.parametrize("name", [".", "..", "x" * 300 + ".geojson"])
def test_unusable_draft_file_names_are_400(client: TestClient, keys: dict[str, str],
                                           name: str) -> None:
    response = client.post("/planning/import-draft", data={"area_code": "140213001001"},
                           files={"file": (name, b"{}")}, headers=auth(keys, "planner"))
    assert_4xx(response, 400, "unreadable_file", "file")


def test_unusable_import_file_name_is_400(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/import/grids", files={"file": ("y" * 300, b"{}")},
                           headers=auth(keys, "planner"))
    assert_4xx(response, 400, "unreadable_file", "file")


@pytest.mark.parametrize(("path", "field"), [
    ("/maps/locate?lon=nan&lat=40.1", "query.lon"),
    ("/maps/locate?lon=113.3&lat=1e400", "query.lat"),
    ("/planning/history?area=140213001001&at=0001-01-01T00:00:00Z", "query.at"),
    ("/planning/diff?area=140213001001&from=0001-01-01T00:00:00Z&to=2026-01-01", "query.from"),
    ("/planning/diff?area=140213001001&from=2026-01-01&to=3000-01-01", "query.to"),
])
def test_more_bad_queries_are_422(client: TestClient, keys: dict[str, str], path: str,
                                  field: str) -> None:
    assert_4xx(client.get(path, headers=auth(keys, "viewer")), 422, "validation_failed", field)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/planning/changesets", {"area_code": "14\x00", "reason": "r"}, "body.area_code"),
    ("/planning/changesets/1/merge", {"codes": ["1", "2\x00"]}, "body.codes.1"),
    ("/admin/keys", {"name": "a\x00", "role": "viewer"}, "body.name"),
])
def test_nul_in_a_json_body_field_is_422(client: TestClient, keys: dict[str, str], path: str,
                                         body: dict[str, Any], field: str) -> None:
    response = client.post(path, json=body, headers=auth(keys, "admin"))
    assert_4xx(response, 422, "validation_failed", field)
