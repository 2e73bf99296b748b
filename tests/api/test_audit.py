"""The audit trail: every write route leaves an audit row in its own transaction; grids,
cameras and cases carry before/after; the table refuses UPDATE, DELETE and TRUNCATE.

The walk: :data:`WRITES` holds one successful request per write route of the app, and the
first test checks that it names every write route - a new write route without an entry
fails the suite, and its entry must then leave a ``request`` audit row naming the route.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from shapely.geometry import LineString, Point, box, mapping
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.app import create_app
from api.openapi import api_routes
from geo.jobs import create_job
from tests.conftest import auth
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

W1, W2, W3, W4 = (code(i) for i in range(1, 5))
ADMIN = "admin"
Call = Callable[[TestClient, dict[str, str]], Response]


def _draft(client: TestClient, keys: dict[str, str]) -> int:
    made = client.post("/planning/changesets", json={"area_code": COMMUNITY, "reason": "audit"},
                       headers=auth(keys, ADMIN))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _on_draft(op: str, body: dict[str, Any]) -> Call:
    def call(client: TestClient, keys: dict[str, str]) -> Response:
        return client.post(f"/planning/changesets/{_draft(client, keys)}/{op}", json=body,
                           headers=auth(keys, ADMIN))
    return call


def _publish(client: TestClient, keys: dict[str, str]) -> Response:
    cs = _draft(client, keys)
    client.post(f"/planning/changesets/{cs}/rename", json={"code": W1, "new_name": "一"},
                headers=auth(keys, ADMIN))
    return client.post(f"/planning/changesets/{cs}/publish", headers=auth(keys, ADMIN))


def _published(client: TestClient, keys: dict[str, str]) -> int:
    published = _publish(client, keys)
    assert published.status_code == 200, published.text
    return int(published.json()["changeset_id"])


def _event(client: TestClient, keys: dict[str, str]) -> int:
    made = client.post("/events", json={"category": "garbage", "lon": 113.3006,
                                        "lat": 40.0804}, headers=auth(keys, ADMIN))
    return int(made.json()["id"])


def _camera_view(client: TestClient, keys: dict[str, str]) -> Response:
    imported = client.post("/import/cameras", headers=auth(keys, ADMIN), files=_camera_csv(0))
    assert imported.status_code == 200, imported.text
    return client.post(f"/events/{_event(client, keys)}/camera-views",
                       json={"camera_code": CAMERA}, headers=auth(keys, ADMIN))


PTZ = "14021300081320000009"


def _ptz_camera(client: TestClient, keys: dict[str, str]) -> None:
    body = (f"code,name,lon,lat,camera_type,fov_deg,range_m\n"
            f"{PTZ},路口球机,113.3006,40.0804,ptz,360,100\n")
    imported = client.post("/import/cameras", headers=auth(keys, ADMIN),
                           files={"file": ("ptz.csv", io.BytesIO(body.encode()))})
    assert imported.status_code == 200, imported.text


def _put_presets(client: TestClient, keys: dict[str, str]) -> Response:
    _ptz_camera(client, keys)
    return client.put(f"/cameras/{PTZ}/presets", headers=auth(keys, ADMIN),
                      json=[{"name": "大门", "pan_deg": 90, "fov_deg": 30}])


def _import_presets(client: TestClient, keys: dict[str, str]) -> Response:
    _ptz_camera(client, keys)
    body = f"camera_code,name,pan_deg,zoom\n{PTZ},路口,270,2\n"
    return client.post("/cameras/presets", headers=auth(keys, ADMIN),
                       files={"file": ("presets.csv", io.BytesIO(body.encode()))})


def _layer_file(features: list[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    body = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": mapping(cases.lonlat(g))}
        for p, g in features]}).encode()
    return {"file": ("layer.geojson", io.BytesIO(body))}


def _patrol_checkin(client: TestClient, keys: dict[str, str]) -> Response:
    """A school imported into the first grid (which gives it its grid), its daily patrol
    task generated, and a check-in at the school."""
    imported = client.post("/import/sites", headers=auth(keys, ADMIN), files=_layer_file([(
        {"code": "S-A", "name": "甲小学", "category": "primary_school"}, Point(50, 50))]))
    assert imported.status_code == 200, imported.text
    client.post("/patrols/generate", params={"date": "2026-12-09"}, headers=auth(keys, ADMIN))
    tasks = client.get("/patrols/tasks", params={"date": "2026-12-09"},
                       headers=auth(keys, ADMIN)).json()["tasks"]
    school = next(t for t in tasks if t["unit_code"] == "S-A")
    return client.post(f"/patrols/tasks/{school['id']}/checkins", headers=auth(keys, ADMIN),
                       json={"lon": school["lon"], "lat": school["lat"]})


def _cancel_queued_job(client: TestClient, keys: dict[str, str]) -> Response:
    job_id = create_job(client.app.state.sessions, "export", {"layer": "sites"},  # type: ignore[attr-defined]
                        "audit", keys[ADMIN][:7], ADMIN)
    return client.delete(f"/jobs/{job_id}", headers=auth(keys, ADMIN))


WRITES: dict[str, Call] = {
    "POST /export/{layer}": lambda c, k: c.post("/export/sites", headers=auth(k, ADMIN)),
    "DELETE /jobs/{job_id}": _cancel_queued_job,
    "POST /jobs/assign": lambda c, k: c.post("/jobs/assign", headers=auth(k, ADMIN)),
    "POST /jobs/validate": lambda c, k: c.post(
        "/jobs/validate", params={"area": COMMUNITY}, headers=auth(k, ADMIN)),
    "PUT /patrols/rules/{layer}/{category}": lambda c, k: c.put(
        "/patrols/rules/sites/market", json={"frequency": "weekly"}, headers=auth(k, ADMIN)),
    "DELETE /patrols/rules/{layer}/{category}": lambda c, k: c.delete(
        "/patrols/rules/sites/school", headers=auth(k, ADMIN)),
    "POST /patrols/generate": lambda c, k: c.post(
        "/patrols/generate", params={"date": "2026-12-09"}, headers=auth(k, ADMIN)),
    "POST /patrols/tasks/{task_id}/checkins": _patrol_checkin,
    "POST /events": lambda c, k: c.post("/events", headers=auth(k, ADMIN), json={
        "category": "garbage", "lon": 113.3006, "lat": 40.0804}),
    "POST /events/bulk": lambda c, k: c.post(
        "/events/bulk", headers={**auth(k, ADMIN), "Content-Type": "text/csv"},
        content=b"client_id,category,lon,lat,reported_at\nB1,garbage,113.3006,40.0804,"
                b"2026-12-01T08:00:00+08:00\n"),
    "POST /events/{event_id}/actions": lambda c, k: c.post(
        f"/events/{_event(c, k)}/actions", json={"action": "dispatch"}, headers=auth(k, ADMIN)),
    "POST /events/{event_id}/reassign": lambda c, k: c.post(
        f"/events/{_event(c, k)}/reassign", json={"grid_code": W2, "reason": "在二网格"},
        headers=auth(k, ADMIN)),
    "POST /events/{event_id}/merge": lambda c, k: c.post(
        f"/events/{_event(c, k)}/merge", json={"duplicates": [_event(c, k)]},
        headers=auth(k, ADMIN)),
    "POST /alarms": lambda c, k: c.post("/alarms", headers=auth(k, ADMIN),
                                        json={"lon": 113.3006, "lat": 40.0804}),
    "POST /events/{event_id}/camera-views": lambda c, k: _camera_view(c, k),
    "PUT /cameras/{code}/presets": _put_presets,
    "POST /cameras/presets": _import_presets,
    "PUT /stats/deductions": lambda c, k: c.put(
        "/stats/deductions", headers=auth(k, ADMIN),
        json={"unit": "城管局", "month": "2026-11", "points": 2, "note": "媒体督办"}),
    "POST /planning/changesets/{changeset_id}/handover": lambda c, k: c.post(
        f"/planning/changesets/{_draft(c, k)}/handover", json={"to": "李规划"},
        headers=auth(k, ADMIN)),
    "POST /admin/keys": lambda c, k: c.post("/admin/keys", headers=auth(k, ADMIN),
                                            json={"name": "新", "role": "viewer"}),
    "DELETE /admin/keys/{prefix}": lambda c, k: c.delete(f"/admin/keys/{k['viewer'][:7]}",
                                                         headers=auth(k, ADMIN)),
    "POST /login": lambda c, k: c.post("/login", data={"key": k["viewer"]},
                                       follow_redirects=False),
    "POST /logout": lambda c, k: (c.post("/login", data={"key": k["viewer"]},
                                         follow_redirects=False),
                                  c.post("/logout", follow_redirects=False))[1],
    "POST /import/{layer}": lambda c, k: c.post(
        "/import/grids", headers=auth(k, ADMIN), params={"reason": "audit walk"},
        files=_layer_file([({"code": W1, "name": "一", "parent_code": COMMUNITY},
                            box(0, 0, 100, 100))])),
    "POST /planning/changesets": lambda c, k: c.post(
        "/planning/changesets", json={"area_code": COMMUNITY, "reason": "r"},
        headers=auth(k, ADMIN)),
    "DELETE /planning/changesets/{changeset_id}": lambda c, k: c.delete(
        f"/planning/changesets/{_draft(c, k)}", headers=auth(k, ADMIN)),
    "POST /planning/changesets/{changeset_id}/publish": lambda c, k: _publish(c, k),
    "POST /planning/changesets/{changeset_id}/undo": lambda c, k: c.post(
        f"/planning/changesets/{_published(c, k)}/undo", headers=auth(k, ADMIN)),
    "POST /planning/changesets/{changeset_id}/reshape": _on_draft("reshape", {
        "code": W1, "geometry": cases.geojson(box(0, 0, 120, 100))}),
    "POST /planning/changesets/{changeset_id}/split": _on_draft("split", {
        "code": W1, "line": mapping(cases.lonlat(LineString([(50, -10), (50, 110)]))),
        "new_code": code(9)}),
    "POST /planning/changesets/{changeset_id}/split-balanced": _on_draft("split-balanced", {
        "code": W4, "parts": 2, "new_codes": [code(9)]}),
    "POST /planning/changesets/{changeset_id}/move-buildings": _on_draft("move-buildings", {
        "from_code": W4, "to_code": W3, "buildings": ["B5"]}),
    "POST /planning/changesets/{changeset_id}/merge": _on_draft("merge", {"codes": [W1, W2]}),
    "POST /planning/changesets/{changeset_id}/create": _on_draft("create", {
        "code": W1 + "01", "name": "微", "parent_code": W1,
        "geometry": cases.geojson(box(0, 0, 100, 100))}),
    "POST /planning/changesets/{changeset_id}/retire": _on_draft("retire", {
        "code": W2, "successor": W1}),
    "POST /planning/changesets/{changeset_id}/rename": _on_draft("rename", {
        "code": W1, "new_name": "一"}),
    "POST /planning/repair": lambda c, k: c.post(
        "/planning/repair", json={"area_code": COMMUNITY}, headers=auth(k, ADMIN)),
    "POST /planning/propose": lambda c, k: c.post(
        "/planning/propose", json={"area_code": COMMUNITY}, headers=auth(k, ADMIN)),
    "POST /planning/import-draft": lambda c, k: c.post(
        "/planning/import-draft", headers=auth(k, ADMIN), data={"area_code": COMMUNITY},
        files=_layer_file([({"code": c_, "name": "n"}, g) for c_, g in (
            (W1, box(0, 0, 100, 100)), (W2, box(100, 0, 200, 100)),
            (W3, box(200, 0, 300, 100)), (W4, box(300, 0, 400, 100)))])),
}


def _write_routes() -> set[str]:
    return {f"{method} {route.path}" for route in api_routes(create_app().routes)
            for method in route.methods if method in ("POST", "PUT", "PATCH", "DELETE")}


def test_the_walk_covers_every_write_route() -> None:
    assert set(WRITES) == _write_routes()


def _rows(db: Session, route: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT actor, key_prefix, role, action, entity FROM audit_log WHERE route = :r "
        "ORDER BY id"), {"r": route})]


@pytest.fixture
def city(client: TestClient, db: Session) -> TestClient:
    """Four grids of 100 m with a building each (two in the third and the fourth), and a
    worker in the first."""
    cases.four_grids_with_buildings(db)
    cases.add_building(db, "B5", 320, 30, 450)
    cases.add_building(db, "B6", 230, 80, 100)  # the third grid reaches the band: a plan exists
    db.execute(text("INSERT INTO workers (code, name, role, grid_code) "
                    "VALUES ('W-A', '甲', 'grid_worker', :g)"), {"g": W1})
    db.commit()
    return client


@pytest.mark.parametrize("route", sorted(WRITES))
def test_every_write_route_leaves_an_audit_row(city: TestClient, db: Session,
                                               keys: dict[str, str], route: str) -> None:
    response = WRITES[route](city, keys)
    assert response.status_code < 400, response.text
    rows = _rows(db, route)
    assert rows, f"{route} wrote no audit row"
    if route in ("POST /login", "POST /logout"):  # public: they record the session itself
        assert rows[-1] == ("test viewer", keys["viewer"][:7], "viewer",
                            route.removeprefix("POST /"), "browser_session")
    else:  # every other write: the request row of api.audit, after any entity rows
        assert rows[-1] == ("test admin", keys[ADMIN][:7], "admin", "request", "request")


def test_case_action_records_before_and_after(city: TestClient, db: Session,
                                              keys: dict[str, str]) -> None:
    case = _event(city, keys)
    city.post(f"/events/{case}/actions", json={"action": "dispatch"},
              headers=auth(keys, "dispatcher"))
    row = db.execute(text(
        "SELECT actor, role, action, entity_id, before->>'status', after->>'status', "
        "after->>'dispatched_at' IS NOT NULL FROM audit_log WHERE entity = 'events' "
        "AND route = 'POST /events/{event_id}/actions'")).one()
    assert tuple(row) == ("test dispatcher", "dispatcher", "update", str(case), "reported",
                          "dispatched", True)


def test_grid_import_records_old_and_new_versions(city: TestClient, db: Session,
                                                  keys: dict[str, str]) -> None:
    response = WRITES["POST /import/{layer}"](city, keys)
    assert response.json()["updated"] == 1
    rows = db.execute(text(
        "SELECT action, entity_id, (before->>'version')::int, (after->>'version')::int, "
        "after->>'valid_to' IS NULL, after->>'change_reason' FROM audit_log "
        "WHERE entity = 'grids' AND route = 'POST /import/{layer}' ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("update", W1, 1, 1, False, None),
                                        ("insert", W1, None, 2, True, "audit walk")]


def test_refused_write_leaves_no_row(city: TestClient, db: Session,
                                     keys: dict[str, str]) -> None:
    before = db.scalar(text("SELECT count(*) FROM audit_log"))
    refused = city.post("/events", json={"category": "garbage", "lon": 200, "lat": 40},
                        headers=auth(keys, "dispatcher"))
    assert refused.status_code == 422
    assert db.scalar(text("SELECT count(*) FROM audit_log")) == before


def test_admin_audit_filters_and_pages(city: TestClient, keys: dict[str, str]) -> None:
    for i in range(3):
        city.post("/events", json={"category": "garbage", "lon": 113.3006, "lat": 40.0804,
                                   "client_id": f"A{i}"}, headers=auth(keys, "dispatcher"))
    params = {"key_prefix": keys["dispatcher"][:7], "entity": "request", "limit": 2}
    page = city.get("/admin/audit", params=params, headers=auth(keys, ADMIN))
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["total"], len(body["entries"])) == (3, 2)
    assert {e["route"] for e in body["entries"]} == {"POST /events"}
    rest = city.get("/admin/audit", params={**params, "offset": 2}, headers=auth(keys, ADMIN))
    assert len(rest.json()["entries"]) == 1
    events = city.get("/admin/audit", params={"entity": "events", "route": "POST /events"},
                      headers=auth(keys, ADMIN)).json()
    assert [e["action"] for e in events["entries"]] == ["insert"] * 3
    assert city.get("/admin/audit", headers=auth(keys, "planner")).status_code == 403


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x'",
                                       "DELETE FROM audit_log", "TRUNCATE audit_log"])
def test_audit_log_refuses_changes(city: TestClient, db: Session, keys: dict[str, str],
                                   statement: str) -> None:
    WRITES["POST /events"](city, keys)
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        with db.begin_nested():
            db.execute(text(statement))


CAMERA = "14021300081310000001"  # GB/T 28181: area 14021300, industry 08, type 131


def _camera_csv(azimuth: int) -> dict[str, Any]:
    body = f"code,name,lon,lat,azimuth_deg\n{CAMERA},东门,113.3006,40.0804,{azimuth}\n"
    return {"file": ("cams.csv", io.BytesIO(body.encode()))}


def test_camera_import_records_before_and_after(city: TestClient, db: Session,
                                                keys: dict[str, str]) -> None:
    # rows from here on: other test modules commit (and delete) cameras of the same codes
    first = db.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    for azimuth in (0, 90):
        imported = city.post("/import/cameras", headers=auth(keys, "dispatcher"),
                             files=_camera_csv(azimuth))
        assert imported.status_code == 200, imported.text
    rows = db.execute(text(
        "SELECT key_prefix, action, entity_id, (before->>'azimuth_deg')::float, "
        "(after->>'azimuth_deg')::float, after->'geom'->>'type' FROM audit_log "
        "WHERE entity = 'cameras' AND id > :first ORDER BY id"), {"first": first}).all()
    prefix = keys["dispatcher"][:7]
    # the import inserts the camera, gives it its grid (geo.assign_on_import: an update of
    # grid_code only), and the second import turns it
    assert [tuple(r) for r in rows] == [(prefix, "insert", CAMERA, None, 0.0, "Point"),
                                        (prefix, "update", CAMERA, 0.0, 0.0, "Point"),
                                        (prefix, "update", CAMERA, 0.0, 90.0, "Point")]
