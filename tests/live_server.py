"""The real service over a real socket: uvicorn in its own process, on a database of its own.

The one way tests start a server process (durability, concurrency, revocation across
processes, request limits, Schemathesis). :func:`serving` starts ``uvicorn
api.app:create_app --factory`` as a subprocess on a free 127.0.0.1 port against a given
database (``GRIDLINK_DATABASE_URL``), waits until it accepts connections, and stops it
afterwards. :func:`live_database` makes a database of its own on a server (migrated, with
the small map city of tests/e2e/city.py committed), so what the server commits never meets
the rolled-back tests; :func:`live_server` serves an empty one with chosen body limits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cli.cluster import fresh_database
from geo.db import libpq_url
from geo.keys import create_key
from geo.schema import upgrade
from tests.e2e.city import seed_small_city

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Live:
    """A running server: its base URL, its database (SQLAlchemy URL) and one key per role."""

    url: str
    database_url: str
    keys: dict[str, str]
    pid: int = 0

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def dsn(self) -> str:
        return libpq_url(self.database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def committed_keys(database_url: str) -> dict[str, str]:
    """One committed API key per role the tests use (a worker bound to grid worker W-LIVE)."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            return {"worker": create_key(session, "live worker", "worker",
                                         worker_code="W-LIVE"),
                    "dispatcher": create_key(session, "live dispatcher", "dispatcher"),
                    "viewer": create_key(session, "live viewer", "viewer")}
    finally:
        engine.dispose()


@contextmanager
def live_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database ``name`` with the small city committed; dropped after."""
    url = fresh_database(server_url, name)
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        seed_small_city(conn)
    engine.dispose()
    try:
        yield url
    finally:
        dsn = libpq_url(make_url(url).set(database="postgres").render_as_string(
            hide_password=False))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # name from code


@contextmanager
def serving(database_url: str, keys: dict[str, str], workers: int = 1,
            **settings: str) -> Iterator[Live]:
    """uvicorn (``workers`` processes) serving the app on ``database_url``; ``settings`` are
    extra ``GRIDLINK_*`` variables (e.g. ``db_lock_timeout_ms="800"``)."""
    port = free_port()
    env = {**os.environ, "GRIDLINK_DATABASE_URL": database_url,
           **{f"GRIDLINK_{name.upper()}": value for name, value in settings.items()}}
    log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        _wait_for_port(port, process, log)
        yield Live(f"http://127.0.0.1:{port}", database_url, keys, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: IO[bytes],
                   timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise RuntimeError(f"uvicorn exited with {process.returncode}: {err[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"uvicorn did not listen on port {port} within {timeout_s} s")


ORPHAN_PID = "999999999"
"""A temporary directory left by a process that cannot exist (pids stop far below)."""


@dataclass(frozen=True)
class LiveServer:
    url: str
    database_url: str
    pid: int
    temp_dir: Path
    keys: dict[str, str]

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory (VmHWM), MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(s for s in status.splitlines() if s.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def leftovers(self) -> list[Path]:
        """Files in the server's temporary directories (any process's)."""
        return [p for p in self.temp_dir.rglob("*") if p.is_file()]


def _all_role_keys(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        made = {role: create_key(session, f"live {role}", role)
                for role in ("admin", "planner", "dispatcher", "viewer")}
        made["worker"] = create_key(session, "live worker", "worker", worker_code="W001")
    engine.dispose()
    return made


def live_server(base: Path, name: str, max_upload_mb: float,
                max_body_mb: float) -> Iterator[LiveServer]:
    """Serve the app over a fresh, empty database ``name`` with the given body limits;
    stopped and dropped afterwards. A directory of a dead process is planted in the
    temporary folder first, to show that start-up removes it."""
    from tests.conftest import _drop_database, _server_url

    url = fresh_database(_server_url(), name)
    upgrade(url)
    keys = _all_role_keys(url)
    temp_dir = base / "scratch"
    (temp_dir / ORPHAN_PID).mkdir(parents=True, exist_ok=True)
    (temp_dir / ORPHAN_PID / "half-upload.zip").write_bytes(b"PK")
    try:
        with serving(url, keys, temp_dir=str(temp_dir), max_upload_mb=str(max_upload_mb),
                     max_body_mb=str(max_body_mb), public_read="false") as live:
            yield LiveServer(live.url, url, live.pid, temp_dir, keys)
    finally:
        _drop_database(url)
