"""Dispatch API: /locate, /events, /events/bulk, lifecycle actions, /alarms (+ SSE), /stats."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.keys import create_key
from tests.conftest import auth
from tests.geo.test_locate import G1, build_small_city


@pytest.fixture
def city_client(client: TestClient, db: Session) -> TestClient:
    build_small_city(db)
    db.commit()
    return client


def test_locate_returns_whole_answer(city_client: TestClient, keys: dict[str, str]) -> None:
    r = city_client.get("/locate", params={"lon": 113.301, "lat": 40.0808},
                        headers=auth(keys, "viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"]["code"] == G1 and body["district"]["code"] == "140213"
    assert [c["code"] for c in body["cameras"]] == ["14021300081310000001",
                                                    "14021300081310000002"]
    assert body["cameras"][0]["stream_url"] == "rtsp://video.local/14021300081310000001"
    assert body["enough_cameras"] is False and len(body["other_cameras"]) == 2
    assert [s["code"] for s in body["sites"]] == ["S-school"]


def test_locate_accepts_gcj02(city_client: TestClient, keys: dict[str, str]) -> None:
    from geo.crs import wgs84_to_gcj02

    x, y = wgs84_to_gcj02(113.301, 40.0808)
    r = city_client.get("/locate", params={"lon": float(x), "lat": float(y), "crs": "gcj02"},
                        headers=auth(keys, "viewer"))
    assert r.status_code == 200 and r.json()["grid"]["code"] == G1
    assert r.json()["lon"] == pytest.approx(113.301, abs=1e-8)


@pytest.mark.parametrize(("params", "status", "error"), [
    ({"lon": 40.08, "lat": 113.3}, 422, "out_of_area"),
    ({"lon": "nan", "lat": 40.0}, 422, "validation_failed"),  # not finite: names query.lon
    ({"lon": 113.3, "lat": 40.0, "crs": "EPSG:99999x"}, 400, "unknown_crs"),
    ({"lon": 113.3}, 422, "validation_failed"),
])
def test_locate_bad_input(client: TestClient, keys: dict[str, str], params: dict[str, object],
                          status: int, error: str) -> None:
    r = client.get("/locate", params=params, headers=auth(keys, "viewer"))
    assert (r.status_code, r.json()["error"]) == (status, error), r.text


def test_locate_names_swapped_coordinates(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/locate", params={"lon": 40.08, "lat": 113.3}, headers=auth(keys, "viewer"))
    assert "swapped" in r.json()["message"] and r.json()["details"][0]["likely_swapped"]


def test_post_event_feature_is_assigned_and_idempotent(
    city_client: TestClient, keys: dict[str, str]
) -> None:
    feature = {"type": "Feature", "id": "app-1",
               "geometry": {"type": "Point", "coordinates": [113.3020, 40.0805]},
               "properties": {"category": "garbage", "description": "堆放垃圾"}}
    first = city_client.post("/events", json=feature, headers=auth(keys, "worker"))
    assert first.status_code == 201, first.text
    event = first.json()
    assert (event["grid_code"], event["micro_grid_code"], event["assignment"]) == (
        G1, G1 + "01", "covered")
    assert event["status"] == "reported" and event["client_id"] == "app-1"
    again = city_client.post("/events", json=feature, headers=auth(keys, "worker"))
    assert again.status_code == 201 and again.json() == event  # the same answer, replayed
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"", "application/json", 400),
    (b"category=x", "application/x-www-form-urlencoded", 415),
    (b"{not json", "application/json", 400),
    (b'{"category": "x", "lon": 113.3}', "application/json", 422),
    (b'{"category": "x", "lon": 1e400, "lat": 40}', "application/json", 422),
])
def test_post_event_bad_bodies(client: TestClient, keys: dict[str, str], body: bytes,
                               content_type: str, status: int) -> None:
    r = client.post("/events", content=body, headers={**auth(keys, "worker"),
                                                      "Content-Type": content_type})
    assert r.status_code == status, r.text
    assert r.json()["error"]


def test_lifecycle_and_illegal_transition(city_client: TestClient,
                                          keys: dict[str, str]) -> None:
    made = city_client.post("/events", json={"category": "light", "lon": 113.301, "lat": 40.0808},
                            headers=auth(keys, "worker")).json()
    url = f"/events/{made['id']}/actions"
    head = auth(keys, "dispatcher")
    bad = city_client.post(url, json={"action": "close"}, headers=head)
    assert bad.status_code == 409
    assert bad.json()["details"][0]["allowed"] == ["dispatch", "reject", "escalate"]
    for action in ("dispatch", "start", "resolve", "rework", "resolve", "close"):
        r = city_client.post(url, json={"action": action}, headers=head)
        assert r.status_code == 200, (action, r.text)
    assert (r.json()["status"], r.json()["reworks"]) == ("closed", 1)
    history = city_client.get(f"/events/{made['id']}", headers=head).json()["transitions"]
    assert [t["to_status"] for t in history] == [
        "reported", "dispatched", "in_progress", "resolved", "in_progress", "resolved", "closed"]


def test_list_events_filters(city_client: TestClient, keys: dict[str, str]) -> None:
    for i, (lon, cat) in enumerate([(113.301, "garbage"), (113.303, "garbage"),
                                    (113.303, "light")]):
        city_client.post("/events", json={"client_id": f"L{i}", "category": cat, "lon": lon,
                                          "lat": 40.0808}, headers=auth(keys, "worker"))
    head = auth(keys, "viewer")
    assert city_client.get("/events", params={"area": G1}, headers=head).json()["total"] == 1
    assert city_client.get("/events", params={"area": "140213001"},
                           headers=head).json()["total"] == 3
    got = city_client.get("/events", params={"category": "garbage", "limit": 1},
                          headers=head).json()
    assert (got["total"], len(got["events"])) == (2, 1)
    east = city_client.get("/events", params={"bbox": "113.302,40.08,113.304,40.082"},
                           headers=head).json()
    assert sorted(e["client_id"] for e in east["events"]) == ["L1", "L2"]


def test_bulk_csv_all_or_nothing_then_partial(city_client: TestClient,
                                              keys: dict[str, str]) -> None:
    csv_text = ("client_id,category,reported_at,lon,lat\n"
                "B1,garbage,2026-11-01T08:00:00+08:00,113.301,40.0808\n"
                "B2,garbage,2026-11-01T09:00:00+08:00,40.0808,113.301\n"
                "B3,light,2026-11-01T10:00:00+08:00,113.303,40.0815\n")
    head = {**auth(keys, "dispatcher"), "Content-Type": "text/csv"}
    r = city_client.post("/events/bulk", content=csv_text.encode(), headers=head)
    assert r.status_code == 422, r.text
    assert {d["row"] for d in r.json()["details"]} == {2}
    assert city_client.get("/events", headers=head).json()["total"] == 0
    r = city_client.post("/events/bulk", params={"partial": "true"},
                         content=csv_text.encode(), headers=head)
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["rejected"], r.json()["assigned"]) == (2, 1, 2)
    b3 = city_client.get("/events", params={"area": "140213001001002"}, headers=head).json()
    assert [e["client_id"] for e in b3["events"]] == ["B3"]
    assert b3["events"][0]["due_at"] is not None


def test_bulk_feature_collection(city_client: TestClient, keys: dict[str, str]) -> None:
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, 40.0808]},
                 "properties": {"client_id": cid, "category": "garbage",
                                "reported_at": "2026-11-01T08:00:00+08:00"}}
                for cid, lon in (("F1", 113.301), ("F2", 113.2998), ("F3", 113.299))]
    r = city_client.post("/events/bulk", json={"type": "FeatureCollection", "features": features},
                         headers=auth(keys, "dispatcher"))
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["snapped"], r.json()["unassigned"]) == (3, 1, 1)
    listed = city_client.get("/events", params={"assignment": "unassigned"},
                             headers=auth(keys, "viewer")).json()["events"]
    assert [(e["client_id"], e["nearest_grid_code"]) for e in listed] == [("F3", G1)]


def test_bulk_over_limit_is_413(city_client: TestClient, keys: dict[str, str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(city_client.app.state.settings,  # type: ignore[attr-defined]
                        "bulk_event_limit", 2)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.301, 40.08]},
                 "properties": {"category": "x", "reported_at": "2026-11-01T00:00:00Z"}}] * 3
    r = city_client.post("/events/bulk", json={"type": "FeatureCollection", "features": features},
                         headers=auth(keys, "dispatcher"))
    assert r.status_code == 413 and r.json()["details"] == [{"limit": 2, "rows": 3}]


def test_stats_json_and_csv(city_client: TestClient, keys: dict[str, str], db: Session) -> None:
    city_client.post("/events", json={"category": "x", "lon": 113.301, "lat": 40.0808},
                     headers=auth(keys, "worker"))
    params = {"level": "grid", "since": "2026-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    body = city_client.get("/stats", params=params, headers=auth(keys, "viewer")).json()
    assert [(u["unit"], u["accepted"], u["due"]) for u in body["units"]] == [(G1, 1, 1)]
    csv_text = city_client.get("/stats", params={**params, "format": "csv"},
                               headers=auth(keys, "viewer")).text
    assert csv_text.splitlines()[0].startswith("unit,name,accepted")
    assert csv_text.splitlines()[1].startswith(f"{G1},一网格,1,1,0")


def test_alarm_needs_worker_key(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/alarms", json={"lon": 113.3, "lat": 40.08},
                    headers=auth(keys, "dispatcher"))
    assert r.status_code == 403


# --------------------------------------------------------------------------- live SSE


@pytest.fixture
def live_server(engine: Engine) -> Iterator[tuple[str, dict[str, str]]]:
    """uvicorn on 127.0.0.1:<free port> in a thread, with committed keys; cleaned after."""
    with Session(engine) as s, s.begin():
        worker = create_key(s, "sse worker", "worker", worker_code="W-SSE")
        dispatcher = create_key(s, "sse dispatcher", "dispatcher")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", {"worker": worker,
                                                         "dispatcher": dispatcher}
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    with Session(engine) as s, s.begin():
        s.execute(text("DELETE FROM events WHERE reporter = 'W-SSE'"))
        s.execute(text("DELETE FROM api_keys WHERE name LIKE 'sse %'"))


def test_alarm_reaches_sse_listener(live_server: tuple[str, dict[str, str]]) -> None:
    base, keys = live_server
    with httpx.Client(base_url=base, timeout=10) as http, http.stream(
            "GET", "/alarms/stream", headers={"X-API-Key": keys["dispatcher"]}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith(":")  # listening
        posted = http.post("/alarms", headers={"X-API-Key": keys["worker"]},
                           json={"lon": 113.301, "lat": 40.0808, "note": "有人摔倒",
                                 "photo_url": "https://img.local/1.jpg"})
        assert posted.status_code == 201, posted.text
        assert posted.json()["event"]["priority"] == "urgent"
        frame: dict[str, str] = {}
        for line in lines:
            if line.startswith(("event:", "data:", "id:")):
                key, _, value = line.partition(":")
                frame[key] = value.strip()
            if "data" in frame:
                break
    assert frame["event"] == "alarm"
    payload = json.loads(frame["data"])
    assert payload["event_id"] == posted.json()["event"]["id"] == int(frame["id"])
    assert (payload["worker"], payload["note"]) == ("W-SSE", "有人摔倒")
