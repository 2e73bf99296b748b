"""A database of its own for a migration test: created on the test server, migrated to the
revision the test starts from, dropped afterwards (the test database stays at head)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from cli.cluster import fresh_database
from geo.schema import upgrade
from tests.conftest import _drop_database


@contextmanager
def database_at(database_url: str, label: str, revision: str = "head"
                ) -> Iterator[tuple[str, Engine]]:
    """(URL, engine) of a fresh database ``gridlink_migration_<label>_<pid>`` on the server of
    ``database_url``, upgraded to ``revision`` (None: head); dropped afterwards."""
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    url = fresh_database(server, f"gridlink_migration_{label}_{os.getpid()}")
    upgrade(url, revision)
    engine = create_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        _drop_database(url)
