"""The gridlink CLI against the test database."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from cli.main import app
from geo.db import transaction
from geo.keys import hash_key
from geo.models import ApiKey


def test_keys_create_prints_a_key_stored_only_as_hash(database_url: str, engine: Engine) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--role", "planner", "--name", "li"])
    assert result.exit_code == 0, result.output
    plain = result.output.strip()
    assert plain.startswith("gl_")
    with transaction(engine) as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
        assert key is not None and key.role == "planner" and key.name == "li"
        assert plain not in str(session.execute(text("SELECT * FROM api_keys")).all())
        session.delete(key)


def test_keys_create_refuses_unknown_role(database_url: str) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--role", "boss"])
    assert result.exit_code == 1
    assert "unknown role 'boss'" in result.output


def test_db_migrate_is_idempotent(database_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "migrate"]).exit_code == 0
    assert runner.invoke(app, ["db", "migrate"]).exit_code == 0


def test_serve_runs_several_worker_processes(database_url: str) -> None:
    """`gridlink serve --workers 2` on a free port: two server processes start, /locate
    answers (each process opens its own pool), and stopping the server stops both."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "GRIDLINK_DATABASE_URL": database_url, "GRIDLINK_PUBLIC_READ": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.2)
        answers = [httpx.get(f"{base}/locate", params={"lon": 113.301, "lat": 40.0808},
                             timeout=10) for _ in range(8)]
        assert {r.status_code for r in answers} == {200}
        assert answers[0].json()["assignment"] in ("covered", "snapped", "unassigned")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert output.count("Started server process") == 2, output


def test_audit_lists_what_the_command_line_did(database_url: str, engine: Engine) -> None:
    runner = CliRunner()
    plain = runner.invoke(app, ["keys", "create", "--role", "viewer", "--name", "审计"]
                          ).output.strip()
    revoked = runner.invoke(app, ["keys", "revoke", plain[:7]])
    assert revoked.exit_code == 0, revoked.output
    result = runner.invoke(app, ["audit", "--entity", "api_key", "--id", plain[:7], "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    user = getpass.getuser()
    assert [(r["action"], r["actor"], r["route"], r["after"]) for r in rows] == [
        ("revoke", f"cli:{user}", "cli keys revoke", {"revoked": 1}),
        ("create", f"cli:{user}", "cli keys create",
         {"name": "审计", "role": "viewer", "worker_code": None, "area_code": None})]
    table = runner.invoke(app, ["audit", "--id", plain[:7]])
    assert "2 of 2 audit rows" in table.output
