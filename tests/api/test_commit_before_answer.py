"""2xx means durable, over HTTP against a real uvicorn process (issue #12, items 1 and 2).

The server (fixture ``live``, tests/api/conftest.py) runs on a database of its own with the
small map city committed, and with a lock timeout of 1 s so the lock-wait test is quick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.conftest import LOCK_TIMEOUT_MS
from tests.e2e.city import INCIDENT
from tests.live_server import Live, serving


def _event(client_id: str, lon: float = INCIDENT[0], lat: float = INCIDENT[1]
           ) -> dict[str, Any]:
    return {"client_id": client_id, "category": "garbage", "lon": lon, "lat": lat}


def _rows(live: Live, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(live.dsn()) as conn:
        return conn.execute(sql, args).fetchall()


def test_every_acknowledged_write_is_readable_at_once(live: Live) -> None:
    """240 POST /events from 8 concurrent clients, each followed at once by GET /events/{id}
    on another connection: every 201 is readable (the commit came before the answer)."""

    def post_then_read(worker: int) -> list[str]:
        misses = []
        with (httpx.Client(base_url=live.url, timeout=30) as http,
              httpx.Client(base_url=live.url, timeout=30) as other):
            for i in range(worker, 240, 8):
                posted = http.post("/events", json=_event(f"wtr-{i}"),
                                   headers=live.headers("worker"))
                assert posted.status_code == 201, posted.text
                read = other.get(f"/events/{posted.json()['id']}",
                                 headers=live.headers("viewer"))
                if read.status_code != 200:
                    misses.append(f"wtr-{i}: {read.status_code}")
        return misses

    with ThreadPoolExecutor(8) as pool:
        misses = [m for found in pool.map(post_then_read, range(8)) for m in found]
    assert misses == []
    assert _rows(live, "SELECT count(*) FROM events WHERE client_id LIKE %s", "wtr-%") == [(240,)]


def test_action_then_next_action_sees_it(live: Live) -> None:
    """dispatch answered 200 → the following start finds the event dispatched (no 409)."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for i in range(20):
            event = http.post("/events", json=_event(f"act-{i}"), headers=live.headers("worker"))
            path = f"/events/{event.json()['id']}/actions"
            dispatched = http.post(path, json={"action": "dispatch"},
                                   headers=live.headers("dispatcher"))
            started = http.post(path, json={"action": "start"},
                                headers=live.headers("dispatcher"))
            assert (dispatched.status_code, started.status_code) == (200, 200), started.text
            assert started.json()["status"] == "in_progress"


@pytest.mark.parametrize("round_", range(5))
def test_one_client_id_posted_eight_times_at_once(live: Live, round_: int) -> None:
    """8 concurrent POST /events with one client_id: one row and 8 identical answers (201,
    the same event); the 7 that found it stored carry Idempotent-Replayed: true."""
    client_id = f"same-{round_}"
    start = threading.Barrier(8)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            start.wait()
            return http.post("/events", json=_event(client_id), headers=live.headers("worker"))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert [a.status_code for a in answers] == [201] * 8
    bodies = [a.json() for a in answers]
    assert all(body == bodies[0] for body in bodies)
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == (
        [""] + ["true"] * 7)
    assert _rows(live, "SELECT id FROM events WHERE client_id = %s", client_id) == [
        (bodies[0]["id"],)]
    health = httpx.get(f"{live.url}/health", timeout=5)
    assert health.status_code == 200


