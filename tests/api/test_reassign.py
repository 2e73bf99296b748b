"""Boundary doubt on new events and reassignment (POST /events/{id}/reassign) over HTTP.

The small city of tests/geo/test_locate.py: ``two_grids_sharing_an_edge`` G1 | G2 at
x = 113.302. ``five_metres_inside_g1`` is 5 m west of the shared edge (GPS error: the
resident is in G2's street).
"""

from __future__ import annotations

import json
import re
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.assign import assign_events
from geo.rollups import daily_counts
from tests.api.test_dispatch import live_server  # noqa: F401 - the uvicorn fixture
from tests.conftest import auth
from tests.geo.test_boundary_doubt import FIVE_METRES_INSIDE_G1
from tests.geo.test_locate import G1, G2, build_small_city

LON, LAT = FIVE_METRES_INSIDE_G1
PERIOD = {"since": "2026-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
MOVE = {"grid_code": G2, "reason": "居民电话确认在二网格一侧"}


@pytest.fixture
def city_client(client: TestClient, db: Session) -> TestClient:
    build_small_city(db)
    db.commit()
    return client


def _report(client: TestClient, keys: dict[str, str]) -> dict[str, object]:
    made = client.post("/events", json={"category": "garbage", "lon": LON, "lat": LAT,
                                        "reported_at": "2026-12-01T09:00:00+08:00"},
                       headers=auth(keys, "worker"))
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_new_event_near_a_boundary_names_both_grids(city_client: TestClient,
                                                     keys: dict[str, str]) -> None:
    event = _report(city_client, keys)
    boundary = event["boundary"]
    assert isinstance(boundary, dict)
    assert (event["grid_code"], boundary["in_doubt"], boundary["chosen"], boundary["rule"]) == (
        G1, True, G1, "inside")
    assert [(c["code"], c["covers"], round(c["distance_m"], 2))
            for c in boundary["candidates"]] == [(G1, True, 5.0), (G2, False, 5.0)]


def test_locate_route_names_both_grids(city_client: TestClient, keys: dict[str, str]) -> None:
    r = city_client.get("/locate", params={"lon": LON, "lat": LAT},
                        headers=auth(keys, "viewer"))
    assert r.status_code == 200, r.text
    assert [c["code"] for c in r.json()["boundary"]["candidates"]] == [G1, G2]


def test_reassign_moves_the_case_and_statistics_follow(city_client: TestClient, db: Session,
                                                       keys: dict[str, str]) -> None:
    event = _report(city_client, keys)
    r = city_client.post(f"/events/{event['id']}/reassign", json=MOVE,
                         headers=auth(keys, "dispatcher"))
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["grid_code"], moved["micro_grid_code"], moved["community_code"],
            moved["district_code"], moved["assignment"]) == (
        G2, G2 + "01", "140213001001", "140213", "covered")
    detail = city_client.get(f"/events/{event['id']}", headers=auth(keys, "viewer")).json()
    assert [(m["from_grid_code"], m["to_grid_code"], m["reason"], m["actor"])
            for m in detail["reassignments"]] == [(G1, G2, MOVE["reason"], "test dispatcher")]
    assert detail["transitions"][-1]["note"] == f"reassigned from {G1} to {G2}: {MOVE['reason']}"
    assert detail["boundary"]["rule"] == "reassigned" and detail["boundary"]["chosen"] == G2
    stats = city_client.get("/stats", params={"level": "grid", **PERIOD},
                            headers=auth(keys, "viewer")).json()
    assert [(u["unit"], u["accepted"], u["reassigned_in"], u["reassigned_out"])
            for u in stats["units"]] == [(G2, 1, 1, 0)]
    assert daily_counts(db, None, date(2026, 12, 1), date(2026, 12, 1), ("grid_code",)) == [
        {"grid_code": G2, "events": 1}]


def test_reassigned_case_keeps_its_grid_through_reassignment_runs(
        city_client: TestClient, db: Session, keys: dict[str, str]) -> None:
    event = _report(city_client, keys)
    city_client.post(f"/events/{event['id']}/reassign", json=MOVE,
                     headers=auth(keys, "dispatcher"))
    assign_events(db, "all")
    grid = db.scalar(text("SELECT grid_code FROM event_assignments WHERE event_id = :id"),
                     {"id": event["id"]})
    assert grid == G2


def test_planner_list_of_grids_by_reassignments(city_client: TestClient,
                                                keys: dict[str, str]) -> None:
    for _ in range(2):
        event = _report(city_client, keys)
        city_client.post(f"/events/{event['id']}/reassign", json=MOVE,
                         headers=auth(keys, "dispatcher"))
    r = city_client.get("/stats/reassignments", params=PERIOD, headers=auth(keys, "planner"))
    assert r.status_code == 200, r.text
    assert [(g["code"], g["name"], g["moved_out"], g["moved_in"], g["reassignments"])
            for g in r.json()["grids"]] == [(G1, "一网格", 2, 0, 2), (G2, "二网格", 0, 2, 2)]


