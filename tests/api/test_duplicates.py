"""Duplicate events over HTTP: proposed on creation, merged by a dispatcher, counted once.

The small city of tests/geo/test_locate.py. ``burst_pipe`` at (113.3010, 40.0808) in G1;
``twenty_metres_east`` of it and ``sixty_metres_east`` (outside the default 50 m radius) are
placed with pyproj on the WGS 84 ellipsoid.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import auth
from tests.geo.test_locate import G1, build_small_city

GEOD = Geod(ellps="WGS84")
BURST_PIPE = (113.3010, 40.0808)


def east(metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(*BURST_PIPE, 90.0, metres)
    return float(lon), float(lat)


TWENTY_METRES_EAST, SIXTY_METRES_EAST = east(20.0), east(60.0)
PERIOD = {"level": "grid", "since": "2026-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}


@pytest.fixture
def city_client(client: TestClient, db: Session) -> TestClient:
    build_small_city(db)
    db.commit()
    return client


def _report(client: TestClient, keys: dict[str, str], where: tuple[float, float],
            at: str = "2026-12-01T09:00:00+08:00", category: str = "water_leak",
            reporter: str | None = None) -> dict[str, Any]:
    made = client.post("/events", headers=auth(keys, "worker"), json={
        "category": category, "lon": where[0], "lat": where[1], "reported_at": at,
        "reporter": reporter})
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_second_report_nearby_proposes_the_first(city_client: TestClient,
                                                 keys: dict[str, str]) -> None:
    first = _report(city_client, keys, BURST_PIPE, reporter="居民甲")
    assert first["duplicates"] == []
    second = _report(city_client, keys, TWENTY_METRES_EAST, at="2026-12-01T15:00:00+08:00")
    assert [(d["id"], d["reporter"], d["status"], round(d["distance_m"], 2))
            for d in second["duplicates"]] == [(first["id"], "居民甲", "reported", 20.0)]


@pytest.mark.parametrize(("where", "at", "category"), [
    (SIXTY_METRES_EAST, "2026-12-01T10:00:00+08:00", "water_leak"),   # beyond 50 m
    (TWENTY_METRES_EAST, "2026-12-02T09:00:01+08:00", "water_leak"),  # 24 h and 1 s later
    (TWENTY_METRES_EAST, "2026-12-01T10:00:00+08:00", "noise"),       # another category
])
def test_reports_outside_the_rule_are_not_proposed(city_client: TestClient,
                                                   keys: dict[str, str], where: Any,
                                                   at: str, category: str) -> None:
    _report(city_client, keys, BURST_PIPE)
    assert _report(city_client, keys, where, at=at, category=category)["duplicates"] == []


def test_per_category_rule_widens_the_radius(city_client: TestClient,
                                             keys: dict[str, str]) -> None:
    first = _report(city_client, keys, BURST_PIPE, category="flooding")  # 300 m, 12 h
    second = _report(city_client, keys, SIXTY_METRES_EAST, category="flooding")
    assert [d["id"] for d in second["duplicates"]] == [first["id"]]


def test_merge_closes_duplicates_keeps_reporters_and_counts_once(
        city_client: TestClient, db: Session, keys: dict[str, str]) -> None:
    case = _report(city_client, keys, BURST_PIPE, reporter="居民甲")
    dup = _report(city_client, keys, TWENTY_METRES_EAST, reporter="居民乙",
                  at="2026-12-01T09:30:00+08:00")
    r = city_client.post(f"/events/{case['id']}/merge", json={"duplicates": [dup["id"]],
                                                                "note": "同一处爆管"},
                         headers=auth(keys, "dispatcher"))
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["status"]) == (case["id"], "reported")
    assert [(d["id"], d["reporter"], d["merged_by"]) for d in r.json()["duplicates"]] == [
        (dup["id"], "居民乙", "test dispatcher")]
    closed = city_client.get(f"/events/{dup['id']}", headers=auth(keys, "viewer")).json()
    assert (closed["status"], closed["duplicate_of"], closed["reporter"]) == (
        "duplicate", case["id"], "居民乙")
    assert closed["transitions"][-1]["note"] == f"duplicate of #{case['id']}: 同一处爆管"
    stats = city_client.get("/stats", params=PERIOD, headers=auth(keys, "viewer")).json()
    assert [(u["unit"], u["accepted"], u["valid"]) for u in stats["units"]] == [(G1, 1, 1)]
    third = _report(city_client, keys, TWENTY_METRES_EAST, at="2026-12-01T11:00:00+08:00")
    assert [d["id"] for d in third["duplicates"]] == [case["id"]]  # no longer the duplicate


def test_merging_a_case_moves_its_duplicates(city_client: TestClient,
                                             keys: dict[str, str]) -> None:
    a, b, c = (_report(city_client, keys, BURST_PIPE) for _ in range(3))
    head = auth(keys, "dispatcher")
    assert city_client.post(f"/events/{b['id']}/merge", json={"duplicates": [c["id"]]},
                            headers=head).status_code == 200
    r = city_client.post(f"/events/{a['id']}/merge", json={"duplicates": [b["id"]]},
                         headers=head)
    assert [d["id"] for d in r.json()["duplicates"]] == [b["id"], c["id"]]


@pytest.mark.parametrize(("which", "role", "status", "error"), [
    ("self", "dispatcher", 422, "validation_failed"),
    ("unknown", "dispatcher", 404, "not_found"),
    ("rejected", "dispatcher", 409, "conflict"),
    ("other", "worker", 403, "forbidden"),
])
def test_bad_merges_change_nothing(city_client: TestClient, db: Session, keys: dict[str, str],
                                   which: str, role: str, status: int, error: str) -> None:
    case = _report(city_client, keys, BURST_PIPE)
    other = _report(city_client, keys, TWENTY_METRES_EAST)
    if which == "rejected":
        city_client.post(f"/events/{other['id']}/actions", json={"action": "reject"},
                         headers=auth(keys, "dispatcher"))
    target = {"self": case["id"], "unknown": 999999}.get(which, other["id"])
    r = city_client.post(f"/events/{case['id']}/merge", json={"duplicates": [target]},
                         headers=auth(keys, role))
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert db.scalar(text("SELECT count(*) FROM event_duplicates")) == 0
    assert db.scalar(text("SELECT count(*) FROM events WHERE status = 'duplicate'")) == 0


def test_bulk_import_flags_duplicates(city_client: TestClient, keys: dict[str, str]) -> None:
    (x1, y1), (x2, y2), (x3, y3) = BURST_PIPE, TWENTY_METRES_EAST, east(120.0)
    csv_text = ("client_id,category,lon,lat,reported_at\n"
                f"D1,water_leak,{x1},{y1},2026-12-01T08:00:00+08:00\n"
                f"D2,water_leak,{x2},{y2},2026-12-01T08:30:00+08:00\n"
                f"D3,water_leak,{x3},{y3},2026-12-01T08:40:00+08:00\n")
    r = city_client.post("/events/bulk", content=csv_text.encode(),
                         headers={**auth(keys, "dispatcher"), "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    ids = {e["client_id"]: e["id"] for e in city_client.get(
        "/events", headers=auth(keys, "viewer")).json()["events"]}
    assert [(f["client_id"], f["duplicates"]) for f in r.json()["duplicates"]] == [
        ("D1", [ids["D2"]]), ("D2", [ids["D1"]])]


def test_duplicate_rules_come_from_the_environment_and_must_be_positive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from geo.duplicates import duplicate_rule
    from geo.settings import Settings

    monkeypatch.setenv("GRIDLINK_DUPLICATE_RULES", '{"water_leak": [120, 6]}')
    settings = Settings()
    assert duplicate_rule("water_leak", settings) == (120.0, 6.0)
    assert duplicate_rule("flooding", settings) == (50.0, 24.0)  # the table was replaced
    monkeypatch.setenv("GRIDLINK_DUPLICATE_RULES", '{"water_leak": [0, 6]}')
    with pytest.raises(ValidationError, match="must be > 0 for water_leak"):
        Settings()
