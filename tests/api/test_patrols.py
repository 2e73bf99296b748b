"""Patrol routes over HTTP (the real app, TestClient) on tests/geo/patrol_city.py's case."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.keys import create_key
from tests.conftest import auth
from tests.geo.patrol_city import (
    GRID_1,
    GRID_2,
    WEDNESDAY,
    at,
    geodesic_m,
    school_grid_and_market_grid,
    task_id,
)

DAY = WEDNESDAY.isoformat()


@pytest.fixture
def city(client: TestClient, db: Session, keys: dict[str, str]) -> TestClient:
    """The patrol case with tasks generated for Wednesday over the API, and worker keys."""
    school_grid_and_market_grid(db)
    keys["W-WORK"] = create_key(db, "网格员", "worker", worker_code="W-WORK")
    keys["W-2L"] = create_key(db, "二网格长", "worker", worker_code="W-2L")
    keys["unbound"] = create_key(db, "未绑定", "worker")
    db.commit()
    made = client.post("/patrols/generate", params={"date": DAY}, headers=auth(keys, "dispatcher"))
    assert made.status_code == 200, made.text
    return client


def test_generate_twice_creates_nothing_new(city: TestClient, keys: dict[str, str]) -> None:
    again = city.post("/patrols/generate", params={"date": DAY}, headers=auth(keys, "planner"))
    assert again.json() == {"day": DAY, "created": 0, "existed": 4, "outside": 1}
    refused = city.post("/patrols/generate", headers=auth(keys, "worker"))
    assert refused.status_code == 403
    bad = city.post("/patrols/generate", params={"date": "2026-13-01"},
                    headers=auth(keys, "planner"))
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "query.date"


def test_checkin_200_m_away_is_422_with_the_distance(city: TestClient, db: Session,
                                                     keys: dict[str, str]) -> None:
    school = task_id(db, "S-SCHOOL", WEDNESDAY)
    lon, lat = at(250, 50)
    far = city.post(f"/patrols/tasks/{school}/checkins", json={"lon": lon, "lat": lat},
                    headers=auth(keys, "W-WORK"))
    assert far.status_code == 422
    distance = round(geodesic_m((lon, lat), at(50, 50)), 1)
    assert far.json()["details"] == [{"task": school, "layer": "sites", "unit": "S-SCHOOL",
                                      "field": "lon/lat", "distance_m": distance,
                                      "radius_m": 50.0}]
    assert db.execute(text("SELECT count(*) FROM patrol_checkins")).scalar_one() == 0


def test_checkin_near_the_site_by_its_grids_worker(city: TestClient, db: Session,
                                                   keys: dict[str, str]) -> None:
    school = task_id(db, "S-SCHOOL", WEDNESDAY)
    lon, lat = at(50, 80)
    other_grid = city.post(f"/patrols/tasks/{school}/checkins", json={"lon": lon, "lat": lat},
                           headers=auth(keys, "W-2L"))
    assert other_grid.status_code == 403
    assert other_grid.json()["details"][0]["worker_grid"] == GRID_2
    for role in ("unbound", "dispatcher", "viewer"):
        assert city.post(f"/patrols/tasks/{school}/checkins", json={"lon": lon, "lat": lat},
                         headers=auth(keys, role)).status_code == 403
    done = city.post(f"/patrols/tasks/{school}/checkins", json={"lon": lon, "lat": lat},
                     headers=auth(keys, "W-WORK"))
    assert done.status_code == 201, done.text
    assert (done.json()["unit_code"], round(done.json()["distance_m"])) == ("S-SCHOOL", 30)
    twice = city.post(f"/patrols/tasks/{school}/checkins", json={"lon": lon, "lat": lat},
                      headers=auth(keys, "W-WORK"))
    assert twice.status_code == 409
    assert city.post("/patrols/tasks/999999/checkins", json={"lon": lon, "lat": lat},
                     headers=auth(keys, "W-WORK")).status_code == 404
    stats = city.get("/patrols/stats", params={"date": DAY}, headers=auth(keys, "viewer"))
    assert [(g["grid_code"], g["due"], g["done"], g["overdue"])
            for g in stats.json()["grids"]] == [(GRID_1, 3, 1, 0), (GRID_2, 1, 0, 0)]


def test_rules_are_edited_by_planners(city: TestClient, keys: dict[str, str]) -> None:
    put = city.put("/patrols/rules/sites/market", json={"frequency": "weekly"},
                   headers=auth(keys, "planner"))
    assert put.status_code == 200 and put.json()["frequency"] == "weekly"
    assert city.put("/patrols/rules/sites/market", json={"frequency": "weekly"},
                    headers=auth(keys, "dispatcher")).status_code == 403
    bad = city.put("/patrols/rules/buildings/tall", json={"frequency": "weekly"},
                   headers=auth(keys, "planner"))
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "category"
    assert city.delete("/patrols/rules/sites/market",
                       headers=auth(keys, "planner")).status_code == 204
    rules = city.get("/patrols/rules", headers=auth(keys, "viewer")).json()["rules"]
    assert "market" not in {r["category"] for r in rules}
    made = city.post("/patrols/generate", params={"date": "2026-12-10"},
                     headers=auth(keys, "planner")).json()
    assert (made["created"], made["existed"]) == (1, 3)


def test_overdue_on_the_alarm_feed_and_route(city: TestClient, db: Session,
                                             keys: dict[str, str]) -> None:
    db.execute(text("UPDATE patrol_tasks SET period_start = '2026-11-30', due_date = "
                    "'2026-11-30' WHERE unit_code = 'S-SCHOOL'"))  # long overdue
    feed = city.get("/maps/alarms/feed", params={"overdue": "true"},
                    headers=auth(keys, "viewer")).json()
    assert [(f["properties"]["grid_code"], f["properties"]["overdue"])
            for f in feed["overdue_patrols"]] == [(GRID_1, 1)]
    assert "overdue_patrols" not in city.get("/maps/alarms/feed",
                                             headers=auth(keys, "viewer")).json()
    route = city.get(f"/patrols/route/{GRID_1}", params={"date": DAY},
                     headers=auth(keys, "viewer")).json()
    assert [(s["code"], s["overdue"]) for s in route["stops"]] == [
        ("B1", False), ("S-SCHOOL", True), ("S-OLD", False)]
    page = city.get(f"/maps/patrols/{GRID_1}", params={"date": DAY},
                    headers=auth(keys, "worker"))
    assert page.status_code == 200
    assert "grid 001 巡查路线 2026-12-09（3 处，142 m）" in page.text
    assert city.get("/maps/patrols/140213001001999",
                    headers=auth(keys, "viewer")).status_code == 404
    tasks = city.get("/patrols/tasks", params={"date": DAY, "area": GRID_2},
                     headers=auth(keys, "viewer")).json()["tasks"]
    assert [(t["unit_code"], t["worker_code"], t["checked_in_at"]) for t in tasks] == [
        ("B2", "W-2L", None)]
    assert date.fromisoformat(tasks[0]["due_date"]) == date(2026, 12, 31)
    mine = city.get("/patrols/tasks", params={"date": DAY, "worker": "W-WORK"},
                    headers=auth(keys, "W-WORK")).json()["tasks"]
    assert [t["unit_code"] for t in mine] == ["S-OLD", "B1"]  # by due date; school: Nov 30