@pytest.mark.parametrize(("body", "role", "status", "field"), [
    ({"grid_code": G2, "reason": "   "}, "dispatcher", 422, "reason"),
    ({"grid_code": G2}, "dispatcher", 422, "body.reason"),
    ({"grid_code": "140213001001999", "reason": "r"}, "dispatcher", 422, "grid_code"),
    ({"grid_code": "140213001901", "reason": "r"}, "dispatcher", 422, "grid_code"),
    ({"grid_code": G1, "reason": "r"}, "dispatcher", 409, "grid_code"),
    (MOVE, "worker", 403, None),
])
def test_bad_reassignments_change_nothing(city_client: TestClient, db: Session,
                                          keys: dict[str, str], body: dict[str, str],
                                          role: str, status: int, field: str | None) -> None:
    event = _report(city_client, keys)
    r = city_client.post(f"/events/{event['id']}/reassign", json=body, headers=auth(keys, role))
    assert r.status_code == status, r.text
    if field:
        assert field in [d.get("field") for d in r.json()["details"]]
    assert db.scalar(text("SELECT count(*) FROM event_reassignments")) == 0
    assert city_client.get(f"/events/{event['id']}", headers=auth(keys, "viewer")).json()[
        "grid_code"] == G1


def test_closed_or_unknown_case_is_not_reassigned(city_client: TestClient, db: Session,
                                                  keys: dict[str, str]) -> None:
    event = _report(city_client, keys)
    db.execute(text("UPDATE events SET status = 'closed' WHERE id = :id"), {"id": event["id"]})
    db.commit()
    closed = city_client.post(f"/events/{event['id']}/reassign", json=MOVE,
                              headers=auth(keys, "dispatcher"))
    assert (closed.status_code, closed.json()["details"][0]["status"]) == (409, "closed")
    missing = city_client.post("/events/999999/reassign", json=MOVE,
                               headers=auth(keys, "dispatcher"))
    assert missing.status_code == 404


def test_new_grid_workers_are_told_over_the_alarm_stream(
        live_server: tuple[str, dict[str, str]], engine: Engine) -> None:  # noqa: F811
    base, keys = live_server
    with Session(engine) as s, s.begin():
        build_small_city(s)
    try:
        with httpx.Client(base_url=base, timeout=10) as http, http.stream(
                "GET", "/alarms/stream", headers={"X-API-Key": keys["dispatcher"]}) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith(":")
            made = http.post("/events", headers={"X-API-Key": keys["worker"]},
                             json={"category": "garbage", "lon": LON, "lat": LAT})
            moved = http.post(f"/events/{made.json()['id']}/reassign", json=MOVE,
                              headers={"X-API-Key": keys["dispatcher"]})
            assert moved.status_code == 200, moved.text
            frame = _next_frame(lines)
    finally:
        with Session(engine) as s, s.begin():
            s.execute(text("DELETE FROM events WHERE reporter = 'W-SSE'"))
            s.execute(text("TRUNCATE workers, cameras, sites, grids, admin_areas CASCADE"))
    assert (frame["event"], frame["id"]) == ("reassignment", str(made.json()["id"]))
    payload = json.loads(frame["data"])
    assert (payload["kind"], payload["from_grid"], payload["grid"], payload["reason"]) == (
        "reassignment", G1, {"code": G2, "name": "二网格"}, MOVE["reason"])
    assert [w["code"] for w in payload["workers"]] == ["W-L2"]


def _next_frame(lines: object) -> dict[str, str]:
    frame: dict[str, str] = {}
    for line in lines:  # type: ignore[attr-defined]
        if line.startswith(("event:", "data:", "id:")):
            key, _, value = line.partition(":")
            frame[key] = value.strip()
        if "data" in frame:
            return frame
    raise AssertionError("the stream ended without a frame")


def test_planner_page_lists_grids_by_reassignments(city_client: TestClient,
                                                   keys: dict[str, str]) -> None:
    event = _report(city_client, keys)
    city_client.post(f"/events/{event['id']}/reassign", json=MOVE,
                     headers=auth(keys, "dispatcher"))
    page = city_client.get("/maps/grids", params={"area": "140213001"},
                           headers=auth(keys, "planner"))
    assert page.status_code == 200, page.text
    panel = re.search(r'"gl-reassignments"\);.*?div\.innerHTML = ("(?:[^"\\]|\\.)*");',
                      page.text, re.S)
    assert panel is not None
    listed = json.loads(panel.group(1))
    assert re.findall(r"<td>(\d{15})</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>", listed) == [
        (G1, "1", "0"), (G2, "0", "1")]
