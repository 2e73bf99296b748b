"""Schemathesis against the real server: every operation but the endless alarm stream.

The server is uvicorn in its own process over a database of its own (tests/live_server.py),
called with an admin key. Bounded examples per operation keep the run near a minute on two
cores. The checks: no 5xx, every status documented in the OpenAPI, every body and content
type as documented.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from tests.e2e.city import draft_moving_edge, seed_small_city
from tests.live_server import LiveServer, live_server

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server(tmp_path_factory.mktemp("schemathesis"), "gridlink_schemathesis",
                           max_upload_mb=4, max_body_mb=1)


def seeded_parameters(server: LiveServer) -> dict[str, object]:
    """Seed the server's database with the small city and a draft; the values Schemathesis
    should use for ids and codes, so that requests reach past the 404s."""
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        seed_small_city(conn)
        event_id = conn.execute(text("SELECT min(id) FROM events")).scalar_one()
    with Session(engine) as session, session.begin():
        changeset_id = draft_moving_edge(session)
    engine.dispose()
    return {"path.changeset_id": changeset_id, "path.event_id": event_id,
            "path.layer": "grids", "path.code": "140213001001001",
            "query.area": "140213001001", "body.area_code": "140213001001"}


def config_file(folder: Path, parameters: dict[str, object]) -> Path:
    lines = ["[parameters]", *(f'"{k}" = {json.dumps(v)}' for k, v in parameters.items())]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_schemathesis_finds_nothing(server: LiveServer, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file",
         str(config_file(tmp_path, seeded_parameters(server))), "run",
         f"{server.url}/openapi.json",
         "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", "12",
         "--phases", "examples,coverage,fuzzing", "--workers", "1",
         "--exclude-path", "/alarms/stream", "--max-redirects", "0",
         "--header", f"X-API-Key: {server.keys['admin']}", "--request-timeout", "30",
         "--suppress-health-check", "all", "--no-color",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache goes there
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-20000:]
    assert generated[1] == generated[2], output[-20000:]
    assert int(generated[1]) > 1000
