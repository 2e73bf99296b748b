"""The read replica (``GRIDLINK_READ_DATABASE_URL``) against a real streaming standby.

A standby of the test cluster is made on this machine (``pg_basebackup -R``: standby.signal
and primary_conninfo) on a port of its own, and a uvicorn serves the small city with the
standby as its read database. The rule under test (api/standby.py): /locate, the map pages'
data and exports read from the standby; writes and GET /events/{id} from the primary; a
client that just wrote reads from the primary (cookie ``gridlink_wrote``) even while the
standby lags; a plain read may lag; a standby that is down leaves reads on the primary.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from cli.cluster import Cluster
from geo.db import libpq_url
from tests.conftest import TEST_HOME
from tests.e2e.city import INCIDENT
from tests.live_server import Live, committed_keys, free_port, live_database, serving


@dataclass(frozen=True)
class Replica:
    live: Live
    standby: Cluster
    standby_dsn: str

    def standby_sql(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.standby_dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def primary_sql(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.live.dsn(), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def connections(self, on: str, application_name: str) -> int:
        run = self.standby_sql if on == "standby" else self.primary_sql
        name = make_url(self.live.database_url).database
        rows = run("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                   " AND application_name = %s", name, application_name)
        return int(rows[0][0])  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def replica(database_url: str) -> Iterator[Replica]:
    primary = make_url(database_url)
    name = f"gridlink_standby_{os.getpid()}"
    with live_database(primary.set(database="postgres").render_as_string(
            hide_password=False), name) as url:
        keys = committed_keys(url)
        standby = Cluster(TEST_HOME / f"standby-{os.getpid()}", free_port(), dbname=name,
                          durable=False)
        standby.drop()
        standby.start_standby(primary.host or "127.0.0.1", primary.port or 5432)
        standby_url = make_url(url).set(port=standby.port).render_as_string(
            hide_password=False)
        try:
            _wait_for_replay(libpq_url(url), libpq_url(standby_url))
            with serving(url, keys, read_database_url=standby_url, read_retry_s="1",
                         read_your_writes_s="30") as live:
                yield Replica(live, standby, libpq_url(standby_url))
        finally:
            standby.drop()
            shutil.rmtree(standby.home, ignore_errors=True)


def _wait_for_replay(primary_dsn: str, standby_dsn: str, timeout_s: float = 30) -> None:
    """Until the standby has replayed everything the primary has written so far.

    The target is the primary's WAL *insert* position: the test cluster commits without
    waiting for the WAL writer (synchronous_commit off), so a commit record may not be
    written yet when the client has its answer (``pg_current_wal_lsn`` would miss it).
    """
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        target = conn.execute(  # type: ignore[index]
            "SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(standby_dsn, autocommit=True) as conn:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                    (target,)).fetchone()[0]  # type: ignore[index]
            if done:
                return
        except psycopg.OperationalError:
            pass  # still starting
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby did not replay up to {target} in {timeout_s} s")
        time.sleep(0.1)


def _wait_for_wal_write(primary_dsn: str, timeout_s: float = 10) -> None:
    """Until the primary has written the WAL it has inserted so far (its WAL writer runs every
    200 ms; the test cluster commits asynchronously). /health measures the standby's lag from
    the primary's *written* position, as a standby can only receive written WAL."""
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        target = conn.execute(  # type: ignore[index]
            "SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        deadline = time.monotonic() + timeout_s
        while not conn.execute("SELECT pg_current_wal_lsn() >= %s::pg_lsn",
                               (target,)).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise AssertionError(f"the primary did not write its WAL up to {target}")
            time.sleep(0.05)


def _client_ids(export: httpx.Response) -> set[str]:
    """The events of an export, by client id (the id of the events layer)."""
    assert export.status_code == 200, export.text
    return {str(f["id"]) for f in export.json()["features"]}


def test_reads_go_to_the_standby_and_writes_to_the_primary(replica: Replica) -> None:
    live = replica.live
    with httpx.Client(base_url=live.url, headers=live.headers("viewer")) as viewer:
        found = viewer.get("/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]})
        grids = viewer.get("/export/grids")
        pages = [viewer.get("/maps/coverage", params={"area": "140213001"}),
                 viewer.get("/maps/events", params={"area": "140213001"}),
                 viewer.get("/maps/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]}),
                 viewer.get("/maps", params={"q": "向阳"})]
    assert found.status_code == 200 and found.json()["grid"]["code"] == "140213001001001"
    assert grids.status_code == 200 and len(grids.json()["features"]) == 7
    assert [p.status_code for p in pages] == [200, 200, 200, 200]
    assert all("140213001001001" in p.text for p in pages)
    assert replica.connections("standby", "gridlink-locate-read") >= 1
    assert replica.connections("standby", "gridlink-read") >= 1
    assert replica.connections("primary", "gridlink-locate") == 0
    assert replica.connections("primary", "gridlink-read") == 0
    assert replica.standby_sql("SELECT pg_is_in_recovery()") == [(True,)]

    with httpx.Client(base_url=live.url, headers=live.headers("dispatcher")) as dispatcher:
        made = dispatcher.post("/events", json={"category": "light", "lon": INCIDENT[0],
                                                "lat": INCIDENT[1], "client_id": "standby-1"})
    assert made.status_code == 201, made.text
    assert made.cookies.get("gridlink_wrote") is not None
    event_id = made.json()["id"]
    assert replica.primary_sql("SELECT grid_code FROM events_with_assignment WHERE id = %s",
                               event_id) == [("140213001001001",)]


def test_a_client_reads_its_writes_while_the_standby_lags(replica: Replica) -> None:
    live = replica.live
    with httpx.Client(base_url=live.url, headers=live.headers("dispatcher")) as writer:
        first = writer.post("/events", json={"category": "light", "lon": INCIDENT[0],
                                             "lat": INCIDENT[1], "client_id": "before-lag"})
    assert first.status_code == 201, first.text
    _wait_for_replay(live.dsn(), replica.standby_dsn)  # a replayed commit dates the lag
    replica.standby_sql("SELECT pg_wal_replay_pause()")
    try:
        with httpx.Client(base_url=live.url, headers=live.headers("dispatcher")) as writer, \
                httpx.Client(base_url=live.url, headers=live.headers("viewer")) as other:
            made = writer.post("/events", json={"category": "light", "lon": INCIDENT[0],
                                                "lat": INCIDENT[1], "client_id": "lagging-1"})
            assert made.status_code == 201, made.text
            event_id = int(made.json()["id"])
            # the writer: GET /events/{id} is always the primary; its exports too (cookie)
            assert writer.get(f"/events/{event_id}").json()["id"] == event_id
            assert "lagging-1" in _client_ids(writer.get("/export/events"))
            # another client reads the paused standby: the new event is not there yet
            assert "lagging-1" not in _client_ids(other.get("/export/events"))
            _wait_for_wal_write(live.dsn())  # the lagging commit is on disk, not yet replayed
            health = httpx.get(f"{live.url}/health").json()["standby"]
            assert (health["status"], health["replay_paused"]) == ("ok", True)
            assert health["replay_lag_bytes"] > 0 and health["replay_lag_s"] > 0
    finally:
        replica.standby_sql("SELECT pg_wal_replay_resume()")
    _wait_for_replay(live.dsn(), replica.standby_dsn)
    with httpx.Client(base_url=live.url, headers=live.headers("viewer")) as other:
        assert "lagging-1" in _client_ids(other.get("/export/events"))
    health = httpx.get(f"{live.url}/health").json()["standby"]
    assert (health["replay_paused"], health["replay_lag_bytes"], health["replay_lag_s"]) == (
        False, 0, 0.0)


def test_reads_fall_back_to_the_primary_while_the_standby_is_down(replica: Replica) -> None:
    live = replica.live
    with httpx.Client(base_url=live.url, headers=live.headers("viewer")) as viewer:
        before = viewer.get("/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]}).json()
        replica.standby.stop()
        try:
            during = viewer.get("/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]})
            grids = viewer.get("/export/grids")
            health = httpx.get(f"{live.url}/health").json()["standby"]
            assert during.status_code == 200 and during.json() == before
            assert grids.status_code == 200 and len(grids.json()["features"]) == 7
            assert (health["status"], health["reads_from"]) == ("unreachable", "primary")
            assert replica.connections("primary", "gridlink-locate") >= 1
        finally:
            replica.standby.start_standby("127.0.0.1", 0)  # already a standby: just starts
        _wait_for_replay(live.dsn(), replica.standby_dsn)
        time.sleep(1.1)  # GRIDLINK_READ_RETRY_S=1: the standby is tried again
        assert viewer.get("/export/grids").status_code == 200
        assert viewer.get("/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]}
                          ).json() == before
    health = httpx.get(f"{live.url}/health").json()["standby"]
    assert (health["status"], health["reads_from"]) == ("ok", "standby")
