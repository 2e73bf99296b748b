"""A worker killed mid-upload leaves nothing behind once the service starts again."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.live_server import live_server


def test_killed_worker_temp_files_are_removed_at_next_start(tmp_path: Path) -> None:
    first = live_server(tmp_path, "gridlink_killed", max_upload_mb=50, max_body_mb=1)
    server = next(first)
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST /events/bulk HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
                     f"X-API-Key: {server.keys['dispatcher']}\r\nContent-Length: {40 << 20}\r\n"
                     "\r\n".encode() + b"client_id,lon,lat\n" + bytes(3 << 20))
        deadline = time.monotonic() + 10
        while not server.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        receiving = server.leftovers()
        os.kill(server.pid, signal.SIGKILL)  # mid-upload: no cleanup code runs
        time.sleep(0.5)
    assert [p.name for p in receiving] == ["events.csv"]
    assert receiving[0].exists()  # left behind by the killed worker
    first.close()

    second = live_server(tmp_path, "gridlink_restarted", max_upload_mb=50, max_body_mb=1)
    restarted = next(second)
    try:
        assert not (restarted.temp_dir / str(server.pid)).exists()
        assert restarted.leftovers() == []
    finally:
        second.close()