def test_lock_wait_ends_in_409_within_the_lock_timeout(live: Live) -> None:
    """A row held by another transaction: the action answers 409 after lock_timeout (1 s),
    naming the lock; meanwhile the event loop keeps serving /health; nothing was written."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        event_id = http.post("/events", json=_event("locked-1"),
                             headers=live.headers("worker")).json()["id"]
        with psycopg.connect(live.dsn()) as holder:
            holder.execute("SELECT id FROM events WHERE id = %s FOR UPDATE", (event_id,))
            result: dict[str, Any] = {}

            def dispatch() -> None:
                began = time.monotonic()
                with httpx.Client(base_url=live.url, timeout=30) as other:
                    result["answer"] = other.post(f"/events/{event_id}/actions",
                                                  json={"action": "dispatch"},
                                                  headers=live.headers("dispatcher"))
                result["seconds"] = time.monotonic() - began

            waiting = threading.Thread(target=dispatch)
            waiting.start()
            time.sleep(0.2)
            began = time.monotonic()
            assert http.get("/health").status_code == 200
            health_s = time.monotonic() - began
            waiting.join(timeout=30)
            holder.rollback()
        answer = result["answer"]
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "conflict"
        assert "locked by another request" in answer.json()["message"]
        assert answer.json()["details"][0]["sqlstate"] == "55P03"
        assert LOCK_TIMEOUT_MS / 1000 <= result["seconds"] < LOCK_TIMEOUT_MS / 1000 + 2
        assert health_s < 0.5
        after = http.get(f"/events/{event_id}", headers=live.headers("viewer")).json()
        assert after["status"] == "reported" and after["transitions"][-1]["to_status"] == (
            "reported")


def test_alarm_streams_share_one_listen_connection(live: Live) -> None:
    """20 open /alarms/stream answers hold one PostgreSQL connection; each gets the alarm."""
    headers = live.headers("dispatcher")
    with httpx.Client(base_url=live.url, timeout=30) as http, ExitStack() as open_streams:
        streams = [open_streams.enter_context(http.stream("GET", "/alarms/stream",
                                                          headers=headers))
                   for _ in range(20)]
        lines = [s.iter_lines() for s in streams]
        assert all(next(it).startswith(":") for it in lines)
        listeners = _rows(live, "SELECT count(*) FROM pg_stat_activity WHERE"
                          " application_name = %s", "gridlink-alarms")
        assert listeners == [(1,)]
        posted = http.post("/alarms", json={"lon": INCIDENT[0], "lat": INCIDENT[1]},
                           headers=live.headers("worker"))
        assert posted.status_code == 201, posted.text
        ids = {_next_alarm_id(it) for it in lines}
        assert ids == {posted.json()["event"]["id"]}


def _next_alarm_id(lines: Iterator[str]) -> int:
    for line in lines:
        if line.startswith("id:"):
            return int(line.partition(":")[2])
    raise AssertionError("the stream ended without an alarm")


def test_no_free_session_is_a_503_not_a_hang(live: Live) -> None:
    """One session per process (GRIDLINK_DB_POOL_SIZE=1), held by a request waiting on a
    locked row: another request waits GRIDLINK_DB_POOL_TIMEOUT_S (0.5 s), then gets 503 +
    Retry-After; once the lock is released the first request completes normally."""
    with serving(live.database_url, live.keys, db_pool_size="1", db_pool_timeout_s="0.5",
                 db_lock_timeout_ms="5000") as small, httpx.Client(
                     base_url=small.url, timeout=30) as http:
        event_id = http.post("/events", json=_event("busy-1"),
                             headers=small.headers("worker")).json()["id"]
        with psycopg.connect(small.dsn()) as holder:
            holder.execute("SELECT id FROM events WHERE id = %s FOR UPDATE", (event_id,))
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(http.post, f"/events/{event_id}/actions",
                                      json={"action": "dispatch"},
                                      headers=small.headers("dispatcher"))
                time.sleep(0.5)
                began = time.monotonic()
                busy = httpx.get(f"{small.url}/events/{event_id}", timeout=30,
                                 headers=small.headers("viewer"))
                busy_s = time.monotonic() - began
                holder.rollback()
                dispatched = waiting.result(timeout=30)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["details"] == [{"reason": "sessions_busy"}]
    assert 0.5 <= busy_s < 2.5
    assert dispatched.status_code == 200 and dispatched.json()["status"] == "dispatched"
