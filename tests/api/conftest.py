"""Fixtures of the API tests that need a real server process (tests/live_server.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.live_server import Live, committed_keys, live_database, serving

LOCK_TIMEOUT_MS = 1000
"""The live server's ``GRIDLINK_DB_LOCK_TIMEOUT_MS``: short, so lock-wait tests are quick."""


@pytest.fixture(scope="session")
def live(database_url: str) -> Iterator[Live]:
    """uvicorn serving a database of its own (small city committed), for this session."""
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_live_{os.getpid()}") as url:
        with serving(url, committed_keys(url),
                     db_lock_timeout_ms=str(LOCK_TIMEOUT_MS)) as running:
            yield running
