"""The API's assign job on a city's first assignment (api.routers.jobs, geo.assignment_index):
the grid-code index is off during the job and built after its commit, which the job's
result reports."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.assignment_index import GRID_CODE_INDEX
from geo.importer.pending_indexes import pending
from geo.keys import create_key
from geo.rollup_refresh import pending_refreshes
from tests.api.test_jobs import finished
from tests.geo.test_assignment_index import (
    ROLLUP_SECONDARY,
    _in_g1,
    _index,
    _rollup_indexes,
    city,
)

__all__ = ["city"]  # the fixture, used by name


def _refreshed(engine: Engine) -> None:
    """Wait (at most 60 s) until no rollup refresh is pending."""
    for _ in range(600):
        with Session(engine) as session:
            if not pending_refreshes(session):
                return
        time.sleep(0.1)
    raise AssertionError("the rollups are still pending refresh")


def test_the_job_builds_the_index_after_its_commit(city: tuple[str, Engine],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, engine = city
    before, rollup_indexes = _index(engine), _rollup_indexes(engine)
    with Session(engine) as session, session.begin():
        key = create_key(session, "assign job", "dispatcher")
    headers = {"X-API-Key": key}
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        sent = client.post("/jobs/assign", params={"scope": "all"}, headers=headers)
        assert sent.status_code == 202, sent.text
        job = finished(client, headers, sent.json()["id"])
        _refreshed(engine)  # the job's thread refreshes the rollups after the job ends
    assert job["state"] == "succeeded", job["error"]
    assert (job["result"]["changed"], job["result"]["committed"],
            sorted(job["result"]["indexes_built"]), job["result"]["indexes_pending"]) == (
        8, True, sorted([GRID_CODE_INDEX, *ROLLUP_SECONDARY]), [])
    assert _index(engine) == before and _in_g1(engine) == 6
    assert _rollup_indexes(engine) == rollup_indexes
    with engine.connect() as conn:
        assert pending(conn) == []


def test_a_cancelled_job_brings_the_index_back(city: tuple[str, Engine]) -> None:
    """The job is held on the grids (another transaction locks them) once the index is off;
    cancelled then, its transaction rolls back and the index is built again at once."""
    url, engine = city
    before = _index(engine)
    with Session(engine) as session, session.begin():
        key = create_key(session, "assign job", "dispatcher")
    headers = {"X-API-Key": key}
    with TestClient(create_app(ApiSettings(database_url=url))) as client, \
            engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE grids IN ACCESS EXCLUSIVE MODE"))
        sent = client.post("/jobs/assign", params={"scope": "all"}, headers=headers)
        assert sent.status_code == 202, sent.text
        job_id = sent.json()["id"]
        _index_off(engine)
        cancel = client.delete(f"/jobs/{job_id}", headers=headers)
        assert cancel.status_code == 200 and cancel.json()["cancel_requested"], cancel.text
        blocker.rollback()
        job = finished(client, headers, job_id)
    assert job["state"] == "cancelled"
    assert _index(engine) == before
    with engine.connect() as conn:
        assert pending(conn) == []
        assert conn.execute(text("SELECT count(*) FROM event_assignments")).scalar_one() == 0


def _index_off(engine: Engine) -> None:
    """Wait (at most 30 s) until the job has dropped the index, recorded pending."""
    for _ in range(300):
        with engine.connect() as conn:
            if _index(engine) is None and pending(conn) == [GRID_CODE_INDEX]:
                return
        time.sleep(0.1)
    raise AssertionError("the job never took the index off")
