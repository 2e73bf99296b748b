"""Keys limited to one area, over HTTP: a key of the west community (向阳社区 140213001001)
never sees an event of the east community (东风社区 140213001002) - not in /events, an
event's page, the map pages, exports, OGC items, vector tiles or the alarm feed. A path that
names the other area is 403 naming both codes; a read without an area is filtered to the
key's own (tests/e2e/city.py: events e1, e2, e3, a1 in the west, e4 in the east)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.events import ALARM_CHANNEL
from geo.keys import create_key
from tests.api.test_jobs import ASYNC, SITES, committed, finished
from tests.api.test_tiles import tile_of
from tests.conftest import auth
from tests.e2e.city import new_alarm, seed_small_city

__all__ = ["committed"]  # the fixture of tests/api/test_jobs.py, used here

WEST, EAST = "140213001001", "140213001002"
WEST_EVENTS = ["a1", "e1", "e2", "e3", "e5"]
EAST_EVENT = "e4"


CHAIN = ("UPDATE event_assignments SET district_code = left(grid_code, 6),"
         " street_code = left(grid_code, 9), community_code = left(grid_code, 12)")
"""The grid chain of the city's assignments (tests/e2e/city.py stores the grid only)."""


@pytest.fixture
def west_key(db: Session) -> dict[str, str]:
    """The small city and the headers of a viewer key limited to the west community."""
    seed_small_city(db.connection())
    db.execute(text(CHAIN))
    key = create_key(db, "向阳社区大屏", "viewer", area_code=WEST)
    db.commit()  # a savepoint release: survives a refused (rolled-back) request
    return {"X-API-Key": key}


def _ids(db: Session) -> dict[str, int]:
    return {str(cid): int(i) for cid, i in db.execute(text(
        "SELECT client_id, id FROM events WHERE reporter = 'W001'")).all()}


def _refused(response: Any, value: str) -> None:
    """403 naming the asked area and the key's."""
    assert response.status_code == 403, response.text
    assert response.json()["details"] == [{"field": "area", "value": value, "key_area": WEST}]


def test_event_list_is_the_keys_area_and_another_area_is_403(
        client: TestClient, db: Session, west_key: dict[str, str]) -> None:
    listed = client.get("/events", params={"limit": 100}, headers=west_key).json()
    assert sorted(e["client_id"] for e in listed["events"]) == WEST_EVENTS
    assert listed["total"] == 5
    inner = client.get("/events", params={"area": WEST + "001"}, headers=west_key).json()
    assert sorted(e["client_id"] for e in inner["events"]) == ["e1", "e2", "e5"]
    _refused(client.get("/events", params={"area": EAST}, headers=west_key), EAST)
    _refused(client.get("/events", params={"area": "140213001"}, headers=west_key),
             "140213001")  # the street holds the east too


def test_one_event_outside_the_area_is_403(client: TestClient, db: Session,
                                           west_key: dict[str, str]) -> None:
    ids = _ids(db)
    assert client.get(f"/events/{ids['e1']}", headers=west_key).status_code == 200
    for path in (f"/events/{ids[EAST_EVENT]}", f"/maps/events/{ids[EAST_EVENT]}"):
        refused = client.get(path, headers=west_key)
        assert refused.status_code == 403, path
        assert refused.json()["details"] == [{"event": ids[EAST_EVENT],
                                              "grid_code": EAST + "001", "key_area": WEST}]
    assert client.get(f"/maps/events/{ids['e1']}", headers=west_key).status_code == 200
    assert client.get("/events/999999999", headers=west_key).status_code == 404


def test_map_pages_refuse_another_area_and_default_to_the_keys(
        client: TestClient, db: Session, west_key: dict[str, str]) -> None:
    for page in ("/maps/events", "/maps/grids", "/maps/coverage", "/maps/alarms"):
        _refused(client.get(page, params={"area": EAST}, headers=west_key), EAST)
    page = client.get("/maps/events", params={"start": "2026-11-01T00:00:00+08:00",
                                              "end": "2026-11-04T00:00:00+08:00"},
                      headers=west_key)
    assert page.status_code == 200
    assert "向阳社区" in page.text and "140213001002001" not in page.text


def test_alarm_feed_and_board_hold_the_keys_area_only(
        client: TestClient, db: Session, west_key: dict[str, str],
        keys: dict[str, str]) -> None:
    east_alarm = new_alarm(db.connection(), "a-east", 113.3125, 40.085)
    db.execute(text("UPDATE event_assignments SET grid_code = :g WHERE event_id = :e"),
               {"g": EAST + "001", "e": east_alarm})
    db.execute(text(CHAIN))
    db.commit()
    west = client.get("/maps/alarms/feed", headers=west_key).json()
    assert [f["properties"]["grid_code"] for f in west["alarms"]] == [WEST + "003"]
    everyone = client.get("/maps/alarms/feed", headers={"X-API-Key": keys["viewer"]}).json()
    assert [f["properties"]["grid_code"] for f in everyone["alarms"]] == [
        WEST + "003", EAST + "001"]
    board = client.get("/maps/alarms", headers=west_key)
    assert board.status_code == 200 and EAST + "001" not in board.text


def test_exports_hold_the_keys_area_only(client: TestClient, db: Session,
                                         west_key: dict[str, str]) -> None:
    def exported(layer: str) -> list[Any]:
        response = client.get(f"/export/{layer}", headers=west_key)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["features"]]

    assert sorted(exported("events")) == WEST_EVENTS
    assert exported("grids") == [WEST + "001", WEST + "002", WEST + "003", WEST + "004",
                                 WEST + "901"]
    assert exported("areas") == [WEST]
    assert exported("buildings") == ["B001", "B002", "B003"]
    assert exported("workers") == ["W001", "W002"]
    parent = client.get("/export/events", params={"parent": EAST + "001"}, headers=west_key)
    assert parent.json()["features"] == []


