"""The real service over a real socket: uvicorn in its own process, on its own database.

Used by the tests that must see the server as a client does (request bodies of 1 GB, the
server's memory and temporary directory, Schemathesis). The database is a fresh one, not the
test database: what these clients write is committed and must not leak into other tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from cli.cluster import fresh_database
from geo.keys import create_key
from geo.schema import upgrade
from tests.conftest import _drop_database, _server_url

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keys(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        made = {role: create_key(session, f"live {role}", role)
                for role in ("admin", "planner", "dispatcher", "viewer")}
        made["worker"] = create_key(session, "live worker", "worker", worker_code="W001")
    engine.dispose()
    return made


def live_server(base: Path, name: str, max_upload_mb: float,
                max_body_mb: float) -> Iterator[LiveServer]:
    """Serve the app on a free port over a fresh database ``name``; stopped and dropped
    afterwards. A directory of a dead process is planted in the temporary folder first,
    to show that start-up removes it."""
    url = fresh_database(_server_url(), name)
    upgrade(url)
    keys = _keys(url)
    temp_dir = base / "scratch"
    (temp_dir / ORPHAN_PID).mkdir(parents=True, exist_ok=True)
    (temp_dir / ORPHAN_PID / "half-upload.zip").write_bytes(b"PK")
    port = _free_port()
    env = {**os.environ, "GRIDLINK_DATABASE_URL": url, "GRIDLINK_TEMP_DIR": str(temp_dir),
           "GRIDLINK_MAX_UPLOAD_MB": str(max_upload_mb), "GRIDLINK_MAX_BODY_MB": str(max_body_mb),
           "GRIDLINK_PUBLIC_READ": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield LiveServer(f"http://127.0.0.1:{port}", url, process.pid, temp_dir, keys)
    finally:
        process.terminate()
        process.wait(timeout=20)
        _drop_database(url)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "uvicorn exited at start-up"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("uvicorn did not answer /health within 60 s")
