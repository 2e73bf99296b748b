"""Long jobs over HTTP (api.routers.jobs, geo.jobs): 202 + /jobs/{id}, progress, problems,
result file, cancel, roles, and jobs of a dead process failed at start-up.

A job runs in a thread on connections of its own, so what it writes is committed for real
(not inside the test's transaction): every test removes its jobs and rows at the end.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import ApiSettings
from geo.jobs import create_job
from tests.api.test_import_export import grids_body
from tests.conftest import auth
from tests.geo.importer_files import EAST_GRID, WEST_GRID, feature_collection

ASYNC = {"Prefer": "respond-async"}
SITES = feature_collection(
    [{"code": "JOBS001", "name": "一小", "category": "school"},
     {"code": "JOBS002", "name": "市场", "category": "market"}],
    [Point(113.301, 40.081), Point(113.311, 40.081)])


@pytest.fixture
def committed(engine: Engine) -> Iterator[Engine]:
    """Removes what jobs committed (jobs, the test sites) after the test."""
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sites WHERE code LIKE 'JOBS%'"))
        conn.execute(text("DELETE FROM grids WHERE code = ANY(:c)"),
                     {"c": [WEST_GRID, EAST_GRID]})
        conn.execute(text("DELETE FROM jobs"))


def finished(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until the job ends (at most 60 s)."""
    for _ in range(600):
        got = client.get(f"/jobs/{job_id}", headers=headers)
        assert got.status_code == 200, got.text
        if got.json()["state"] in ("succeeded", "failed", "cancelled"):
            return dict(got.json())
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {got.json()['state']}")


def test_import_job_with_progress_and_result(client: TestClient, keys: dict[str, str],
                                             committed: Engine) -> None:
    headers = {**auth(keys, "planner"), **ASYNC}
    sent = client.post("/import/sites", headers=headers,
                       files={"file": ("sites.geojson", json.dumps(SITES).encode())})
    assert sent.status_code == 202, sent.text
    job_id = sent.json()["id"]
    assert sent.headers["Location"] == f"/jobs/{job_id}"
    assert sent.json()["kind"] == "import"
    job = finished(client, auth(keys, "planner"), job_id)
    assert (job["state"], job["rows_done"], job["rows_total"], job["progress"]) == (
        "succeeded", 2, 2, 1.0)
    assert (job["result"]["inserted"], job["result"]["updated"], job["problems"]) == (2, 0, [])
    assert job["params"]["layer"] == "sites" and job["result_url"] is None
    with committed.connect() as conn:
        assert conn.execute(text("SELECT code FROM sites WHERE code LIKE 'JOBS%' "
                                 "ORDER BY code")).scalars().all() == ["JOBS001", "JOBS002"]
    exported = client.post("/export/sites", headers=auth(keys, "viewer"))
    assert exported.status_code == 202, exported.text
    done = finished(client, auth(keys, "viewer"), exported.json()["id"])
    assert (done["state"], done["result"]["rows"]) == ("succeeded", 2)
    result = client.get(done["result_url"], headers=auth(keys, "viewer"))
    assert result.status_code == 200
    codes = [f["properties"]["code"] for f in result.json()["features"]]
    assert sorted(codes) == ["JOBS001", "JOBS002"]


def test_failed_import_job_keeps_problems_and_writes_nothing(
        client: TestClient, keys: dict[str, str], committed: Engine) -> None:
    bad = json.loads(grids_body())
    bad["features"][1]["properties"]["households"] = -3
    sent = client.post("/import/grids", headers={**auth(keys, "planner"), **ASYNC},
                       files={"file": ("grids.geojson", json.dumps(bad).encode())})
    assert sent.status_code == 202, sent.text
    job = finished(client, auth(keys, "planner"), sent.json()["id"])
    assert job["state"] == "failed"
    assert job["error"]["error"] == "validation_failed"
    assert [(p["row"], p["field"]) for p in job["problems"]] == [(2, "households")]
    assert job["problems_found"] == 1
    with committed.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids")).scalar() == 0


def test_cancel_and_roles(client: TestClient, keys: dict[str, str],
                          committed: Engine) -> None:
    planner = client.get("/jobs/" + "0" * 32, headers=auth(keys, "planner"))
    assert planner.status_code == 404
    exported = client.post("/export/sites", headers=auth(keys, "planner"))
    job_id = exported.json()["id"]
    other = client.get(f"/jobs/{job_id}", headers=auth(keys, "viewer"))
    assert (other.status_code, other.json()["error"]) == (403, "forbidden")
    assert client.get(f"/jobs/{job_id}", headers=auth(keys, "admin")).status_code == 200
    finished(client, auth(keys, "planner"), job_id)
    again = client.delete(f"/jobs/{job_id}", headers=auth(keys, "planner"))
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    queued = create_job(sessions, "import", {"layer": "sites"}, "test planner",
                        keys["planner"][:7], "planner")
    cancelled = client.delete(f"/jobs/{queued}", headers=auth(keys, "planner"))
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["cancel_requested"]) == (
        "cancelled", True)


def test_jobs_of_a_dead_process_fail_at_start_up(committed: Engine) -> None:
    with committed.begin() as conn:
        conn.execute(text(
            "INSERT INTO jobs (id, kind, state, actor, pid, host) VALUES "
            "('dead', 'import', 'running', 't', 999999999, :host), "
            "('elsewhere', 'import', 'running', 't', 999999999, 'another-host')"),
            {"host": socket.gethostname()})
    with TestClient(create_app(ApiSettings())):
        pass
    with committed.connect() as conn:
        rows = conn.execute(text("SELECT id, state, error->>'error' FROM jobs "
                                 "WHERE id IN ('dead', 'elsewhere') ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("dead", "failed", "interrupted"),
                                        ("elsewhere", "running", None)]


def test_validate_and_assign_jobs(client: TestClient, keys: dict[str, str],
                                  committed: Engine) -> None:
    planner = auth(keys, "planner")
    grids = client.post("/import/grids", headers={**planner, **ASYNC},
                        files={"file": ("grids.geojson", grids_body())})
    assert finished(client, planner, grids.json()["id"])["state"] == "succeeded"
    sent = client.post("/jobs/validate", params={"area": WEST_GRID}, headers=planner)
    assert sent.status_code == 202, sent.text
    job = finished(client, planner, sent.json()["id"])
    direct = client.get("/planning/validate", params={"area": WEST_GRID}, headers=planner)
    assert (job["state"], job["result"]) == ("succeeded", direct.json()), job["error"]
    missing = finished(client, planner, client.post(
        "/jobs/validate", params={"area": "999999"}, headers=planner).json()["id"])
    assert (missing["state"], missing["error"]["error"]) == ("failed", "not_found")
    refused = client.post("/jobs/assign", headers=auth(keys, "viewer"))
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    dispatcher = auth(keys, "dispatcher")
    assigned = client.post("/jobs/assign", params={"scope": "all"}, headers=dispatcher)
    done = finished(client, dispatcher, assigned.json()["id"])
    assert (done["state"], done["result"]["events"], done["rows_done"]) == ("succeeded", 0, 0)
