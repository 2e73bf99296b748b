"""The API's assign job on a city's first assignment (api.routers.jobs, geo.assignment_index):
the grid-code index is off during the job and built after its commit, which the job's
result reports."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.assignment_index import GRID_CODE_INDEX
from geo.importer.pending_indexes import pending
from geo.keys import create_key
from geo.rollup_refresh import pending_refreshes
from tests.api.test_jobs import finished
from tests.geo.test_assignment_index import _in_g1, _index, city

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
    before = _index(engine)
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
            job["result"]["indexes_built"], job["result"]["indexes_pending"]) == (
        8, True, [GRID_CODE_INDEX], [])
    assert _index(engine) == before and _in_g1(engine) == 6
    with engine.connect() as conn:
        assert pending(conn) == []
