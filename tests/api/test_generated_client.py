"""A client generated from the OpenAPI compiles and talks to the real server.

``openapi-python-client`` turns the app's ``/openapi.json`` into a Python package in a
temporary folder; the test compiles it, imports it and calls /health, /locate and
``POST /events`` (and reads the event back) against uvicorn over a database of its own
(tests/live_server.py), checking the answers the client parsed into its own classes.
"""

from __future__ import annotations

import compileall
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.city import INCIDENT
from tests.live_server import Live, committed_keys, live_database, serving

PACKAGE = "gridlink_generated_client"
GENERATOR = Path(__file__).resolve().parents[2] / ".gridlink" / "tools" / "bin" / \
    "openapi-python-client"
"""The generator lives in a virtualenv of its own (``scripts/bootstrap.sh --test``): its pins
(httpx < 0.29, typer < 0.28) must not move the project's own versions."""
INCIDENT_GRID = "140213001001001"


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[Live]:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_client_{os.getpid()}") as url:
        with serving(url, committed_keys(url)) as running:
            yield running


@pytest.fixture(scope="module")
def generated(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated package's folder (on ``sys.path`` while the module's tests run)."""
    folder = tmp_path_factory.mktemp("client")
    spec = folder / "openapi.json"
    spec.write_bytes(httpx.get(f"{live.url}/openapi.json", timeout=30).content)
    assert GENERATOR.exists(), f"{GENERATOR} is missing: run scripts/bootstrap.sh --test"
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec),
         "--meta", "none", "--output-path", str(folder / PACKAGE)],
        capture_output=True, text=True, timeout=300, cwd=folder)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(folder))
    try:
        yield folder / PACKAGE
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_every_generated_module_compiles_and_imports(generated: Path) -> None:
    assert compileall.compile_dir(generated, quiet=1, force=True)
    modules = sorted(".".join(p.relative_to(generated).with_suffix("").parts)
                     for p in (generated / "api").rglob("*.py") if p.stem != "__init__")
    for name in modules:
        _module(name)
    assert {"api.dispatch.post_event_events_post", "api.dispatch.get_locate_locate_get",
            "api.planning.go_live_planning_changesets_changeset_id_publish_post"} <= set(
        modules)
    assert len(modules) > 80


def test_health_parses_into_its_model(generated: Path, live: Live) -> None:
    client = _module("client").Client(base_url=live.url)
    health = _module("api.admin.health_health_get").sync(client=client)
    assert isinstance(health, _module("models").Health)
    assert health.status == "ok"
    assert health.database.postgis.startswith("3.")
    assert health.standby is None


def test_locate_finds_the_incident_grid(generated: Path, live: Live) -> None:
    client = _module("client").AuthenticatedClient(
        base_url=live.url, token=live.keys["viewer"], prefix="", auth_header_name="X-API-Key")
    where = _module("api.dispatch.get_locate_locate_get").sync(
        client=client, lon=INCIDENT[0], lat=INCIDENT[1])
    assert isinstance(where, _module("models").LocateResult)
    assert (where.grid.code, where.lon, where.lat) == (INCIDENT_GRID, *INCIDENT)
    assert where.snapped is False


def test_an_event_posted_through_the_client_reads_back(generated: Path, live: Live) -> None:
    models = _module("models")
    client = _module("client").AuthenticatedClient(
        base_url=live.url, token=live.keys["dispatcher"], prefix="",
        auth_header_name="X-API-Key")
    body = models.EventIn(category="垃圾 (garbage)", lon=INCIDENT[0], lat=INCIDENT[1],
                          client_id="generated-client-1")
    answer = _module("api.dispatch.post_event_events_post").sync_detailed(client=client,
                                                                          body=body)
    assert answer.status_code == 201
    event = answer.parsed
    assert isinstance(event, models.Event)
    assert (event.category, event.status, event.lon, event.lat) == (
        "垃圾 (garbage)", "reported", *INCIDENT)
    assert event["grid_code"] == INCIDENT_GRID  # a field the model passes through
    detail = _module("api.dispatch.get_one_events_event_id_get").sync(client=client,
                                                                      event_id=event.id)
    assert isinstance(detail, models.EventDetail)
    assert (detail.id, detail["client_id"], detail.duplicate_of) == (
        event.id, "generated-client-1", None)
    refused = _module("api.dispatch.post_event_events_post").sync_detailed(
        client=client, body=models.EventIn(category="", lon=INCIDENT[0], lat=INCIDENT[1]))
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.ErrorBody)
    assert [d["field"] for d in refused.parsed.details] == ["category"]
