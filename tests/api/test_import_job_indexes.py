"""A first load of events as a job over HTTP (POST /import/events, streamed): the job keeps
its committed result, then builds the indexes left for after the commit and says which and
when (``indexes_built``, ``indexes_done_at``); afterwards every index of ``events`` is there
and valid. Runs on a database of its own: the job commits for real."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import geopandas as gpd
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.importer import import_file
from geo.keys import create_key
from tests.geo.importer_files import two_grids_geojson
from tests.geo.migration_db import database_at
from tests.geo.test_import_indexes import SECONDARY

ROWS = 10_001
"""One more than a batch: the file streams, so the import runs as a job."""


def _events_file(tmp: Path) -> Path:
    path = tmp / "events.gpkg"
    gpd.GeoDataFrame(
        {"client_id": [f"JOB{i:05d}" for i in range(ROWS)], "category": ["garbage"] * ROWS,
         "reported_at": ["2024-03-01T08:00:00+08:00"] * ROWS},
        geometry=[Point(113.301 + (i % 100) * 0.00005, 40.085) for i in range(ROWS)],
        crs=4326).to_file(path, driver="GPKG")
    return path


def _finished(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    for _ in range(1200):
        job = client.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']}")


def test_first_load_job_builds_indexes_after_commit(database_url: str,
                                                    tmp_path: Path) -> None:
    with database_at(database_url, "job_indexes") as (url, engine):
        with Session(engine) as session, session.begin():
            import_file(session, "grids", two_grids_geojson(tmp_path))
            key = create_key(session, "job indexes test", "dispatcher")
            expected = dict(session.execute(text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'events'::regclass")).all())
        headers = {"X-API-Key": key, "Prefer": "respond-async"}
        with TestClient(create_app(ApiSettings(database_url=url))) as client:
            with open(_events_file(tmp_path), "rb") as fh:
                sent = client.post("/import/events", headers=headers,
                                   files={"file": ("events.gpkg", fh.read())})
            assert sent.status_code == 202, sent.text
            job = _finished(client, headers, sent.json()["id"])
        result = job["result"]
        assert (job["state"], result["inserted"], result["committed"]) == (
            "succeeded", ROWS, True)
        assert set(result["indexes_built"]) == SECONDARY  # a small load: all after the commit
        assert result["indexes_pending"] == []
        assert result["indexes_done_at"].endswith("+00:00")
        with Session(engine) as session:
            assert dict(session.execute(text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'events'::regclass AND indisvalid")).all()) == expected
            assert session.scalar(text("SELECT count(*) FROM events")) == ROWS
