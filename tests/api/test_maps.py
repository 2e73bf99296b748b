"""The /maps pages over HTTP: HTML served, offline assets resolvable, errors named."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from layers.assets import external_urls
from tests.conftest import auth, client_in_transaction
from tests.e2e.city import INCIDENT, draft_moving_edge, seed_small_city

PAGES = ["/maps", "/maps?q=向阳", "/maps/grids?area=140213001", "/maps/grids",
         "/maps/coverage?area=140213001001", "/maps/events?area=140213&start=2026-10-31T16:00Z"
         "&end=2026-11-03T16:00Z", "/maps/alarms?area=140213001",
         f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
         "/maps/grids?area=140213001001001", "/maps/coverage?area=140213001001001",
         "/maps/alarms?area=140213001001001", "/maps/events?area=140213001001001",
         "/maps/coverage?area=140213&tiles=true", "/maps/grids?area=140213&tiles=true"]


@pytest.fixture
def city(db: Session) -> None:
    seed_small_city(db.connection())
    db.commit()  # a savepoint release: the city survives a rolled-back request


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_with_only_local_assets(client: TestClient, keys: dict[str, str],
                                               city: None, path: str) -> None:
    response = client.get(path, headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert external_urls(response.text) == []


def test_every_static_asset_and_what_its_css_references_is_served(
        client: TestClient, keys: dict[str, str], city: None) -> None:
    seen: set[str] = set()
    for path in PAGES:
        html = client.get(path, headers=auth(keys, "viewer")).text
        seen |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    assert len(seen) >= 15
    for asset in sorted(seen):
        response = client.get(asset)
        assert response.status_code == 200, asset
        if asset.endswith(".css"):
            for ref in re.findall(r"url\(['\"]?([^'\")]+)['\"]?\)", response.text):
                if ref.startswith("data:") or ref.startswith("#"):
                    continue
                assert not ref.startswith(("http:", "https:", "//")), (asset, ref)
                target = asset.rsplit("/", 1)[0] + "/" + ref.split("?")[0].split("#")[0]
                assert client.get(target).status_code == 200, (asset, ref)


def test_unknown_area_is_404_naming_the_field(client: TestClient, keys: dict[str, str],
                                             city: None) -> None:
    response = client.get("/maps/grids?area=999999", headers=auth(keys, "viewer"))
    assert response.status_code == 404
    assert response.json()["details"] == [{"field": "area", "value": "999999"}]


def test_unknown_event_and_bad_coordinates(client: TestClient, keys: dict[str, str],
                                           city: None) -> None:
    assert client.get("/maps/events/999999", headers=auth(keys, "viewer")).status_code == 404
    bad = client.get("/maps/locate?lon=40.0868&lat=113.3025", headers=auth(keys, "viewer"))
    assert bad.status_code == 422 and bad.json()["error"] == "out_of_area"
    period = client.get("/maps/events?area=140213&start=2026-11-03T00:00Z&end=2026-11-01T00:00Z",
                        headers=auth(keys, "viewer"))
    assert period.status_code == 422, period.text
    assert period.json()["details"][0]["field"] == "start"


def test_alarm_feed_returns_newer_alarms_as_geojson(client: TestClient, keys: dict[str, str],
                                                    city: None) -> None:
    body = client.get("/maps/alarms/feed?after=0", headers=auth(keys, "viewer")).json()
    assert [f["properties"]["grid_code"] for f in body["alarms"]] == ["140213001001003"]
    assert body["alarms"][0]["geometry"]["coordinates"] == [113.303, 40.083]
    again = client.get(f"/maps/alarms/feed?after={body['last_id']}", headers=auth(keys, "viewer"))
    assert again.json() == {"alarms": [], "last_id": body["last_id"]}


def test_alarm_board_listens_to_the_stream_only_for_dispatchers(
        client: TestClient, keys: dict[str, str], city: None) -> None:
    viewer = client.get("/maps/alarms", headers=auth(keys, "viewer")).text
    dispatcher = client.get("/maps/alarms", headers=auth(keys, "dispatcher")).text
    assert '"stream": null' in viewer
    assert '"stream": "/alarms/stream"' in dispatcher


def test_gcj02_tile_setting_is_refused(db: Session, keys: dict[str, str], city: None) -> None:
    amap = ApiSettings(tile_url="https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}")
    with client_in_transaction(db, amap) as amap_client:
        response = amap_client.get("/maps/coverage?area=140213001", headers=auth(keys, "viewer"))
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "GRIDLINK_TILE_URL"}]


def test_changeset_and_drawing_pages(client: TestClient, keys: dict[str, str], db: Session,
                                     city: None) -> None:
    cs = draft_moving_edge(db, author="test planner")
    db.commit()
    for path in (f"/maps/changesets/{cs}", f"/maps/changesets/{cs}/draw"):
        response = client.get(path, headers=auth(keys, "viewer"))
        assert response.status_code == 200, response.text
        assert external_urls(response.text) == []
    assert f'"/planning/changesets/{cs}"' in client.get(
        f"/maps/changesets/{cs}/draw", headers=auth(keys, "viewer")).text
    missing = client.get("/maps/changesets/999999", headers=auth(keys, "viewer"))
    assert missing.status_code == 404
