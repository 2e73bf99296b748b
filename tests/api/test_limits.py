"""Bounded memory (#12 item 3) seen from a client of the real server (uvicorn, own process).

Every route that takes a body gets 1 GiB sent chunked (no Content-Length, generated lazily:
one 1 MiB buffer sent again and again), with and without a key: 401 before the body is
read, 413 once the limit is passed. The server's peak memory stays under 500 MB and its
temporary directory ends empty. Zip bombs are refused in well under a second.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute

from api.app import PUBLIC_PATHS, create_app
from api.openapi import api_routes
from tests.live_server import ORPHAN_PID, LiveServer, live_server
from tests.zip_bomb import write_zip_bomb

GIB = 1 << 30
CHUNK = bytes(1 << 20)
UPLOAD_MB = 4.0
BODY_MB = 1.0
FILE_PART = (b'--gridlinkboundary\r\nContent-Disposition: form-data; name="file"; '
             b'filename="grids.geojson"\r\nContent-Type: application/geo+json\r\n\r\n')
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
EXAMPLE_PATH_VALUES = {"layer": "grids", "changeset_id": "1", "event_id": "1", "task_id": "1",
                       "category": "market", "grid": "140213001001001",
                       "prefix": "gl_nothing", "job_id": "0" * 32,
                       "code": "14021300081320000001"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory.mktemp("limits"), "gridlink_limits", UPLOAD_MB,
                           BODY_MB)


def body_routes() -> list[tuple[str, str, str]]:
    """(method, path, content type) of every route that may take a body, from app.routes."""
    found = []
    for route in api_routes(create_app().routes):
        for method in sorted(route.methods - READ_METHODS):
            found.append((method, route.path.format(**EXAMPLE_PATH_VALUES),
                          _content_type(route)))
    return found


def _content_type(route: APIRoute) -> str:
    if route.path in ("/import/{layer}", "/planning/import-draft", "/cameras/presets"):
        return "multipart/form-data; boundary=gridlinkboundary"
    if route.path in ("/login", "/logout"):
        return "application/x-www-form-urlencoded"
    return "application/json"


def chunked_gigabyte(url: str, method: str, path: str, headers: dict[str, str],
                     timeout_s: float = 30.0) -> tuple[int, dict[str, object], int]:
    """Send up to 1 GiB chunked, stopping as soon as the server answers.

    Returns (status, JSON body, bytes sent). The body is never built: the same 1 MiB of
    zeros is sent as each chunk.
    """
    host, port = urlsplit(url).hostname, urlsplit(url).port
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
               f"{head}\r\n").encode()
    frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
    sent = 0
    if headers.get("Content-Type", "").startswith("multipart/"):  # a file part, then zeros
        request += f"{len(FILE_PART):x}\r\n".encode() + FILE_PART + b"\r\n"
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + timeout_s
        pending = memoryview(frame)
        while sent < GIB and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break
            if writable:
                try:
                    pending = pending[sock.send(pending):]
                except (BrokenPipeError, ConnectionResetError):
                    break
                if not pending:
                    sent += len(CHUNK)
                    pending = memoryview(frame)
        return (*_read_response(sock), sent)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    raw = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        raw += data
        header, _, body = raw.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in header.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")]
        if length and len(body) >= length[0]:
            break
    header, _, body = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ")[1])
    return status, json.loads(body) if body.startswith(b"{") else {}


def test_every_body_route_is_found() -> None:
    paths = {path for _, path, _ in body_routes()}
    assert {"/events", "/events/bulk", "/alarms", "/import/grids", "/planning/import-draft",
            "/admin/keys", "/login", "/planning/changesets/1/reshape"} <= paths
    # + PUT /stats/deductions, .../handover, 4 patrol writes, reassign, merge, camera-views,
    # PUT /cameras/{code}/presets, POST /cameras/presets
    assert len(body_routes()) == 39


@pytest.mark.parametrize(("method", "path", "kind"),
                         [r for r in body_routes() if r[1] not in PUBLIC_PATHS])
def test_gigabyte_without_a_key_is_401_before_the_body(
        server: LiveServer, method: str, path: str, kind: str) -> None:
    started = time.monotonic()
    status, body, sent = chunked_gigabyte(server.url, method, path, {"Content-Type": kind})
    assert (status, body["error"]) == (401, "auth_required")
    assert time.monotonic() - started < 5
    assert sent < 64 * len(CHUNK)  # answered at once; only socket buffers went out
    assert server.leftovers() == []


@pytest.mark.parametrize(("method", "path", "kind"), body_routes())
def test_gigabyte_with_a_key_is_413(server: LiveServer, method: str, path: str,
                                    kind: str) -> None:
    started = time.monotonic()
    status, body, sent = chunked_gigabyte(
        server.url, method, path, {"Content-Type": kind, "X-API-Key": server.keys["admin"]})
    if path == "/logout" or method == "DELETE" or path.startswith("/export/") or path.endswith(
            ("/publish", "/undo", "/generate", "/jobs/assign", "/jobs/validate")):
        assert status < 500  # answered without reading a body (it takes none)
    else:
        setting, megabytes = (("GRIDLINK_MAX_UPLOAD_MB", UPLOAD_MB) if kind.startswith(
            "multipart") else ("GRIDLINK_MAX_BODY_MB", BODY_MB))
        assert (status, body["error"]) == (413, "too_large"), body
        received = body["details"][0]["received_bytes"]  # type: ignore[index]
        assert body["details"] == [{"limit_bytes": int(megabytes * 2**20),
                                    "received_bytes": received, "setting": setting}]
        assert megabytes * 2**20 < received <= megabytes * 2**20 + len(FILE_PART) + 2**20
        assert f"{setting}={megabytes:g}" in str(body["message"])
    assert time.monotonic() - started < 10
    assert sent < GIB
    assert server.leftovers() == []


def test_memory_stayed_bounded(server: LiveServer) -> None:
    """Run after the gigabyte tests (file order): the server never held a body."""
    assert server.peak_rss_mb() < 500


def test_orphaned_temp_directory_was_removed_at_start(server: LiveServer) -> None:
    assert not (server.temp_dir / ORPHAN_PID).exists()
    assert [p.name for p in server.temp_dir.iterdir()] == [str(server.pid)]


@pytest.mark.parametrize(("path", "data"), [
    ("/import/grids", {}), ("/planning/import-draft", {"area_code": "140213001001"})])
def test_zip_bomb_is_refused_at_once(server: LiveServer, tmp_path: Path, path: str,
                                     data: dict[str, str]) -> None:
    bomb = write_zip_bomb(tmp_path / "grids.zip").read_bytes()
    started = time.monotonic()
    response = httpx.post(f"{server.url}{path}", data=data,
                          files={"file": ("grids.zip", bomb, "application/zip")},
                          headers={"X-API-Key": server.keys["planner"]}, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert response.json()["details"] == [{"file": "grids.zip", "member": "grids.geojson",
                                           "ratio": 1028, "limit": 200.0}]
    assert elapsed < 1.0
    assert server.leftovers() == []


@pytest.mark.parametrize(("path", "kind"), [
    ("/import/grids", "multipart/form-data; boundary=gridlinkboundary"),
    ("/planning/import-draft", "multipart/form-data; boundary=gridlinkboundary"),
    ("/events/bulk", "text/csv")])
def test_client_gone_mid_upload_leaves_nothing(server: LiveServer, path: str,
                                               kind: str) -> None:
    """3 MiB sent (under the limit), then the connection dropped: the temporary files of
    the half-received upload are removed."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        first = FILE_PART if kind.startswith("multipart") else b"client_id,lon,lat\n"
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\n"
                     f"X-API-Key: {server.keys['admin']}\r\nTransfer-Encoding: chunked\r\n"
                     f"\r\n{len(first):x}\r\n".encode() + first + b"\r\n")
        for _ in range(3):
            sock.sendall(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n")
        time.sleep(0.5)
        receiving = [p.name for p in server.leftovers()]
    # multipart parts spool to anonymous (already unlinked) files; a bulk body is streamed
    # to a named file in a temporary directory
    assert receiving == (["events.csv"] if path == "/events/bulk" else [])
    deadline = time.monotonic() + 5
    while server.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.leftovers() == []
