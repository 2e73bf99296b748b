"""The planner page opens without validating; its problems come from ``/planning/validate``,
computed once per layer revision (api/validation_cache.py) and again after a committed write.

Committed data (a database of its own, the small city of tests/e2e/city.py): the cache keys
on counters that move at commit, so a test transaction that is rolled back cannot show it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from api.validation_cache import VALIDATIONS
from geo.planning.validate import validate_area
from tests.live_server import committed_keys, live_database

STREET = "140213001"
GRID_004 = "140213001001004"


@pytest.fixture(scope="module")
def committed(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_vcache_{os.getpid()}") as url:
        yield url, committed_keys(url)


def problems_now(url: str, area: str) -> dict[str, Any]:
    """The problems validation finds now, computed afresh (no cache)."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return validate_area(session, area).to_geojson()
    finally:
        engine.dispose()


def gaps(collection: dict[str, Any]) -> list[tuple[str, str, float]]:
    return sorted((f["properties"]["kind"], f["properties"]["parent_code"],
                   round(f["properties"]["area_m2"])) for f in collection["features"])


def test_planner_sees_every_problem_loaded_after_the_page(
        committed: tuple[str, dict[str, str]]) -> None:
    url, keys = committed
    head = {"X-API-Key": keys["viewer"]}
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        computed = VALIDATIONS.computed
        page = client.get(f"/maps/grids?area={STREET}&tiles=true", headers=head)
        assert page.status_code == 200, page.text
        assert VALIDATIONS.computed == computed  # the tiled page validates nothing
        problems_url = re.findall(r'fetch\("([^"]+)"', page.text)
        assert problems_url == [f"/planning/validate?area={STREET}&format=geojson"]

        first = client.get(problems_url[0], headers=head)
        assert first.status_code == 200, first.text
        assert first.json() == problems_now(url, STREET)  # every problem, as validation says
        assert gaps(first.json()) == [("gap", "140213001001", 71032)]
        assert VALIDATIONS.computed == computed + 1
        again = client.get(problems_url[0], headers=head).json()
        plain = client.get(f"/maps/grids?area={STREET}", headers=head)  # households from it
        assert again == first.json() and plain.status_code == 200
        assert VALIDATIONS.computed == computed + 1  # both from the cache


def test_a_committed_write_makes_the_next_validation_fresh(
        committed: tuple[str, dict[str, str]]) -> None:
    url, keys = committed
    head = {"X-API-Key": keys["viewer"]}
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        path = f"/planning/validate?area={STREET}&format=geojson"
        before = client.get(path, headers=head).json()
        computed = VALIDATIONS.computed
        engine = create_engine(url)
        with engine.begin() as conn:  # grid 004 loses its south half: the gap grows
            conn.execute(text(
                "UPDATE grids SET geom = ST_Multi(ST_Intersection(geom, ST_MakeEnvelope("
                "113.305, 40.0825, 113.31, 40.085, 4326))) WHERE code = :c AND valid_to IS NULL"),
                {"c": GRID_004})
        engine.dispose()
        after = client.get(path, headers=head).json()
        assert VALIDATIONS.computed == computed + 1
        assert after == problems_now(url, STREET) and after != before
        assert client.get(path, headers=head).json() == after
        assert VALIDATIONS.computed == computed + 1