def test_ogc_event_items_hold_the_keys_area_only(client: TestClient, db: Session,
                                                 west_key: dict[str, str]) -> None:
    ids = _ids(db)
    page = client.get("/ogc/collections/events/items", params={"limit": 100},
                      headers=west_key).json()
    assert sorted(f["properties"]["client_id"] for f in page["features"]) == WEST_EVENTS
    assert page["numberMatched"] == 5
    east = client.get(f"/ogc/collections/events/items/{ids[EAST_EVENT]}", headers=west_key)
    assert east.status_code == 404
    assert client.get(f"/ogc/collections/events/items/{ids['e1']}",
                      headers=west_key).status_code == 200


def test_event_tiles_hold_the_keys_area_only(client: TestClient, db: Session,
                                             west_key: dict[str, str],
                                             keys: dict[str, str]) -> None:
    z = 14  # one tile holds the whole city; below z 15 the events layer counts per grid
    x, y = tile_of(113.310, 40.085, z)
    period = {"start": "2026-11-01T00:00:00+08:00", "end": "2026-11-04T00:00:00+08:00"}
    path = f"/tiles/events/WebMercatorQuad/{z}/{y}/{x}"
    _refused(client.get(path, params={**period, "area": EAST}, headers=west_key), EAST)
    response = client.get(path, params=period, headers=west_key)
    assert response.status_code == 200, response.text
    counts = {f["properties"]["code"]: f["properties"]["events"] for f in
              mapbox_vector_tile.decode(response.content)["events"]["features"]}
    assert counts == {WEST + "001": 3, WEST + "002": 1, WEST + "003": 1, WEST + "004": 0}
    x, y = tile_of(113.3120, 40.0850, 15)  # the east event's tile, with points: it holds a1
    names = {i: c for c, i in _ids(db).items()}

    def points(headers: dict[str, str]) -> list[str]:
        tile = client.get(f"/tiles/events/WebMercatorQuad/15/{y}/{x}", params=period,
                          headers=headers)
        return sorted(names[f["properties"]["id"]] for f in
                      mapbox_vector_tile.decode(tile.content)["events"]["features"])

    assert points(west_key) == ["a1"]
    assert points({"X-API-Key": keys["viewer"]}) == ["a1", EAST_EVENT]
    tilejson = client.get("/tiles/events/WebMercatorQuad", headers=west_key).json()
    assert f"area={WEST}" in json.dumps(tilejson["tiles"])


def test_export_job_holds_the_keys_area_only(client: TestClient, keys: dict[str, str],
                                             west_key: dict[str, str],
                                             committed: Engine) -> None:
    """A job reads committed rows (not the test's transaction, where the city is): two sites
    imported by a job, with no grid there (grid_code empty), lie in no area."""
    sent = client.post("/import/sites", headers={**auth(keys, "planner"), **ASYNC},
                       files={"file": ("sites.geojson", json.dumps(SITES).encode())})
    assert finished(client, auth(keys, "planner"), sent.json()["id"])["state"] == "succeeded"
    rows = {}
    for name, headers in (("all", auth(keys, "viewer")), ("west", west_key)):
        job = client.post("/export/sites", headers=headers)
        assert job.status_code == 202, job.text
        done = finished(client, headers, job.json()["id"])
        assert done["params"]["area"] == (WEST if name == "west" else None)
        rows[name] = client.get(done["result_url"], headers=headers).json()["features"]
    assert sorted(f["properties"]["code"] for f in rows["all"]) == ["JOBS001", "JOBS002"]
    assert rows["west"] == []


AREA_DISTRICT = "149901"  # a district of its own, committed for the live server's key


def test_alarm_stream_of_a_key_with_an_area(engine: Engine) -> None:
    """A dispatcher key of district 149901 hears the alarm of a grid inside it, not the one
    before it outside (alarms sent on the hub's channel, as geo.events sends them)."""
    with Session(engine) as s, s.begin():
        s.execute(text("INSERT INTO admin_areas (code, name, level, geom) VALUES (:c, '测试区',"
                       " 'district', ST_Multi(ST_MakeEnvelope(113.0, 40.0, 113.1, 40.1, 4326)))"),
                  {"c": AREA_DISTRICT})
        key = create_key(s, "sse area dispatcher", "dispatcher", area_code=AREA_DISTRICT)
    server, sock, thread = _live()
    try:
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with httpx.Client(base_url=base, timeout=10) as http, http.stream(
                "GET", "/alarms/stream", headers={"X-API-Key": key}) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith(":")  # listening
            with engine.begin() as conn:
                for event_id, grid in ((1, "140213001001001"), (2, AREA_DISTRICT + "001001001")):
                    conn.execute(text("SELECT pg_notify(:ch, :payload)"), {
                        "ch": ALARM_CHANNEL, "payload": json.dumps(
                            {"kind": "alarm", "event_id": event_id, "grid": {"code": grid}})})
            data = next(line for line in lines if line.startswith("data:"))
        assert json.loads(data.partition(":")[2])["event_id"] == 2
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        with Session(engine) as s, s.begin():
            s.execute(text("DELETE FROM api_keys WHERE name = 'sse area dispatcher'"))
            s.execute(text("DELETE FROM admin_areas WHERE code = :c"), {"c": AREA_DISTRICT})


def _live() -> tuple[uvicorn.Server, socket.socket, threading.Thread]:
    """uvicorn serving the app on a free local port, in a thread (as tests/api/test_dispatch)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, sock, thread
