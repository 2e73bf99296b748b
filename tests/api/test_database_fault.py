"""The database crashes under write load and comes back (issue #12, the fault test).

A throwaway PostgreSQL cluster of its own (initdb in a temporary directory, its own port,
PostgreSQL's durable defaults; the shared test cluster is never stopped) serves a real
uvicorn process. Clients post events and ask /locate and /health while the server is
stopped with ``pg_ctl stop -m immediate`` (a crash) and started again. Afterwards every
event that was acknowledged with a 2xx is in the database, every answer while it was away
was 503 with Retry-After (never 500), and the API answered 2xx again without a restart.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine

from cli.cluster import Cluster
from geo.schema import upgrade
from tests.e2e.city import INCIDENT, seed_small_city
from tests.live_server import Live, committed_keys, free_port, serving


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path / "state", free_port(), dbname="gridlink")
    cluster.start()
    try:
        upgrade(cluster.url)
        engine = create_engine(cluster.url)
        with engine.begin() as conn:
            seed_small_city(conn)
        engine.dispose()
        yield cluster
    finally:
        cluster.drop()


@dataclass
class Record:
    """What the clients saw: (client_id, status, sent at, answered at) of every event posted
    (monotonic seconds), the statuses of the other requests, the last error body."""

    posted: list[tuple[str, int, float, float]] = field(default_factory=list)
    last_error: str = ""
    others: list[int] = field(default_factory=list)
    missing_retry_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> set[str]:
        return {cid for cid, status, _, _ in self.posted if 200 <= status < 300}


def _client(live: Live, number: int, record: Record, stop: threading.Event) -> None:
    """Post events (and every fifth time ask /locate, /health) until ``stop``."""
    ids = (f"crash-{number}-{i}" for i in itertools.count())
    with httpx.Client(base_url=live.url, timeout=30) as http:
        while not stop.is_set():
            cid = next(ids)
            sent = time.monotonic()
            answer = http.post("/events", headers=live.headers("worker"), json={
                "client_id": cid, "category": "garbage", "lon": INCIDENT[0],
                "lat": INCIDENT[1]})
            extra = [http.get("/locate", params={"lon": INCIDENT[0], "lat": INCIDENT[1]},
                              headers=live.headers("viewer")),
                     http.get("/health")] if number == 0 else []
            with record.lock:
                record.posted.append((cid, answer.status_code, sent, time.monotonic()))
                if answer.status_code >= 300:
                    record.last_error = answer.text
                record.others.extend(r.status_code for r in extra)
                record.missing_retry_after += sum(
                    1 for r in [answer, *extra]
                    if r.status_code == 503 and r.headers.get("retry-after") != "5")
            if answer.status_code == 503:
                time.sleep(0.05)


ROUTES = [("GET", "/health", None), ("GET", "/events", "viewer"),
          ("GET", "/events/1", "viewer"), ("GET", "/stats", "viewer"),
          ("GET", "/locate?lon=113.3025&lat=40.0868", "viewer"),
          ("GET", "/export/grids", "viewer"), ("GET", "/maps/grids", "viewer"),
          ("GET", "/planning/changesets", "viewer"), ("GET", "/alarms/stream", "dispatcher"),
          ("POST", "/events/1/actions", "dispatcher"), ("POST", "/alarms", "worker"),
          ("GET", "/admin/keys", None)]
"""A route of each kind (reads, writes, the stream, a map, an export); None = no key."""


def _sweep(live: Live) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(status, Retry-After) of each of :data:`ROUTES` (the database being down)."""
    bodies = {"/events/1/actions": {"action": "dispatch"},
              "/alarms": {"lon": INCIDENT[0], "lat": INCIDENT[1]}}
    seen = {}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for method, path, role in ROUTES:
            headers = live.headers(role) if role else {}
            if path == "/admin/keys":
                headers = {"X-API-Key": "gl_not_a_key_at_all"}
            answer = http.request(method, path, headers=headers, json=bodies.get(path))
            seen[(method, path)] = (answer.status_code, answer.headers.get("retry-after"))
    return seen


def _wait_for_success(record: Record, after: int, timeout_s: float) -> float:
    """The time (monotonic s) of the first 2xx answer among the posts after index ``after``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        with record.lock:
            answered = [at for _, s, _, at in record.posted[after:] if 200 <= s < 300]
        if answered:
            return min(answered)
        time.sleep(0.05)
    raise AssertionError(f"no 2xx within {timeout_s} s after the database came back")


def _wait_for_acknowledged(record: Record, count: int, timeout_s: float) -> None:
    """Wait until ``count`` posts were acknowledged (a loaded machine answers fewer a
    second: a fixed sleep made the crash come after too few acknowledged writes)."""
    began = time.monotonic()
    while True:
        with record.lock:
            if len(record.acknowledged()) >= count:
                return
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"fewer than {count} posts acknowledged in {timeout_s} s")
        time.sleep(0.05)


def test_acknowledged_events_survive_a_crash_and_the_api_recovers(
        throwaway: Cluster) -> None:
    record, stop = Record(), threading.Event()
    with serving(throwaway.url, committed_keys(throwaway.url), db_pool_timeout_s="2") as live:
        clients = [threading.Thread(target=_client, args=(live, n, record, stop))
                   for n in range(6)]
        for thread in clients:
            thread.start()
        try:
            _wait_for_acknowledged(record, 20, timeout_s=60)
            throwaway.stop(mode="immediate")
            away = _sweep(live)
            time.sleep(1.0)
            with record.lock:
                during = len(record.posted)
            throwaway.start()
            back = time.monotonic()
            recovered = _wait_for_success(record, during, timeout_s=30)
            recovery_s = recovered - back
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=60)
    assert away == {(method, path): (503, "5") for method, path, _ in ROUTES}
    statuses = {status for _, status, _, _ in record.posted} | set(record.others)
    assert statuses <= {200, 201, 503}, statuses
    assert 503 in {status for _, status, _, _ in record.posted[:during]}
    assert record.missing_retry_after == 0
    assert recovery_s < 10
    acknowledged = record.acknowledged()
    with psycopg.connect(f"host=127.0.0.1 port={throwaway.port} user=postgres "
                         "dbname=gridlink") as conn:
        stored = {row[0] for row in conn.execute(
            "SELECT client_id FROM events WHERE client_id LIKE %s", ("crash-%",))}
    print(f"posted {len(record.posted)}, acknowledged {len(acknowledged)}, 503 "
          f"{sum(1 for _, s, _, _ in record.posted if s == 503)}, recovered in "
          f"{recovery_s:.2f} s")
    assert len(acknowledged) > 20
    assert acknowledged - stored == set()
    after = [s for _, s, sent, _ in record.posted if sent > recovered]
    assert len(after) >= 5 and set(after) == {201}, record.last_error
