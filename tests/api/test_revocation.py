"""Revocation across processes: two uvicorn servers (separate processes) on one database.

Each process caches valid keys; a revocation committed through one server sends
``NOTIFY gridlink_keys`` and the other server refuses the key on its very next request.
The test first proves the other server *does* cache (a revocation written behind its back,
without the notification, is not seen), so the 401 afterwards is the notification's doing.

The revocation is committed before its answer; the other process hears the notification a
few milliseconds later, so the tests allow it up to 1 s before they call the key accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.keys import create_key
from tests.live_server import serving


@pytest.fixture(scope="module")
def two_servers(engine: Engine, database_url: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    with Session(engine) as s, s.begin():
        keys = {"admin": create_key(s, "rev admin", "admin"),
                "viewer": create_key(s, "rev viewer", "viewer"),
                "sly": create_key(s, "rev sly", "viewer"),
                "browser": create_key(s, "rev browser", "viewer")}
    try:
        with serving(database_url, keys) as first, serving(database_url, keys) as second:
            yield first.url, second.url, keys
    finally:
        with Session(engine) as s, s.begin():
            s.execute(text("DELETE FROM browser_sessions WHERE key_id IN "
                           "(SELECT id FROM api_keys WHERE name LIKE 'rev %')"))
            s.execute(text("DELETE FROM api_keys WHERE name LIKE 'rev %'"))


def _status_after_notice(get: Callable[[], httpx.Response]) -> httpx.Response:
    """The answer once the other process has had the notification: PostgreSQL delivers it
    at commit, the listener needs a moment (ms; up to 1 s allowed on a loaded machine)."""
    deadline = time.monotonic() + 1.0
    while True:
        answer = get()
        if answer.status_code == 401 or time.monotonic() > deadline:
            return answer
        time.sleep(0.01)


def _wait_revoked(engine: Engine, prefix: str) -> None:
    deadline = time.monotonic() + 5
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(text("SELECT bool_and(revoked_at IS NOT NULL) FROM api_keys "
                                 "WHERE prefix = :p"), {"p": prefix}).scalar():
                return
            conn.rollback()
            time.sleep(0.005)
    raise AssertionError(f"key {prefix} was not revoked")


def test_revoked_key_stops_at_once_on_the_other_process(
        two_servers: tuple[str, str, dict[str, str]], engine: Engine) -> None:
    first, second, keys = two_servers
    sly = {"X-API-Key": keys["sly"]}
    assert httpx.get(f"{second}/events", headers=sly).status_code == 200  # cached there
    with engine.begin() as conn:  # behind the API's back: no notification
        conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE name = 'rev sly'"))
    assert httpx.get(f"{second}/events", headers=sly).status_code == 200, (
        "the second server does not cache keys: this test would prove nothing")

    viewer = {"X-API-Key": keys["viewer"]}
    for base in (first, second):
        assert httpx.get(f"{base}/events", headers=viewer).status_code == 200
    revoked = httpx.delete(f"{first}/admin/keys/{keys['viewer'][:7]}",
                           headers={"X-API-Key": keys["admin"]})
    assert revoked.json() == {"revoked": 1}
    _wait_revoked(engine, keys["viewer"][:7])
    answer = _status_after_notice(lambda: httpx.get(f"{second}/events", headers=viewer))
    assert answer.status_code == 401
    assert answer.json()["message"] == "the API key is unknown or revoked"
    # the notification emptied the whole cache of that process, the sly key included
    assert httpx.get(f"{second}/events", headers=sly).status_code == 401


def test_revoking_a_key_ends_its_browser_sessions_everywhere(
        two_servers: tuple[str, str, dict[str, str]], engine: Engine) -> None:
    first, second, keys = two_servers
    with httpx.Client(base_url=second) as browser:
        signed_in = browser.post("/login", data={"key": keys["browser"]})
        assert signed_in.status_code == 303
        assert browser.get("/events").status_code == 200
        httpx.delete(f"{first}/admin/keys/{keys['browser'][:7]}",
                     headers={"X-API-Key": keys["admin"]})
        _wait_revoked(engine, keys["browser"][:7])
        assert _status_after_notice(lambda: browser.get("/events")).status_code == 401
