"""`gridlink events archive` / `restore` end to end on a database of their own: months go to
verified GeoParquet and their partitions are dropped, a run killed between writing and
dropping loses nothing, a re-run goes on, and a restore puts every row back as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.settings import ApiSettings
from cli.main import app
from geo.db import engine_for
from geo.settings import get_settings
from geo.stats import FIELDS
from tests.geo.migration_db import database_at
from tests.live_server import committed_keys

POINT = "ST_SetSRID(ST_MakePoint(113.301, 40.0808), 4326)"
REPORTED = {  # client id → reported at (UTC): March 2019 (in the default partition first),
    "old": "2019-03-10T02:00:00Z",  # August and September 2026, and one kept (October)
    "aug-1": "2026-08-03T01:00:00Z", "aug-2": "2026-08-31T15:00:00Z",
    "sep-1": "2026-08-31T17:00:00Z", "oct-1": "2026-10-02T09:00:00Z"}
KEPT = {  # what a restore must give back exactly, by table
    "events": "SELECT * FROM events ORDER BY id",
    "event_assignments": "SELECT * FROM event_assignments ORDER BY event_id",
    "event_transitions": "SELECT * FROM event_transitions ORDER BY id",
    "event_duplicates": "SELECT * FROM event_duplicates ORDER BY event_id",
    "event_camera_views": "SELECT * FROM event_camera_views ORDER BY id",
    "event_reassignments": "SELECT * FROM event_reassignments ORDER BY id",
    "event_client_ids": "SELECT * FROM event_client_ids ORDER BY client_id",
    "event_daily_counts": "SELECT * FROM event_daily_counts ORDER BY day, category, status"}
runner = CliRunner()


def _fill(conn: Connection) -> dict[str, int]:
    ids = {}
    for client_id, at in REPORTED.items():
        ids[client_id] = conn.execute(text(
            "INSERT INTO events (client_id, category, description, reported_at, status,"
            " priority, geom, handling_level, postponements, reworks, valid, due_at) VALUES"
            f" (:c, 'garbage', '占道经营', :at, 'reported', 'normal', {POINT}, 'grid', 0, 0,"
            " true, CAST(:at AS timestamptz) + interval '3 days') RETURNING id"),
            {"c": client_id, "at": at}).scalar_one()
        conn.execute(text("INSERT INTO event_transitions (event_id, to_status, actor, at)"
                          " VALUES (:i, 'reported', 'w1', :at)"), {"i": ids[client_id], "at": at})
    conn.execute(text(
        "INSERT INTO event_assignments (event_id, grid_code, dedicated_grid_codes, assignment,"
        " nearest_distance_m, camera_codes) VALUES (:a, '140213001001001', '{140213001901}',"
        " 'covered', 0, '{14021300081310000001,14021300081310000002}'), (:b, NULL, NULL,"
        " 'unassigned', 812.25, '{}')"), {"a": ids["aug-1"], "b": ids["sep-1"]})
    conn.execute(text("UPDATE events SET status = 'duplicate' WHERE client_id = 'aug-2'"))
    conn.execute(text("INSERT INTO event_duplicates (event_id, case_id, actor) VALUES (:d, :c,"
                      " 'disp')"), {"d": ids["aug-2"], "c": ids["aug-1"]})
    conn.execute(text("INSERT INTO event_camera_views (event_id, camera_code, actor) VALUES"
                      " (:a, '14021300081310000001', 'disp')"), {"a": ids["aug-1"]})
    conn.execute(text("INSERT INTO event_reassignments (event_id, from_grid_code, to_grid_code,"
                      " reason) VALUES (:s, NULL, '140213001001002', '边界')"),
                 {"s": ids["sep-1"]})
    return ids


@pytest.fixture
def archive_db(database_url: str, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "archive") as (url, engine):
        with engine.begin() as conn:
            _fill(conn)
        monkeypatch.setenv("GRIDLINK_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url, engine
        engine_for(url).dispose()
    get_settings.cache_clear()


def _kept(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(sql))] for t, sql in KEPT.items()}


def _partitions(engine: Engine) -> list[str]:
    """The partitions before October 2026, and the default one."""
    with engine.connect() as conn:
        names = conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"
                                  " WHERE inhparent = 'events'::regclass ORDER BY 1")).scalars()
        return [n for n in names if n < "events_2026_10" or n == "events_default"]


def test_archive_writes_verified_months_and_restore_gives_them_back(
        archive_db: tuple[str, Engine], tmp_path: Path) -> None:
    _, engine = archive_db
    before = _kept(engine)
    result = runner.invoke(app, ["events", "archive", "--before", "2026-10", "--to",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()[1:]] == [
        "events_2019_03", "events_2026_08", "events_2026_09"]
    assert _partitions(engine) == ["events_default"]
    after = _kept(engine)
    assert [r[1] for r in after["events"]] == ["oct-1"]
    assert [len(after[t]) for t in KEPT if t not in ("events", "event_daily_counts")] == [
        0, 1, 0, 0, 0, 1]
    assert after["event_daily_counts"] == before["event_daily_counts"]

    august = gpd.read_parquet(tmp_path / "events_2026_08.parquet")
    assert list(august["client_id"]) == ["aug-1", "aug-2"]
    assert august.crs.to_epsg() == 4326 and august.geometry.iloc[0].wkt == "POINT (113.301 40.0808)"
    assert list(august["camera_codes"].iloc[0]) == ["14021300081310000001",
                                                    "14021300081310000002"]
    assert json.loads(august["duplicate"].iloc[1])[0]["case_id"] == int(august["id"].iloc[0])
    geo = json.loads(pq.read_schema(tmp_path / "events_2026_08.parquet").metadata[b"geo"])
    assert geo["primary_column"] == "geom"
    manifest = json.loads((tmp_path / "events_2026_08.json").read_text())
    assert (manifest["rows"], manifest["partition"]) == (2, "events_2026_08")

    again = runner.invoke(app, ["events", "archive", "--before", "2026-10", "--to",
                                str(tmp_path)])
    assert again.exit_code == 0 and "no month before 2026-10 left" in again.output
    for name in ("events_2019_03", "events_2026_08", "events_2026_09"):
        restored = runner.invoke(app, ["events", "restore", str(tmp_path / f"{name}.parquet")])
        assert restored.exit_code == 0, restored.output
    assert _kept(engine) == before
    twice = runner.invoke(app, ["events", "restore", str(tmp_path / "events_2026_09.parquet")])
    assert twice.exit_code == 1 and "1 events of events_2026_09.parquet are in the database" \
        in twice.output


def test_archive_refuses_a_bad_or_current_month(archive_db: tuple[str, Engine]) -> None:
    bad = runner.invoke(app, ["events", "archive", "--before", "2026-9"])
    assert bad.exit_code == 1 and "before must be a month as YYYY-MM" in bad.output
    late = runner.invoke(app, ["events", "archive", "--before", "2099-01"])
    assert late.exit_code == 1
    assert "only past months can be archived" in " ".join(late.output.split())
    with archive_db[1].connect() as conn:  # nothing moved: every month still in the default
        assert conn.execute(text("SELECT count(*) FROM events_default")).scalar_one() == 5


def _lock_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()")).scalar_one())


def test_a_run_killed_between_write_and_drop_loses_nothing(
        archive_db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = archive_db
    made = runner.invoke(app, ["events", "partitions", "--ahead", "0"])
    assert made.exit_code == 0, made.output
    assert "events_2019_03, events_2026_08, events_2026_09" in " ".join(made.output.split())
    before = _kept(engine)
    command = [sys.executable, "-m", "cli.main", "events", "archive", "--before", "2026-09",
               "--to", str(tmp_path)]
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM events_2026_08"))  # holds ACCESS SHARE
        run = subprocess.Popen(command, env={**os.environ, "GRIDLINK_DATABASE_URL": url},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not ((tmp_path / "events_2026_08.parquet").exists() and _lock_waiters(engine)):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.05)
        run.kill()  # the file is written, the detach waits for the reader: kill it there
        run.wait()
        reader.rollback()
    while _lock_waiters(engine):  # the killed run's backend notices and rolls back
        time.sleep(0.05)
    kept = _kept(engine)
    assert [r[1] for r in kept["events"]] == ["aug-1", "aug-2", "sep-1", "oct-1"]
    assert _partitions(engine)[:2] == ["events_2026_08", "events_2026_09"]
    assert (tmp_path / "events_2019_03.parquet").exists()  # committed before the kill
    for table in ("event_assignments", "event_duplicates", "event_camera_views",
                  "event_reassignments", "event_daily_counts"):
        assert kept[table] == before[table], table
    assert len(kept["event_transitions"]) == len(kept["event_client_ids"]) == 4
    result = runner.invoke(app, ["events", "archive", "--before", "2026-09", "--to",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("events_2026_08: 2 events")
    assert _partitions(engine)[:1] == ["events_2026_09"]
    assert len(gpd.read_parquet(tmp_path / "events_2026_08.parquet")) == 2


def _august_stats(url: str) -> list[dict[str, object]]:
    """``GET /stats`` per grid for August 2026 (China Standard Time), the whole month."""
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        answer = client.get("/stats", params={
            "level": "grid", "since": "2026-08-01T00:00:00+08:00",
            "until": "2026-09-01T00:00:00+08:00"},
            headers={"X-API-Key": committed_keys(url)["viewer"]})
    assert answer.status_code == 200, answer.text
    return [{k: v for k, v in u.items() if k in FIELDS} for u in answer.json()["units"]]


def test_stats_of_a_month_archived_with_open_cases_stay_as_they_were(
        archive_db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = archive_db
    with engine.begin() as conn:  # aug-1: open, due 3 days after its report, postponed once
        conn.execute(text("UPDATE events SET postponements = 1 WHERE client_id = 'aug-1'"))
    before = _august_stats(url)
    assert [(u["unit"], u["accepted"], u["due"], u["closed"], u["postponed"],
             u["closure_rate"], u["postponement_rate"]) for u in before] == [
        ("140213001001001", 1, 1, 0, 1, 0.0, 1.0)]
    result = runner.invoke(app, ["events", "archive", "--before", "2026-09", "--to",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        kept = conn.execute(text(
            "SELECT event_id, grid_code, postponements FROM archived_open_cases"
            " ORDER BY event_id")).all()
        assert conn.execute(text("SELECT count(*) FROM events WHERE client_id LIKE 'aug%'")
                            ).scalar_one() == 0
    assert [(grid, postponed) for _, grid, postponed in kept] == [
        (None, 0), ("140213001001001", 1)]  # March 2019's open case, and aug-1
    assert _august_stats(url) == before

    restored = runner.invoke(app, ["events", "restore", str(tmp_path / "events_2026_08.parquet")])
    assert restored.exit_code == 0, restored.output
    assert _august_stats(url) == before  # counted from its event again, not twice
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM archived_open_cases")).scalar_one() == 1
